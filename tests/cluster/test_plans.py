"""Plans on real processes (issue 16): saved, validated and submitted through the student
service; submitted during a rush of single requests, with a restart of the queue master in
the middle, every item ends decided (enrolled, waitlisted, or refused after its last
alternative), no seat is sold twice, decisions keep first come first served, and the same
Idempotency-Key answers the same submission."""

from __future__ import annotations

import asyncio
import itertools
import threading

import httpx
import pytest

from ops.localcluster import LocalCluster, wait_for
from ops.rush import Submitted, counters, create_courses, plan, report, submit_all
from ops.rush_plans import PlansTold, follow, prepare_plans, save_plans, submit_plans
from tests.cluster.conftest import MakeCluster
from tests.cluster.test_registrar import open_registration, token

pytestmark = pytest.mark.cluster

COURSES, SEATS = 4, 15


def started(cluster: LocalCluster) -> LocalCluster:
    """Every node ready and a master of each service; five or six nodes take over a minute to
    start on a saturated 2-core machine, so the wait is longer than `start_serving`'s."""
    cluster.start()
    cluster.wait_ready(timeout=240)
    for service in ("login", "course_data", "queue", "student"):
        wait_for(lambda s=service: cluster.master(s, "login-1"), 60, f"a {service} master")
    return cluster


def test_a_plan_is_saved_validated_and_submitted_through_the_student_service(make_cluster: MakeCluster) -> None:
    cluster = started(make_cluster({"login": 1, "course_data": 1, "queue": 1, "student": 1}))
    admin, superuser = token(cluster, 1, "admin"), token(cluster, 2, "super_admin")
    # a full course refuses (no waitlist), and every enrollment is queued (none refused at once):
    # the ledger refuses the plan's item and the decider queues its alternative in its place
    rules = {"course": {"waitlist_max_length": 0}, "queue": {"full_course_cache_seconds": 0}}
    assert httpx.patch(f"{cluster.url('login-1')}/settings", json=rules, headers=superuser).status_code == 200
    taken = open_registration(cluster, admin, capacity=1)
    spare = create_courses(cluster.url("course_data-1"), admin, 1, 5, prefix="ALT")[0]
    student, queue = cluster.url("student-1"), cluster.url("queue-1")
    first, me = token(cluster, 901, "student"), token(cluster, 902, "student")
    assert httpx.get(f"{student}/student/plan", headers=me).json() == {"items": [], "updated_at": None}
    bad = httpx.put(f"{student}/student/plan", json={"items": [{"course_id": 99999}]}, headers=me)
    assert (bad.status_code, bad.json()["errors"][0]["field"]) == (422, "items.0.course_id")
    assert httpx.post(f"{student}/student/plan/submit", headers={**me, "Idempotency-Key": "e"}).status_code == 409
    body = {"items": [{"course_id": taken, "alternatives": [spare]}]}
    saved = httpx.put(f"{student}/student/plan", json=body, headers=me)
    assert saved.status_code == 200, saved.text
    assert saved.json()["items"] == [{"position": 1, "course_id": taken, "alternatives": [spare], "section_id": None}]

    # another student takes the one seat: the plan's validation says it would fall back
    wait_for(lambda: httpx.get(f"{queue}/queue/stats", headers=admin).status_code == 200, 15, "the queue master")
    ahead = httpx.post(
        f"{queue}/queue/requests",
        json={"action": "enroll", "course_id": taken},
        headers={**first, "Idempotency-Key": "a"},
    )
    assert ahead.status_code == 202, ahead.text
    got = httpx.get(f"{queue}/queue/requests/{ahead.json()['queue_request_id']}?wait=15", headers=first, timeout=25)
    assert got.json()["status"] == "accepted"
    checked = httpx.post(f"{student}/student/plan/validate", headers=me)
    assert checked.status_code == 200, checked.text
    [item] = checked.json()["items"]
    assert (item["outcome"], item["type"], item["chosen_course_id"]) == ("refused", "waitlist-full", spare)
    assert item["alternatives"] == [{"course_id": spare, "outcome": "enrolled", "type": "", "reason": "a seat is free"}]
    assert checked.json()["window"]["open"] is True

    submitted = httpx.post(f"{student}/student/plan/submit", headers={**me, "Idempotency-Key": "plan-1"})
    assert submitted.status_code == 202, submitted.text
    [queued] = submitted.json()["requests"]
    assert submitted.json()["new"] is True
    rid = queued["queue_request_id"]
    end = httpx.get(f"{queue}/queue/requests/{rid}?wait=15", headers=me, timeout=25).json()
    assert (queued["course_id"], end["status"], end["type"]) == (taken, "rejected", "waitlist-full")
    assert end["next_queue_request_id"] == f"{rid}-1"
    end = httpx.get(f"{queue}/queue/requests/{end['next_queue_request_id']}?wait=15", headers=me, timeout=25).json()
    assert (end["status"], end["course_id"]) == ("accepted", spare)
    again = httpx.post(f"{student}/student/plan/submit", headers={**me, "Idempotency-Key": "plan-1"})
    assert again.status_code == 202
    assert (again.json()["new"], again.json()["requests"][0]["queue_request_id"]) == (False, queued["queue_request_id"])
    mine = httpx.get(f"{student}/student/enrollments", headers=me).json()
    assert [c["id"] for c in mine["enrolled"]] == [spare]
    assert httpx.delete(f"{student}/student/plan", headers=me).status_code == 204
    assert httpx.get(f"{student}/student/plan", headers=me).json()["items"] == []

    shut = {"windows": [{"opens_at": 1.0, "closes_at": 2.0, "drop_deadline": 3.0}]}
    assert httpx.put(f"{cluster.url('course_data-1')}/windows", json=shut, headers=admin).status_code == 200
    assert httpx.put(f"{student}/student/plan", json=body, headers=first).status_code == 200
    keys = (f"w-{n}" for n in itertools.count())  # each try a new key (a known one would answer the same)

    def refused_now() -> httpx.Response | None:
        answer = httpx.post(f"{student}/student/plan/submit", headers={**first, "Idempotency-Key": next(keys)})
        return answer if answer.status_code == 409 else None

    closed = wait_for(refused_now, 15, "the window closed at admission (windows are cached a moment)")
    assert closed.json()["type"] == "/problems/window-closed"


