"""Redis frozen or gone: every route that needs it answers 503 with Retry-After within the
Redis timeout (never a 500, never a hang), and works again once Redis is back."""

from __future__ import annotations

import signal
from collections.abc import Iterator
from pathlib import Path

import pytest
import redis
from redis.asyncio import BlockingConnectionPool

from cluster.redis_server import PrivateRedis
from storage.redis import TIMEOUT_SECONDS, connect_redis
from tests.api.registrar_kit import Node, service_node
from tests.support import free_port, wait_until


@pytest.fixture
def frozen(tmp_path: Path) -> Iterator[tuple[PrivateRedis, Node]]:
    server = PrivateRedis("redis-server", free_port(), tmp_path / "own-redis")
    server.start()
    try:
        with service_node("queue", tmp_path, server.url) as node:
            yield server, node
    finally:
        if server.process is not None:
            server.process.send_signal(signal.SIGCONT)
        server.stop()


def test_a_frozen_redis_is_a_503_with_retry_after_on_every_queue_route(frozen: tuple[PrivateRedis, Node]) -> None:
    server, node = frozen
    student = {**node.auth("student", 5), "Idempotency-Key": "k-1"}
    taken = node.client.post("/queue/requests", json={"action": "enroll", "course_id": 1}, headers=student)
    assert taken.status_code == 202, taken.text
    request_id = taken.json()["queue_request_id"]
    assert server.process is not None
    server.process.send_signal(signal.SIGSTOP)  # connections open, nothing answers: the worst case
    calls: list[tuple[str, str, dict[str, object] | None]] = [
        ("GET", f"/queue/requests/{request_id}", None),
        ("GET", f"/queue/requests/{request_id}?wait=5", None),
        ("DELETE", f"/queue/requests/{request_id}", None),
        ("POST", "/queue/requests", {"action": "enroll", "course_id": 2}),
    ]
    for method, path, body in calls:
        answer = node.client.request(method, path, headers={**student, "Idempotency-Key": "k-2"}, json=body)
        assert answer.status_code == 503, (method, path, answer.text)
        assert answer.headers["retry-after"] == "1"
        assert answer.headers["content-type"] == "application/problem+json"
        assert answer.json()["type"] in ("/problems/redis-unavailable", "/problems/queue-unavailable")
        assert answer.elapsed.total_seconds() < 4 * TIMEOUT_SECONDS  # bounded, not a hang (a loose bound)
    assert node.client.get("/ready").status_code == 503
    server.process.send_signal(signal.SIGCONT)
    again = node.client.get(f"/queue/requests/{request_id}", headers=student)
    assert (again.status_code, again.json()["status"]) == (200, "pending")


def test_a_stopped_redis_is_a_503_too(frozen: tuple[PrivateRedis, Node]) -> None:
    server, node = frozen
    server.stop()
    student = node.auth("student", 6)
    answer = node.client.get("/queue/requests/nope", headers=student)
    assert (answer.status_code, answer.headers.get("retry-after")) == (503, "1"), answer.text
    server.start()
    assert node.client.get("/queue/requests/nope", headers=student).status_code == 404


def test_every_wait_on_the_pool_is_bounded() -> None:
    pool = connect_redis("redis://127.0.0.1:1/0").connection_pool
    assert pool.connection_kwargs["socket_timeout"] == TIMEOUT_SECONDS
    assert pool.connection_kwargs["socket_connect_timeout"] <= TIMEOUT_SECONDS
    assert isinstance(pool, BlockingConnectionPool)
    assert pool.timeout == TIMEOUT_SECONDS


@pytest.fixture
def small(tmp_path: Path) -> Iterator[tuple[PrivateRedis, Node]]:
    server = PrivateRedis("redis-server", free_port(), tmp_path / "own-redis", max_memory="4mb")
    server.start()
    try:
        with service_node("queue", tmp_path, server.url) as node:
            yield server, node
    finally:
        server.stop()


def fill(client: redis.Redis) -> None:
    for n in range(1000):
        client.set(f"junk:{n}", b"x" * 100_000)


def test_redis_full_refuses_admission_with_503_and_evicts_nothing(small: tuple[PrivateRedis, Node]) -> None:
    server, node = small
    student = {**node.auth("student", 8), "Idempotency-Key": "m-1"}
    taken = node.client.post("/queue/requests", json={"action": "enroll", "course_id": 1}, headers=student)
    assert taken.status_code == 202, taken.text
    direct = redis.Redis.from_url(server.url)
    try:
        assert direct.config_get("maxmemory-policy") == {"maxmemory-policy": "noeviction"}
        with pytest.raises(redis.exceptions.OutOfMemoryError):
            fill(direct)
        used = int(direct.info("memory")["used_memory"])
        direct.config_set("maxmemory", used // 2)  # well over it: no buffer freed later makes room
        full = node.client.post(
            "/queue/requests", json={"action": "enroll", "course_id": 2}, headers={**student, "Idempotency-Key": "m-2"}
        )
        assert full.status_code == 503, full.text
        assert full.headers["retry-after"] == "1"
        assert "OutOfMemoryError" in full.json()["detail"]
        kept = node.client.get(f"/queue/requests/{taken.json()['queue_request_id']}", headers=student)
        assert (kept.status_code, kept.json()["status"]) == (200, "pending")  # nothing evicted, reads go on

        def gauges() -> dict[str, float]:
            lines = node.client.get("/metrics").text.splitlines()
            found = {
                k: float(v) for k, _, v in (line.partition(" ") for line in lines if line.startswith("queue_redis"))
            }
            return found if found.get("queue_redis_memory_limit_bytes") == used // 2 else {}

        metrics = wait_until(gauges, 30, "the memory gauges")  # sampled every second, by a busy loop under load
        assert metrics["queue_redis_memory_used_ratio"] > 1
        assert metrics["queue_redis_memory_used_bytes"] > used // 2
        direct.delete(*(f"junk:{n}" for n in range(1000)))
        direct.config_set("maxmemory", "4mb")
    finally:
        direct.close()
    again = node.client.post(
        "/queue/requests", json={"action": "enroll", "course_id": 2}, headers={**student, "Idempotency-Key": "m-2"}
    )
    assert again.status_code == 202, again.text
