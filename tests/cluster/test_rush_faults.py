"""The rush under faults, on real processes: kill -9 the queue master, kill -9 the ledger's
master, restart redis-server, each in the middle of the rush. Every admitted request must
still reach exactly one final outcome, and the seat checks must hold."""

from __future__ import annotations

import asyncio
import threading
import time
from collections.abc import Callable

import httpx
import pytest

from ops.localcluster import LocalCluster, wait_for
from ops.rush import Submitted, counters, create_courses, create_offerings, plan, plan_groups, report, submit_all
from tests.cluster.conftest import MakeCluster
from tests.cluster.test_registrar import token

pytestmark = pytest.mark.cluster

STUDENTS, COURSES, SEATS, PER_STUDENT = 240, 3, 40, 2


def rush_with(
    cluster: LocalCluster, fault: Callable[[LocalCluster], None], groups: bool = False, **queue_rules: object
) -> dict[str, object]:
    """Start the cluster, prepare the rush, run `fault` once a third of it is admitted, check.
    With `groups`, every request is a section group (a lecture and one of its two labs, which
    share the lecture's seats), from half as many students (still twice the seats of each
    lab): the same seats are taken, each group whole."""
    cluster.start_serving("login", "course_data", "queue")
    via = "login-1"
    admin = token(cluster, 1, "admin")
    superuser = token(cluster, 2, "super_admin")
    rules = {"queue": {"student_rate_limit": "1000 per minute", "batch_size": 10, **queue_rules}}  # many batches
    assert httpx.patch(f"{cluster.url('login-1')}/settings", json=rules, headers=superuser).status_code == 200
    course_master = cluster.master("course_data", via)
    assert course_master is not None
    if groups:
        offerings = create_offerings(cluster.url(course_master[0]), admin, COURSES, SEATS)
        prepared = plan_groups(cluster.config, STUDENTS // 2, offerings, PER_STUDENT)  # (each decided alone)
    else:
        course_ids = create_courses(cluster.url(course_master[0]), admin, COURSES, SEATS)
        prepared = plan(cluster.config, STUDENTS, course_ids, PER_STUDENT)
    queues = [n.id for n in cluster.config.nodes if n.service == "queue"]
    assert cluster.redis is not None
    redis_url = cluster.redis.url

    results: list[Submitted] = []

    def load() -> None:  # the clients, in a thread: the fault is struck from this one (a restarted
        # redis-server must not be the child of a thread that ends: it would die with it)
        urls = [cluster.url(q) for q in queues]
        results.append(asyncio.run(submit_all(urls, prepared, concurrency=12, give_up_after=90)))

    clients = threading.Thread(target=load)
    clients.start()
    _, decided, _ = wait_for(
        lambda: (c := counters(redis_url))[0] + c[2] >= len(prepared) // 3 and c, 60, "a third of the rush answered"
    )
    fault(cluster)
    clients.join(120)
    [answered] = results  # (none if the clients failed: their error is in the output)
    taken = answered.taken
    assert decided < len(prepared)  # the fault struck in the middle of the rush
    assert len(taken) + len(answered.refused) == len(prepared)  # every request was answered (retried where needed)
    assert not set(taken) & set(answered.refused)  # ... once: taken, or refused at once
    assert len(set(taken.values())) == len(taken)  # ... and each taken one exactly once
    assert set(answered.refused.values()) <= {"waitlist-full"}
    wait_for(lambda: (c := counters(redis_url))[0] == c[1] == len(taken), 90, "every admitted request decided")
    found = report(redis_url, cluster.config.database_url("course_data"), answered)
    assert found["admitted"] == len(taken)
    assert found["refused_at_once"] == len(answered.refused)
    assert found["checks"] == dict.fromkeys(found["checks"], 0), found["checks"]
    outcomes = found["outcomes"]
    assert isinstance(outcomes, dict)
    assert outcomes.get("accepted") == COURSES * SEATS  # every seat taken, none twice (a group: each of its seats)
    return found


def kill_master(service: str) -> Callable[[LocalCluster], None]:
    def kill(cluster: LocalCluster) -> None:
        master = cluster.master(service, "login-1")
        assert master is not None
        cluster.kill(master[0])

    return kill


def restart_redis(cluster: LocalCluster) -> None:
    assert cluster.redis is not None
    cluster.redis.stop()  # SIGTERM: the append-only file is flushed
    time.sleep(0.5)  # down for a moment: admissions are refused (503) and retried by the clients
    cluster.redis.start()


def stall_master(service: str, seconds: float) -> Callable[[LocalCluster], None]:
    def stall(cluster: LocalCluster) -> None:
        master = cluster.master(service, "login-1")
        assert master is not None
        agent = cluster.freeze(master[0])  # the whole node, as a frozen host: no watchdog of its own kills it
        try:
            time.sleep(seconds)  # the fault itself lasts this long; nothing below waits on a clock
        finally:
            cluster.thaw(master[0], agent)

    return stall


def test_a_ledger_stalled_past_the_decision_timeout_mid_rush_keeps_first_come_first_served(
    make_cluster: MakeCluster,
) -> None:
    cluster = make_cluster({"login": 1, "course_data": 1, "queue": 1})
    found = rush_with(cluster, stall_master("course_data", 3.0), decision_timeout_seconds=1)
    outcomes = found["outcomes"]
    assert isinstance(outcomes, dict)
    assert "rejected:timeout" not in outcomes  # delayed, not timed out (and the order checks are 0)


def test_kill_the_queue_master_mid_rush(make_cluster: MakeCluster) -> None:
    cluster = make_cluster({"login": 1, "course_data": 1, "queue": 2})
    rush_with(cluster, kill_master("queue"))


def test_kill_the_ledger_master_mid_rush(make_cluster: MakeCluster) -> None:
    cluster = make_cluster({"login": 1, "course_data": 2, "queue": 1})
    rush_with(cluster, kill_master("course_data"))


def test_kill_the_ledger_master_mid_rush_of_section_groups(make_cluster: MakeCluster) -> None:
    """Nothing lost, nothing decided twice, no group taken in part across the ledger's failover."""
    cluster = make_cluster({"login": 1, "course_data": 2, "queue": 1})
    found = rush_with(cluster, kill_master("course_data"), groups=True)
    checks = found["checks"]
    assert isinstance(checks, dict)
    assert checks["sections_held_in_part"] == 0


def test_restart_redis_mid_rush(make_cluster: MakeCluster) -> None:
    cluster = make_cluster({"login": 1, "course_data": 1, "queue": 1})
    rush_with(cluster, restart_redis)
