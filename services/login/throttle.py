"""Slowing down password guessing, shared by every login node through Redis.

Per username, known or not (so answers never reveal which usernames exist): after
`throttle_after_failures` failures each further attempt must wait twice as long as the
one before (capped at five minutes); at `lockout_threshold` failures the name is locked
for `lockout_minutes`, or until an admin unlocks it. A success clears the record.
Per client address: failed attempts are counted in moving windows
(`address_failure_limits`, e.g. "30 per minute; 200 per hour", by the `limits` library).
"""

from __future__ import annotations

import math

from limits import parse_many
from limits.aio.storage import RedisStorage
from limits.aio.strategies import MovingWindowRateLimiter
from redis.asyncio import Redis

from cluster.settings import SecuritySettings

_MAX_DELAY = 300.0
_ADDRESS_SCOPE = "login-failures-by-address"


class LoginThrottle:
    def __init__(self, redis: Redis, url: str) -> None:
        self.redis = redis
        # Share the node's connection pool (closed with it) instead of opening another.
        self._storage = RedisStorage(
            url.replace("redis://", "async+redis://", 1),
            implementation="redispy",
            connection_pool=redis.connection_pool,  # type: ignore[arg-type]  # limits types options narrowly
        )
        self._limiter = MovingWindowRateLimiter(self._storage)

    @staticmethod
    def _key(username: str) -> str:
        return f"login:failures:{username.strip().lower()[:64]}"

    async def wait_seconds(self, username: str, address: str, policy: SecuritySettings, now: float) -> float:
        """How long this attempt must wait (0: it may go ahead)."""
        waits = [0.0]
        for limit in parse_many(policy.address_failure_limits):
            if not await self._limiter.test(limit, _ADDRESS_SCOPE, address):
                stats = await self._limiter.get_window_stats(limit, _ADDRESS_SCOPE, address)
                waits.append(max(1.0, stats.reset_time - now))
        record = await self.redis.hgetall(self._key(username))
        count = int(record.get(b"count", 0))
        last = float(record.get(b"last", 0))
        locked_until = float(record.get(b"locked_until", 0))
        if locked_until:
            if locked_until > now:
                waits.append(locked_until - now)
            else:
                await self.redis.delete(self._key(username))  # the lock has run out: a fresh start
        elif count >= policy.throttle_after_failures:
            delay = min(_MAX_DELAY, 2.0 ** (count - policy.throttle_after_failures))
            waits.append(last + delay - now)
        return max(waits)

    async def failed(self, username: str, address: str, policy: SecuritySettings, now: float) -> None:
        for limit in parse_many(policy.address_failure_limits):
            await self._limiter.hit(limit, _ADDRESS_SCOPE, address)
        key = self._key(username)
        count = await self.redis.hincrby(key, "count", 1)
        await self.redis.hset(key, "last", now)
        if count >= policy.lockout_threshold:
            await self.redis.hset(key, "locked_until", now + policy.lockout_minutes * 60)
        await self.redis.expire(key, math.ceil(policy.lockout_minutes * 60 + _MAX_DELAY))

    async def succeeded(self, username: str) -> None:
        await self.redis.delete(self._key(username))

    async def locked_until(self, username: str) -> float | None:
        value = await self.redis.hget(self._key(username), "locked_until")
        return float(value) if value else None
