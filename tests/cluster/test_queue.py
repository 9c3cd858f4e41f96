"""The queue on real processes: admission, idempotency, results, cancel, stats, the student path."""

from __future__ import annotations

import itertools
import secrets
import time

import httpx
import pytest

from ops.localcluster import LocalCluster, wait_for
from tests.cluster.conftest import MakeCluster
from tests.cluster.test_registrar import open_registration, token

pytestmark = pytest.mark.cluster


def started(cluster: LocalCluster) -> LocalCluster:
    return cluster.start_serving("login", "course_data", "queue")


def submit(queue: str, who: dict[str, str], key: str, **body: object) -> httpx.Response:
    return httpx.post(f"{queue}/queue/requests", json=body, headers={**who, "Idempotency-Key": key})


def test_admission_results_cancel_and_stats(make_cluster: MakeCluster) -> None:
    cluster = started(make_cluster({"login": 1, "course_data": 1, "queue": 1, "student": 1}))
    admin = token(cluster, 1, "admin")
    course = open_registration(cluster, admin, capacity=1)
    queue = cluster.url("queue-1")
    ann, ben = token(cluster, 501, "student"), token(cluster, 502, "student")

    first = submit(queue, ann, "k-1", action="enroll", course_id=course)
    assert first.status_code == 202, first.text
    request_id = first.json()["queue_request_id"]
    again = submit(queue, ann, "k-1", action="enroll", course_id=course)
    assert (again.status_code, again.json()["queue_request_id"], again.json()["new"]) == (202, request_id, False)
    outcome = httpx.get(f"{queue}/queue/requests/{request_id}?wait=10", headers=ann, timeout=20).json()
    assert (outcome["status"], outcome["course_id"]) == ("accepted", course)
    assert httpx.get(f"{queue}/queue/requests/{request_id}", headers=ben).status_code == 404  # not yours
    assert httpx.delete(f"{queue}/queue/requests/{request_id}", headers=ann).status_code == 409  # decided

    second = submit(queue, ben, "k-1", action="enroll", course_id=course).json()  # same key, another student
    assert second["queue_request_id"] != request_id
    waited = httpx.get(f"{queue}/queue/requests/{second['queue_request_id']}?wait=10", headers=ben, timeout=20).json()
    assert (waited["status"], waited["waitlist_position"]) == ("waitlisted", 1)
    clash = submit(queue, ann, "k-2", action="enroll", course_id=course).json()
    refused = httpx.get(f"{queue}/queue/requests/{clash['queue_request_id']}?wait=10", headers=ann, timeout=20).json()
    assert (refused["status"], refused["type"]) == ("rejected", "already-enrolled")

    assert submit(queue, ann, "", action="enroll", course_id=course).status_code == 422  # no key
    bad = submit(queue, ann, "k-3", action="elope", course_id=0)
    assert bad.status_code == 422
    assert {e["field"] for e in bad.json()["errors"]} == {"action", "course_id"}
    assert submit(queue, admin, "k-4", action="enroll", course_id=course).status_code == 403

    stats = httpx.get(f"{queue}/queue/stats", headers=admin).json()
    assert (stats["admitted"], stats["decided"], stats["depth"]) == (3, 3, 0)
    assert stats["consumer"]["role"] in ("idle", "deciding")
    assert httpx.get(f"{queue}/queue/stats", headers=ann).status_code == 403
    assert "queue_depth 0.0" in httpx.get(f"{queue}/metrics").text

    # registration closes: admission refuses at once (the windows are cached for a moment)
    shut = {
        "windows": [{"opens_at": time.time() - 60, "closes_at": time.time() - 30, "drop_deadline": time.time() + 60}]
    }
    assert httpx.put(f"{cluster.url('course_data-1')}/windows", json=shut, headers=admin).status_code == 200
    closed = wait_for(
        lambda: (
            (r := submit(queue, ben, secrets.token_hex(4), action="enroll", course_id=course)).status_code == 409 and r
        ),
        10,
        "the window to close at admission",
    )
    assert closed.json()["type"] == "/problems/window-closed"