def test_plans_submitted_during_a_rush_with_the_queue_master_killed(make_cluster: MakeCluster) -> None:
    cluster = started(make_cluster({"login": 1, "course_data": 1, "queue": 2, "student": 1}))
    admin, superuser = token(cluster, 1, "admin"), token(cluster, 2, "super_admin")
    rules = {"queue": {"student_rate_limit": "1000 per minute", "batch_size": 10}, "course": {"waitlist_max_length": 5}}
    assert httpx.patch(f"{cluster.url('login-1')}/settings", json=rules, headers=superuser).status_code == 200
    master = cluster.master("course_data", "login-1")
    assert master is not None
    course_ids = create_courses(cluster.url(master[0]), admin, COURSES, SEATS)
    singles = plan(cluster.config, 50, course_ids, 1)
    plans = prepare_plans(cluster.config, 60, course_ids, 2, alternatives=1)
    student = cluster.url("student-1")
    asyncio.run(save_plans(student, plans))
    queues = [cluster.url(n.id) for n in cluster.config.nodes if n.service == "queue"]
    assert cluster.redis is not None
    redis_url = cluster.redis.url
    results: list[tuple[Submitted, PlansTold]] = []

    def load() -> None:
        async def both() -> tuple[Submitted, PlansTold]:
            return await asyncio.gather(
                submit_all(queues, singles, concurrency=6, give_up_after=90),
                submit_plans([student], plans, concurrency=6, give_up_after=90),
            )

        results.append(asyncio.run(both()))

    clients = threading.Thread(target=load)
    clients.start()
    wait_for(lambda: counters(redis_url)[1] >= 30, 60, "the rush under way")
    queue_master = cluster.master("queue", "login-1")
    assert queue_master is not None
    cluster.kill(queue_master[0])  # mid-rush: the other queue node decides the rest, fallbacks too
    clients.join(150)
    [(singles_told, plans_told)] = results
    assert len(plans_told.items) == len(plans)  # every plan taken (the window is open)
    wait_for(lambda: (c := counters(redis_url))[0] == c[1], 90, "every admitted request decided")
    found = report(redis_url, cluster.config.database_url("course_data"), waitlist_max=5)
    assert found["checks"] == dict.fromkeys(found["checks"], 0), found["checks"]
    outcomes = found["outcomes"]
    assert isinstance(outcomes, dict)
    assert outcomes.get("accepted") == COURSES * SEATS  # every seat taken, none twice
    items = follow(redis_url, plans_told)
    assert items["checks"] == dict.fromkeys(items["checks"], 0), items
    assert items["items"] == 2 * len(plans)  # nothing lost: every item ended
    assert sum(items["ends"].values()) == items["items"]
    assert items["fallbacks"] > 0, items  # some items were refused and fell back
    replayed = asyncio.run(submit_plans([student], plans[:10]))
    assert {k: replayed.items[k] for k in replayed.items} == {p.key: plans_told.items[p.key] for p in plans[:10]}
    assert len(singles_told.taken) + len(singles_told.refused) == len(singles)
