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
