"""Redis access: one blocking pool per process, every wait on it bounded.

Connect and socket timeouts make an unreachable or frozen Redis an error within
`timeout` seconds instead of a hang (the callers answer 503 with Retry-After); the pool
waits as long for a free connection before it raises. A blocking read such as
XREADGROUP's must block for less than the socket timeout.
"""

from __future__ import annotations

from redis.asyncio import BlockingConnectionPool, Redis

TIMEOUT_SECONDS = 2.0


def connect_redis(url: str, max_connections: int = 64, timeout: float = TIMEOUT_SECONDS) -> Redis:
    pool = BlockingConnectionPool.from_url(
        url,
        max_connections=max_connections,
        timeout=timeout,  # waiting for a free connection of the pool
        socket_connect_timeout=min(timeout, 1.0),
        socket_timeout=timeout,
    )
    return Redis.from_pool(pool)
