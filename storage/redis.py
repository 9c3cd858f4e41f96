"""Redis access: one blocking pool per process (an exhausted pool waits, never raises)."""

from __future__ import annotations

from redis.asyncio import BlockingConnectionPool, Redis


def connect_redis(url: str, max_connections: int = 64) -> Redis:
    pool = BlockingConnectionPool.from_url(url, max_connections=max_connections, timeout=5)
    return Redis.from_pool(pool)
