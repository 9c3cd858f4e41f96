"""A node's Redis client through Redis Sentinel follows the primary when a replica is promoted."""

from __future__ import annotations

import time
from pathlib import Path

import pytest
from redis.exceptions import ConnectionError as RedisConnectionError
from redis.exceptions import ReadOnlyError, ResponseError
from redis.exceptions import TimeoutError as RedisTimeoutError

from storage.redis import connect_sentinel
from tests.sentinel_kit import SERVICE, sentinel_group


async def test_the_client_finds_the_primary_and_follows_a_failover(tmp_path: Path) -> None:
    with sentinel_group(tmp_path) as group:
        sentinels = [("127.0.0.1", p) for p in group.sentinel_ports]
        client = connect_sentinel(sentinels, SERVICE, max_connections=4)
        try:
            await client.set("k", "before")
            assert (await client.info("server"))["tcp_port"] == group.primary_port
            promoted = group.fail_over()
            assert promoted in group.replica_ports

            deadline = time.monotonic() + 20
            refusals = []
            while True:  # the demoted primary refuses writes (NOREPLICAS, READONLY) until the pool moves
                try:
                    await client.set("k", "after")
                    break
                except (RedisConnectionError, ReadOnlyError, RedisTimeoutError, ResponseError) as exc:
                    refusals.append(exc)
                    if time.monotonic() > deadline:
                        pytest.fail("the client did not reach the promoted replica within 20 s")
            odd = [e for e in refusals if type(e) is ResponseError and not str(e).startswith("NOREPLICAS")]
            assert not odd, odd
            assert (await client.info("server"))["tcp_port"] == promoted
            assert await client.get("k") == b"after"
        finally:
            await client.aclose()


async def test_an_admission_is_answered_only_once_a_replica_has_it(tmp_path: Path) -> None:
    import os
    import signal

    from services.queue.records import Admission, Admitted
    from services.queue.store import NotReplicated, QueueStore

    with sentinel_group(tmp_path) as group:
        client = connect_sentinel([("127.0.0.1", p) for p in group.sentinel_ports], SERVICE, max_connections=4)
        store = QueueStore(client, replicas=1, replica_wait_seconds=0.3)
        replicas = group.processes[1:3]  # the primary first, then its two replicas

        def ask(n: int, key: str) -> Admission:
            return Admission(f"r{n}", 1, None, "enroll", 7, None, "s1", 2, key)

        try:
            [kept] = await store.admit([ask(1, "a")], time.time())
            assert isinstance(kept, Admitted)
            assert kept.new
            for process in replicas:
                os.kill(process.pid, signal.SIGSTOP)  # no replica acknowledges any more
            try:
                with pytest.raises(NotReplicated, match="0 of 1 Redis replicas acknowledged within 300 ms"):
                    await store.admit([ask(2, "b")], time.time())
            finally:
                for process in replicas:
                    os.kill(process.pid, signal.SIGCONT)
            # it may or may not have been kept: the same key answers the request if it was
            deadline = time.monotonic() + 20
            while True:
                try:
                    [again] = await store.admit([ask(3, "b")], time.time())
                    break
                except (NotReplicated, RedisConnectionError):  # the replicas catching up
                    if time.monotonic() > deadline:
                        raise
            assert isinstance(again, Admitted)
            assert (again.queue_request_id, again.new) == ("r2", False)
        finally:
            await client.aclose()


async def test_an_unconfirmed_admission_is_a_503_with_its_own_type_and_retry_after() -> None:
    from types import SimpleNamespace
    from typing import Any

    from services.queue.routes import QueueNotReplicated, _admit
    from services.queue.store import NotReplicated

    async def admit(*args: Any) -> None:
        raise NotReplicated("1 of 2 Redis replicas acknowledged within 1000 ms")

    node: Any = SimpleNamespace(admitter=SimpleNamespace(admit=admit))
    with pytest.raises(QueueNotReplicated) as caught:
        await _admit(node, 1, None, "s1", "k", {"action": "enroll", "course_id": 1})
    problem = caught.value
    assert (problem.status, problem.slug) == (503, "queue-not-replicated")
    assert problem.headers == {"Retry-After": "1"}
    assert "may or may not be queued" in str(problem)
    assert "same Idempotency-Key" in str(problem)