def test_cancel_while_pending_and_the_student_service_through_the_queue(make_cluster: MakeCluster) -> None:
    cluster = started(make_cluster({"login": 1, "course_data": 1, "queue": 1, "student": 1}))
    admin, superuser = token(cluster, 1, "admin"), token(cluster, 2, "super_admin")
    course = open_registration(cluster, admin, capacity=2)
    queue, student = cluster.url("queue-1"), cluster.url("student-1")
    on = {"queue": {"enabled": True}}
    assert httpx.patch(f"{cluster.url('login-1')}/settings", json=on, headers=superuser).status_code == 200
    me = token(cluster, 601, "student")
    enrolled = wait_for(
        lambda: (
            (r := httpx.post(f"{student}/student/enrollments", json={"course_id": course}, headers=me))
            and r.status_code == 201
            and r
        ),
        15,
        "an enrollment through the queue",
    )
    assert enrolled.json()["outcome"] == "accepted"
    stats = httpx.get(f"{queue}/queue/stats", headers=admin).json()
    assert stats["decided"] >= 1  # it went through the queue
    twice = httpx.post(f"{student}/student/enrollments", json={"course_id": course}, headers=me)
    assert (twice.status_code, twice.json()["type"]) == (409, "/problems/already-enrolled")
    dropped = httpx.delete(f"{student}/student/enrollments/{course}", headers=me)
    assert dropped.status_code == 200, dropped.text

    # A request waits while an earlier one is being decided; the waiting one can be cancelled.
    agent = cluster.freeze("course_data-1")  # the ledger's host hangs: the first request stays in flight
    try:
        stuck = submit(queue, me, "c-1", action="enroll", course_id=course).json()
        wait_for(lambda: httpx.get(f"{queue}/queue/stats", headers=admin).json()["pending_entries"] == 1, 10, "read")
        waiting = submit(queue, me, "c-2", action="drop", course_id=course).json()
        cancelled = httpx.delete(f"{queue}/queue/requests/{waiting['queue_request_id']}", headers=me)
        assert cancelled.status_code == 200, cancelled.text
        assert cancelled.json()["status"] == "cancelled"
        in_flight = httpx.delete(f"{queue}/queue/requests/{stuck['queue_request_id']}", headers=me)
        assert in_flight.status_code == 409  # already with the ledger
    finally:
        cluster.thaw("course_data-1", agent)
    final = httpx.get(f"{queue}/queue/requests/{stuck['queue_request_id']}?wait=20", headers=me, timeout=30).json()
    assert final["status"] == "accepted"
    assert (
        httpx.get(f"{queue}/queue/requests/{waiting['queue_request_id']}", headers=me).json()["status"] == "cancelled"
    )
    stats = wait_for(
        lambda: (r := httpx.get(f"{queue}/queue/stats", headers=admin).json())["depth"] == 0 and r, 10, "drained"
    )
    assert stats["pending_entries"] == 0


def test_a_stall_longer_than_the_timeout_delays_decisions_and_stops_admission(make_cluster: MakeCluster) -> None:
    cluster = started(make_cluster({"login": 1, "course_data": 1, "queue": 1}))
    admin, superuser = token(cluster, 1, "admin"), token(cluster, 2, "super_admin")
    course = open_registration(cluster, admin, capacity=5)
    queue = cluster.url("queue-1")
    rules = {"queue": {"decision_timeout_seconds": 1}}
    assert httpx.patch(f"{cluster.url('login-1')}/settings", json=rules, headers=superuser).status_code == 200
    wait_for(lambda: httpx.get(f"{queue}/queue/stats", headers=admin).status_code == 200, 10, "the queue master")
    me, other, third = (token(cluster, n, "student") for n in (701, 702, 703))
    agent = cluster.freeze("course_data-1")  # the ledger cannot answer for longer than the timeout
    try:
        early = submit(queue, me, "t-1", action="enroll", course_id=course)
        assert early.status_code == 202, early.text
        keys = (f"t-{n}" for n in itertools.count(2))  # each try a new request (a known key would answer)

        def refused_now() -> httpx.Response | None:
            answer = submit(queue, other, next(keys), action="enroll", course_id=course)
            assert answer.status_code in (202, 503), answer.text  # admitted before the mark, or refused
            return answer if answer.status_code == 503 else None

        refused = wait_for(refused_now, 20, "admission refusing while the ledger cannot decide")
        assert refused.headers["retry-after"] == "1"
        assert refused.json()["type"] == "/problems/queue-stalled"
        known = submit(queue, me, "t-1", action="enroll", course_id=course)  # a known key still answers
        assert (known.status_code, known.json()["queue_request_id"]) == (202, early.json()["queue_request_id"])
        pending = httpx.get(f"{queue}/queue/requests/{early.json()['queue_request_id']}", headers=me).json()
        assert pending["status"] == "pending"  # delayed, never rejected for its age
    finally:
        cluster.thaw("course_data-1", agent)
    final = httpx.get(
        f"{queue}/queue/requests/{early.json()['queue_request_id']}?wait=30", headers=me, timeout=40
    ).json()
    assert final["status"] == "accepted"
    later = wait_for(
        lambda: (r := submit(queue, third, "after", action="enroll", course_id=course)).status_code == 202 and r,
        20,
        "admission open again",
    )
    assert httpx.get(
        f"{queue}/queue/requests/{later.json()['queue_request_id']}?wait=30", headers=third, timeout=40
    ).json()["status"] == ("accepted")


