"""A node started with another cluster secret says so, in /ready, /cluster/status and its log."""

from __future__ import annotations

import secrets

import httpx
import pytest

from cluster.internal_auth import HEADER, InternalTokens
from tests.cluster.conftest import MakeCluster
from tests.support import wait_until

pytestmark = pytest.mark.cluster


def test_a_node_with_another_secret_reports_the_mismatch_and_the_others_are_unaffected(
    make_cluster: MakeCluster,
) -> None:
    cluster = make_cluster({"course_data": 3})
    cluster.start("course_data-1", "course_data-2")
    cluster.wait_ready("course_data-1", "course_data-2")

    wrong = secrets.token_urlsafe(32)
    cluster.env["CS_SECRET_CLUSTER"] = wrong  # this node only: the two above keep theirs
    cluster.start("course_data-3")
    url = cluster.url("course_data-3")

    def why_not_ready() -> str | None:
        response = httpx.get(url + "/ready", timeout=2)
        assert response.status_code == 503, response.text
        reason = response.json()["checks"]["raft"]
        return reason if "the cluster secret differs" in reason else None

    reason = str(wait_until(why_not_ready, 60, "course_data-3's /ready naming the secret mismatch"))
    assert "course_data-1" in reason, reason
    assert "course_data-2" in reason, reason
    assert "CS_SECRET_CLUSTER" in reason

    own = InternalTokens(wrong, "test")  # the node's own status answers its own secret's tokens
    status = httpx.get(url + "/cluster/status", headers={HEADER: own.mint()}, timeout=2).json()
    assert status["peer_auth"]["secret_refused_by"] == ["course_data-1", "course_data-2"]

    def warned() -> list[str]:
        return [line for line in cluster.log_text("course_data-3").splitlines() if "cluster secret differs" in line]

    wait_until(lambda: len(warned()) >= 2, 30, "a warning per refusing peer")
    lines = warned()
    assert all("CS_SECRET_CLUSTER" in line for line in lines)
    assert sorted("course_data-1's" in line for line in lines) == [False, True], lines

    # logged once per peer, not once per probe: the probes go on and add no line
    def probes() -> int:
        body = httpx.get(url + "/cluster/status", headers={HEADER: own.mint()}, timeout=2).json()
        return int(body["peer_auth"]["probes"])

    seen = probes()
    wait_until(lambda: probes() >= seen + 3, 30, "three more probes")
    assert len(warned()) == 2

    for good in ("course_data-1", "course_data-2"):  # the others serve on, and never probed
        assert cluster.ready(good)
        assert cluster.status(good)["peer_auth"]["secret_refused_by"] == []
        assert "cluster secret differs" not in cluster.log_text(good)
    assert cluster.write_check("course_data-1").status_code == 200
