"""Import jobs on real course_data nodes: a big import keeps its master, a killed master's job fails."""

from __future__ import annotations

import secrets
from typing import Any

import httpx
import pytest

from ops.bench.imports import courses_csv
from ops.localcluster import LocalCluster, wait_for
from ops.tokens import signing_key
from tests.api.login_kit import forge
from tests.cluster.conftest import MakeCluster

pytestmark = pytest.mark.cluster
COURSES = 10_000  # the import that cost the master its lease before it ran as a job


def admin_of(cluster: LocalCluster) -> dict[str, str]:
    signed = forge(signing_key(cluster.config), sub="1", name="registrar", role="admin", sid=secrets.token_hex(8))
    return {"Authorization": f"Bearer {signed}"}


def submit(cluster: LocalCluster, node_id: str, admin: dict[str, str]) -> str:
    """POST the file, then go away: the client keeps only the job's path."""
    with httpx.Client(timeout=60) as client:
        answer = client.post(
            cluster.url(node_id) + "/courses/import",
            content=courses_csv(COURSES),
            headers={**admin, "content-type": "text/csv"},
        )
    assert answer.status_code == 202, answer.text
    return str(answer.headers["location"])


def job(cluster: LocalCluster, node_id: str, path: str, admin: dict[str, str]) -> dict[str, Any]:
    body: dict[str, Any] = httpx.get(cluster.url(node_id) + path, headers=admin, timeout=10).json()
    return body


def test_the_master_keeps_its_lease_through_a_10000_course_import(make_cluster: MakeCluster) -> None:
    cluster = make_cluster({"login": 1, "course_data": 2}).start_serving("login", "course_data")
    admin = admin_of(cluster)
    before = cluster.master("course_data", "login-1")
    assert before is not None
    master, epoch = before
    other = "course_data-2" if master == "course_data-1" else "course_data-1"
    path = submit(cluster, other, admin)  # through the slave, which forwards it to the master
    epochs = {epoch}

    def finished() -> dict[str, Any] | None:
        seen = cluster.master("course_data", "login-1")
        epochs.add(seen[1] if seen else -1)
        found = job(cluster, other, path, admin)
        return found if found["status"] in ("succeeded", "failed") else None

    done = wait_for(finished, 300, "the import job to finish", interval=0.2)
    assert done["status"] == "succeeded", done
    assert done["result"]["created"] == COURSES
    assert epochs == {epoch}  # no new master epoch while it ran
    assert cluster.master("course_data", "login-1") == before
    total = httpx.get(cluster.url(other) + "/courses?page_size=1", headers=admin, timeout=10).json()["total"]
    assert total == COURSES


def test_a_job_whose_master_dies_is_marked_failed_by_the_next_and_wrote_nothing(make_cluster: MakeCluster) -> None:
    cluster = make_cluster({"login": 1, "course_data": 2}).start_serving("login", "course_data")
    admin = admin_of(cluster)
    before = cluster.master("course_data", "login-1")
    assert before is not None
    master, epoch = before
    other = "course_data-2" if master == "course_data-1" else "course_data-1"
    path = submit(cluster, master, admin)
    wait_for(lambda: job(cluster, other, path, admin)["status"] == "running", 60, "the job running")
    cluster.kill(master)
    wait_for(lambda: (cluster.master("course_data", "login-1") or ("", 0))[0] == other, 60, "the other node as master")
    failed = wait_for(
        lambda: (found := job(cluster, other, path, admin))["status"] == "failed" and found, 60, "the job failed"
    )
    assert failed["detail"].startswith("interrupted")
    assert cluster.master("course_data", "login-1")[1] > epoch  # type: ignore[index]
    total = httpx.get(cluster.url(other) + "/courses?page_size=1", headers=admin, timeout=10).json()["total"]
    assert total == 0
