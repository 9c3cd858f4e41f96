"""A rush of section groups among single courses, on real processes through two queue nodes:
groups and singles into the same lecture are decided in one order, first come first served,
never oversold, every request final, every accepted group held whole, no lab without its
lecture; and the student service sends its groups through the queue as it sends single courses."""

from __future__ import annotations

import asyncio
import random
import secrets
import time
from typing import Any

import httpx
import pytest

from ops.localcluster import LocalCluster, wait_for
from ops.rush import Prepared, counters, report, submit_all
from ops.tokens import issue, signing_key
from tests.cluster.conftest import MakeCluster
from tests.cluster.test_registrar import token

pytestmark = pytest.mark.cluster

LECTURE_SEATS, LAB_SEATS, GROUPS, SWAPPERS = 8, 5, 30, 6


def sections(cluster: LocalCluster, admin: dict[str, str]) -> dict[str, int]:
    """One offering: lectures L01 (few seats) and L02, labs B01 (linked to L01), B02 and B03."""
    course_data = cluster.url("course_data-1")
    now = time.time()
    windows = {"windows": [{"opens_at": now - 60, "closes_at": now + 3600, "drop_deadline": now + 7200}]}
    assert httpx.put(f"{course_data}/windows", json=windows, headers=admin).status_code == 200
    made: dict[str, int] = {}
    for weekday, (name, kind, seats, linked) in enumerate(
        [
            ("L01", "lecture", LECTURE_SEATS, None),
            ("L02", "lecture", SWAPPERS + 1, None),
            ("B01", "lab", LAB_SEATS, "L01"),
            ("B02", "lab", LAB_SEATS, None),
            ("B03", "lab", SWAPPERS + 1, None),
        ]
    ):
        body: dict[str, Any] = {
            "code": "RUSH1",
            "section": name,
            "kind": kind,
            "title": "Rushed",
            "credits": 3,
            "capacity": seats,
            "linked_to": made[linked] if linked else None,
            "meetings": [{"weekday": weekday, "start": "09:00", "end": "10:00"}],
        }
        answer = httpx.post(f"{course_data}/courses", json=body, headers=admin)
        assert answer.status_code == 201, answer.text
        made[name] = int(answer.json()["id"])
    return made


def test_a_rush_of_section_groups_and_singles_through_two_queue_nodes(make_cluster: MakeCluster) -> None:
    cluster = make_cluster({"login": 1, "course_data": 1, "queue": 2, "student": 1})
    cluster.start_serving("login", "course_data", "queue")
    admin, superuser = token(cluster, 1, "admin"), token(cluster, 2, "super_admin")
    rules = {"queue": {"enabled": True, "student_rate_limit": "1000 per minute", "batch_size": 8}}  # many batches
    assert httpx.patch(f"{cluster.url('login-1')}/settings", json=rules, headers=superuser).status_code == 200
    s = sections(cluster, admin)
    key, chooser = signing_key(cluster.config), random.Random(15)
    queues = [cluster.url("queue-1"), cluster.url("queue-2")]
    assert cluster.redis is not None
    redis_url = cluster.redis.url

    def student(n: int) -> tuple[int, str]:
        return 200_000 + n, issue(key, 200_000 + n, "student", minutes=30)

    # Before the rush, the swappers hold L02 + B03 (from the ledger directly: the checker reads
    # every queued request as still holding what it was given, and these are swapped away).
    held = [Prepared(*student(n), secrets.token_hex(8), s["L02"]) for n in range(SWAPPERS)]
    for p in held:
        group = {"student_id": p.student_id, "section_ids": [s["L02"], s["B03"]], "actor": "test"}
        internal = {"X-Internal-Token": cluster.tokens.mint()}
        taken = httpx.post(f"{cluster.url('course_data-1')}/internal/ledger/group", json=group, headers=internal)
        assert (taken.status_code, taken.json()["outcome"]) == (200, "accepted"), taken.text

    # The rush: groups into L01 with B01 or B02, and the swappers' single swaps L02 -> L01, shuffled.
    rush = [
        Prepared(
            *student(SWAPPERS + n), secrets.token_hex(8), s["L01"], (s["L01"], chooser.choice([s["B01"], s["B02"]]))
        )
        for n in range(GROUPS)
    ]
    rush += [Prepared(p.student_id, p.token, secrets.token_hex(8), s["L01"], (), s["L02"]) for p in held]
    chooser.shuffle(rush)
    told = asyncio.run(submit_all(queues, rush, concurrency=12))
    assert len(told.taken) == len(rush)  # a group is never refused at once: every request is queued
    wait_for(lambda: (c := counters(redis_url))[0] == c[1] == len(rush), 60, "the rush decided")
    found = report(redis_url, cluster.config.database_url("course_data"), told)
    assert found["checks"] == dict.fromkeys(found["checks"], 0), found["checks"]
    assert "sections_held_in_part" in found["checks"]

    mine = {p.key: p for p in rush}
    statuses: dict[str, list[str]] = {"group": [], "swap": []}
    for p_key, request_id in told.taken.items():
        p = mine[p_key]
        view = httpx.get(f"{queues[0]}/queue/requests/{request_id}", headers={"Authorization": f"Bearer {p.token}"})
        assert view.status_code == 200, view.text
        statuses["group" if p.section_ids else "swap"].append(view.json()["status"])
        if p.section_ids:
            assert view.json()["section_ids"] == list(p.section_ids)
    accepted = statuses["group"].count("accepted") + statuses["swap"].count("accepted")
    assert accepted == LECTURE_SEATS  # L01 is wanted far past its seats: every seat taken, none twice
    assert set(statuses["group"]) <= {"accepted", "waitlisted"}  # a group with a full section waits
    assert statuses["group"].count("accepted") <= 2 * LAB_SEATS

    # The student service sends a group through the queue when single courses go through it.
    me = token(cluster, 300_001, "student")
    taken = httpx.post(
        f"{cluster.url('student-1')}/student/enrollments",
        json={"section_ids": [s["L02"], s["B03"]]},
        headers=me,
        timeout=60,
    )
    assert taken.status_code == 201, taken.text
    assert (taken.json()["outcome"], taken.json()["section_ids"]) == ("accepted", [s["L02"], s["B03"]])
    listed = httpx.get(f"{queues[1]}/queue/requests", headers=me).json()["items"]
    assert [(r["status"], r["section_ids"]) for r in listed] == [("accepted", [s["L02"], s["B03"]])]