def test_a_full_course_refuses_enrollments_at_once_until_a_place_frees(make_cluster: MakeCluster) -> None:
    cluster = started(make_cluster({"login": 1, "course_data": 1, "queue": 1, "student": 1}))
    admin, superuser = token(cluster, 1, "admin"), token(cluster, 2, "super_admin")
    course = open_registration(cluster, admin, capacity=1)
    queue, student = cluster.url("queue-1"), cluster.url("student-1")
    # the full mark held 10 s, not 1: a saturated machine takes longer than 1 s between the requests
    # below, and a later batch that finds a place clears it anyway
    queue_rules = {"enabled": True, "full_course_cache_seconds": 10}
    rules = {"course": {"waitlist_max_length": 0}, "queue": queue_rules}
    assert httpx.patch(f"{cluster.url('login-1')}/settings", json=rules, headers=superuser).status_code == 200
    ann, ben, cay = (token(cluster, n, "student") for n in (801, 802, 803))
    wait_for(lambda: httpx.get(f"{queue}/queue/stats", headers=admin).status_code == 200, 10, "the queue master")

    def outcome(who: dict[str, str], key: str, **body: object) -> dict[str, object]:
        taken = submit(queue, who, key, **body)
        assert taken.status_code == 202, taken.text
        answer: dict[str, object] = httpx.get(
            f"{queue}/queue/requests/{taken.json()['queue_request_id']}?wait=10", headers=who, timeout=20
        ).json()
        return answer

    assert outcome(ann, "a-1", action="enroll", course_id=course)["status"] == "accepted"  # the last seat
    refused = submit(queue, ben, "b-1", action="enroll", course_id=course)  # the ledger reported it full
    assert refused.status_code == 409, refused.text
    assert (refused.json()["type"], refused.json()["outcome"]) == ("/problems/waitlist-full", "rejected")
    assert "is full" in refused.json()["detail"]
    direct = httpx.post(f"{student}/student/enrollments", json={"course_id": course}, headers=cay)
    assert (direct.status_code, direct.json()["type"]) == (409, "/problems/waitlist-full")  # as the ledger says
    stats = httpx.get(f"{queue}/queue/stats", headers=admin).json()
    assert (stats["admitted"], stats["refused_at_once"]) == (1, 2)  # refused: never queued

    assert outcome(ann, "a-2", action="drop", course_id=course)["status"] == "accepted"  # a seat frees
    again = submit(queue, ben, "b-1", action="enroll", course_id=course)  # the same key: the same answer
    assert (again.status_code, again.json()["type"]) == (409, "/problems/waitlist-full"), again.text
    assert outcome(ben, "b-2", action="enroll", course_id=course)["status"] == "accepted"  # a new key, now taken
    wait_for(lambda: "queue_refused_at_once 2.0" in httpx.get(f"{queue}/metrics").text, 10, "the refusals in metrics")
