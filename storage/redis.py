"""Redis access: one blocking pool per process, every wait on it bounded.

Connect and socket timeouts make an unreachable or frozen Redis an error within
`timeout` seconds instead of a hang (the callers answer 503 with Retry-After); the pool
waits as long for a free connection before it raises. A blocking read such as
XREADGROUP's must block for less than the socket timeout.

With Redis Sentinel the pool asks the sentinels where the primary is, and again after a
connection fails, so a promoted replica is found without restarting the node.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from redis.asyncio import BlockingConnectionPool, Redis
from redis.asyncio.sentinel import Sentinel, SentinelConnectionPool, SentinelManagedConnection
from redis.exceptions import ConnectionError as RedisConnectionError
from redis.exceptions import ResponseError

TIMEOUT_SECONDS = 2.0


class SentinelBlockingPool(SentinelConnectionPool, BlockingConnectionPool):
    """The sentinel's primary discovery with the blocking pool's waiting for a free connection."""


def connect_redis(url: str, max_connections: int = 64, timeout: float = TIMEOUT_SECONDS) -> Redis:
    pool = BlockingConnectionPool.from_url(
        url,
        max_connections=max_connections,
        timeout=timeout,  # waiting for a free connection of the pool
        socket_connect_timeout=min(timeout, 1.0),
        socket_timeout=timeout,
    )
    return Redis.from_pool(pool)


class PrimaryConnection(SentinelManagedConnection):
    """A NOREPLICAS refusal means this primary has lost its replica, most often because a
    failover demoted it: drop the connection so the next one asks the sentinels again (as
    redis-py does for READONLY), and surface it as a connection error (503 upstream)."""

    async def read_response(self, *args: Any, **kwargs: Any) -> Any:
        try:
            return await super().read_response(*args, **kwargs)
        except ResponseError as exc:
            if not str(exc).startswith("NOREPLICAS"):
                raise
            await self.disconnect()
            raise RedisConnectionError("the Redis primary has no replica: asking the sentinels again") from exc


class SentinelRedis(Redis):
    """A client of the sentinels' primary; closing it closes its sentinel connections too."""

    async def aclose(self, close_connection_pool: bool | None = None) -> None:
        await super().aclose(close_connection_pool)
        pool = self.connection_pool
        if isinstance(pool, SentinelConnectionPool):
            for sentinel in pool.sentinel_manager.sentinels:
                await sentinel.aclose()


def connect_sentinel(
    sentinels: Sequence[tuple[str, int]],
    service: str,
    password: str | None = None,
    max_connections: int = 64,
    timeout: float = TIMEOUT_SECONDS,
) -> Redis:
    """A client of the primary that `sentinels` know as `service`.

    The primaries should run with `min-replicas-to-write 1`: a primary demoted by a
    failover then refuses writes (NOREPLICAS) instead of taking some that its successor
    never sees, while this client's pool is still connected to it.
    """
    manager = Sentinel(list(sentinels), sentinel_kwargs={"socket_timeout": min(timeout, 1.0)})  # type: ignore[no-untyped-call]
    client: Redis = manager.master_for(
        service,
        redis_class=SentinelRedis,
        connection_pool_class=SentinelBlockingPool,
        connection_class=PrimaryConnection,
        password=password,
        max_connections=max_connections,
        timeout=timeout,
        socket_connect_timeout=min(timeout, 1.0),
        socket_timeout=timeout,
    )
    return client
