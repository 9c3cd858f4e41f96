"""The rush on Redis Sentinel while the Redis primary fails over (SENTINEL FAILOVER, and kill -9
of the primary), on real processes: every request answered 202 is kept and reaches one final
outcome, none is decided twice, no seat is oversold. The clients retry a 503 (not recorded, or
queue-not-replicated) with the same Idempotency-Key, as they are told to."""

from __future__ import annotations

import asyncio
import shutil
import subprocess
import threading
from collections.abc import Callable
from pathlib import Path

import httpx
import pytest
import redis

from ops.localcluster import LocalCluster, wait_for
from ops.rush import Submitted, counters, create_courses, plan, report, submit_all
from tests.cluster.test_registrar import token
from tests.sentinel_kit import SERVICE, SentinelGroup, sentinel_group
from tests.support import cluster_toml

pytestmark = pytest.mark.cluster

STUDENTS, COURSES, SEATS, PER_STUDENT = 240, 3, 40, 2


def primary_url(group: SentinelGroup) -> str:
    return f"redis://127.0.0.1:{group.primary()}"


def rush_through_failover(tmp_path: Path, fault: Callable[[SentinelGroup], None]) -> dict[str, object]:
    (tmp_path / "redis").mkdir()
    with sentinel_group(tmp_path / "redis") as group:
        text, _ = cluster_toml(tmp_path / "data", counts={"login": 1, "course_data": 1, "queue": 2})
        path = tmp_path / "cluster.toml"
        path.write_text(text)
        env = {"CS_REDIS__SENTINELS": group.sentinels, "CS_REDIS__REPLICAS": "2"}  # the kit's primary has two
        cluster = LocalCluster(path, tmp_path / "data", env)
        try:
            return _rush(cluster, group, fault)
        finally:
            cluster.stop_all()


def _rush(cluster: LocalCluster, group: SentinelGroup, fault: Callable[[SentinelGroup], None]) -> dict[str, object]:
    cluster.start()
    cluster.wait_ready(timeout=180)  # a saturated machine starts slowly
    for service in ("login", "course_data", "queue"):
        wait_for(lambda s=service: cluster.master(s, "login-1"), 60, f"a {service} master")
    admin = token(cluster, 1, "admin")
    superuser = token(cluster, 2, "super_admin")
    rules = {"queue": {"student_rate_limit": "1000 per minute", "batch_size": 10}}  # many batches
    assert httpx.patch(f"{cluster.url('login-1')}/settings", json=rules, headers=superuser).status_code == 200
    course_master = cluster.master("course_data", "login-1")
    assert course_master is not None
    course_ids = create_courses(cluster.url(course_master[0]), admin, COURSES, SEATS)
    prepared = plan(cluster.config, STUDENTS, course_ids, PER_STUDENT)
    queues = [n.id for n in cluster.config.nodes if n.service == "queue"]

    results: list[Submitted] = []

    def load() -> None:
        urls = [cluster.url(q) for q in queues]
        results.append(asyncio.run(submit_all(urls, prepared, concurrency=12, give_up_after=120)))

    clients = threading.Thread(target=load)
    clients.start()
    _, decided, _ = wait_for(
        lambda: (c := counters(primary_url(group)))[0] + c[2] >= len(prepared) // 3 and c,
        60,
        "a third of the rush answered",
    )
    fault(group)
    clients.join(180)
    [answered] = results  # (none if the clients failed: their error is in the output)
    taken = answered.taken
    assert decided < len(prepared)  # the failover struck in the middle of the rush
    assert len(taken) + len(answered.refused) == len(prepared)  # every request answered, 503s retried
    assert not set(taken) & set(answered.refused)
    assert len(set(taken.values())) == len(taken)  # each taken request is one request
    try:
        wait_for(
            lambda: (c := counters(primary_url(group)))[0] == c[1] == len(taken), 120, "every admitted request decided"
        )
    except TimeoutError as exc:
        logs = "\n".join(f"--- {q}\n{cluster.log_text(q)[-4000:]}" for q in queues)
        raise AssertionError(f"{exc}; taken {len(taken)}, counters {counters(primary_url(group))}\n{logs}") from None
    found = report(primary_url(group), cluster.config.database_url("course_data"), answered)
    assert found["admitted"] == len(taken)  # nothing answered 202 was lost
    assert found["refused_at_once"] == len(answered.refused)
    # the checks include: told taken but lost, without a final outcome, outcome differs from the
    # ledger's, a ledger decision with no request, duplicate enrollments, oversold seats
    assert found["checks"] == dict.fromkeys(found["checks"], 0), found["checks"]
    outcomes = found["outcomes"]
    assert isinstance(outcomes, dict)
    assert outcomes.get("accepted") == COURSES * SEATS  # every seat taken, none twice
    return found


def kill_9_primary(folder: Path) -> Callable[[SentinelGroup], None]:
    """kill -9 of the Redis primary's process: the sentinels promote a replica after 1 s down;
    then the dead server is started again, as systemd would, and the sentinels make it a replica
    of the new primary (until then the new primary has one replica of two: admissions get 503)."""

    def kill(group: SentinelGroup) -> None:
        ports = [group.primary_port, *group.replica_ports]
        dead = group.primary()
        index = ports.index(dead)
        group.processes[index].kill()
        group.processes[index].wait(10)
        wait_for(lambda: _agreed_primary(group) not in (None, dead), 30, "the sentinels to promote a replica")
        conf = folder / f"redis-{dead}.conf"
        with conf.with_suffix(".log").open("ab") as log:
            group.processes[index] = subprocess.Popen(
                [shutil.which("redis-server") or "redis-server", str(conf)], stdout=log, stderr=subprocess.STDOUT
            )

    return kill


def _agreed_primary(group: SentinelGroup) -> int | None:
    seen = set()
    for port in group.sentinel_ports:
        client = redis.Redis(port=port, socket_timeout=1)
        try:
            seen.add(int(client.sentinel_get_master_addr_by_name(SERVICE)[1]))
        finally:
            client.close()
    return seen.pop() if len(seen) == 1 else None


def test_a_sentinel_failover_of_the_redis_primary_mid_rush_loses_nothing(tmp_path: Path) -> None:
    rush_through_failover(tmp_path, lambda group: group.fail_over() and None)


def test_kill_9_of_the_redis_primary_mid_rush_loses_nothing(tmp_path: Path) -> None:
    rush_through_failover(tmp_path, kill_9_primary(tmp_path / "redis"))
