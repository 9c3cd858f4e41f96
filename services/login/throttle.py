"""Slowing down password guessing, shared by every login node through Redis.

Every password check (a login, and the re-authentication of a password or 2FA change)
first *reserves* an attempt, in one Lua script, so concurrent requests cannot all pass a
check made before any of them is counted: a reservation counts as a failure until a
success settles it. What is counted (the policy, see SECURITY.md):

- Per (account, address): after `throttle_after_failures` failures each further attempt
  waits twice as long as the one before (capped at five minutes); at
  `lockout_threshold` failures that address is locked out of that account for
  `lockout_minutes`, or until an admin unlocks the account. Only the guessing address
  is slowed down.
- Per account: at most `account_failures_per_hour` failures in any hour from addresses
  it has not logged in from, and as many again from the addresses it has (the last
  `KNOWN_ADDRESSES` of them, for `KNOWN_DAYS`). However many requests run at once, an
  account evaluates at most twice that many wrong passwords an hour, and a stranger who
  fills the first budget does not lock the owner out of their known address.
- Per address, across accounts: failures in moving windows (`address_failure_limits`,
  e.g. "30 per minute; 200 per hour").

Unknown usernames are counted exactly like known ones, so answers never reveal which
exist. A success clears its (account, address) record and makes the address known; a
right password without its one-time code still counts for (account, address) only.
The clock is the caller's (`now`), so tests inject time instead of racing it.
"""

from __future__ import annotations

import math
import secrets
from dataclasses import dataclass

from limits import parse_many
from redis.asyncio import Redis

from cluster.settings import SecuritySettings

MAX_DELAY_SECONDS = 300.0
ACCOUNT_WINDOW_SECONDS = 3600.0
KNOWN_ADDRESSES = 10
KNOWN_DAYS = 90

# KEYS: pairs (hash address -> "count last locked_until"), known (hash address -> last
# success), strangers' and known addresses' hourly buckets (sorted sets of attempt ids by
# time), then one sorted set per address window.
# ARGV: now, attempt id, address, throttle_after, lockout_at, lockout_seconds,
# account_limit, account_window, max_delay, then (amount, seconds) per address window.
_RESERVE = """
local now, id, addr = tonumber(ARGV[1]), ARGV[2], ARGV[3]
local after, lock_at, lock_for = tonumber(ARGV[4]), tonumber(ARGV[5]), tonumber(ARGV[6])
local limit, window, max_delay = tonumber(ARGV[7]), tonumber(ARGV[8]), tonumber(ARGV[9])
local wait = 0
local count, last, locked = 0, 0, 0
local record = redis.call('HGET', KEYS[1], addr)
if record then
  local c, l, u = string.match(record, '(%S+) (%S+) (%S+)')
  count, last, locked = tonumber(c), tonumber(l), tonumber(u)
end
if locked > 0 then
  if locked > now then wait = math.max(wait, locked - now) else count, last, locked = 0, 0, 0 end
elseif count >= after then
  local ready = last + math.min(max_delay, 2 ^ (count - after))
  if ready > now then wait = math.max(wait, ready - now) end
end
local bucket = KEYS[3]
if redis.call('HEXISTS', KEYS[2], addr) == 1 then bucket = KEYS[4] end
local function full(key, amount, seconds)
  redis.call('ZREMRANGEBYSCORE', key, '-inf', now - seconds)
  if redis.call('ZCARD', key) >= amount then
    local oldest = redis.call('ZRANGE', key, 0, 0, 'WITHSCORES')
    wait = math.max(wait, tonumber(oldest[2]) + seconds - now, 0.001)
  end
end
full(bucket, limit, window)
local windows = #KEYS - 4
for i = 1, windows do full(KEYS[4 + i], tonumber(ARGV[8 + 2 * i]), tonumber(ARGV[9 + 2 * i])) end
if wait > 0 then return {0, string.format('%.17g', wait)} end
count, last = count + 1, now
if count >= lock_at then locked = now + lock_for end
redis.call('HSET', KEYS[1], addr, string.format('%d %.17g %.17g', count, last, locked))
redis.call('EXPIRE', KEYS[1], math.ceil(math.max(window, lock_for + max_delay)))
redis.call('ZADD', bucket, now, id)
redis.call('EXPIRE', bucket, math.ceil(window))
for i = 1, windows do
  redis.call('ZADD', KEYS[4 + i], now, id)
  redis.call('EXPIRE', KEYS[4 + i], math.ceil(tonumber(ARGV[9 + 2 * i])))
end
return {1, bucket}
"""

# KEYS: pairs, known, bucket, address windows...; ARGV: now, attempt id, address, known cap, known seconds.
_SUCCEED = """
local now, id, addr = tonumber(ARGV[1]), ARGV[2], ARGV[3]
redis.call('HDEL', KEYS[1], addr)
for i = 3, #KEYS do redis.call('ZREM', KEYS[i], id) end
redis.call('HSET', KEYS[2], addr, ARGV[1])
local known = redis.call('HGETALL', KEYS[2])
if #known / 2 > tonumber(ARGV[4]) then
  local oldest, at = nil, nil
  for i = 1, #known, 2 do
    local t = tonumber(known[i + 1])
    if at == nil or t < at then oldest, at = known[i], t end
  end
  redis.call('HDEL', KEYS[2], oldest)
end
redis.call('EXPIRE', KEYS[2], tonumber(ARGV[5]))
return 1
"""


@dataclass(frozen=True)
class Attempt:
    """A reserved attempt: `wait` > 0 means refused (retry after that many seconds)."""

    wait: float
    account: str = ""
    address: str = ""
    id: str = ""
    keys: tuple[str, ...] = ()


class LoginThrottle:
    def __init__(self, redis: Redis) -> None:
        self.redis = redis
        self._reserve = redis.register_script(_RESERVE)
        self._succeed = redis.register_script(_SUCCEED)

    @staticmethod
    def account(username: str) -> str:
        return username.strip().lower()[:64]

    @staticmethod
    def _account_keys(account: str) -> tuple[str, str, str, str]:
        base = f"login:throttle:{account}"
        return f"{base}:pairs", f"{base}:known", f"{base}:strangers", f"{base}:known-bucket"

    async def reserve(self, username: str, address: str, policy: SecuritySettings, now: float) -> Attempt:
        """Reserve one password check for `username` from `address`, or say how long to wait."""
        account = self.account(username)
        windows = [(limit.amount, limit.get_expiry()) for limit in parse_many(policy.address_failure_limits)]
        window_keys = [f"login:throttle:address:{address}:{seconds}" for _, seconds in windows]
        attempt_id = secrets.token_hex(8)
        keys = [*self._account_keys(account), *window_keys]
        args: list[str | float | int] = [
            repr(now),
            attempt_id,
            address,
            policy.throttle_after_failures,
            policy.lockout_threshold,
            policy.lockout_minutes * 60,
            policy.account_failures_per_hour,
            ACCOUNT_WINDOW_SECONDS,
            MAX_DELAY_SECONDS,
        ]
        for amount, seconds in windows:
            args += [amount, seconds]
        granted, detail = await self._reserve(keys=keys, args=args)
        if not int(granted):
            return Attempt(wait=max(float(detail), 0.001))  # refused, however short the wait
        bucket = detail.decode() if isinstance(detail, bytes) else str(detail)
        pairs, known = keys[0], keys[1]
        return Attempt(0.0, account, address, attempt_id, (pairs, known, bucket, *window_keys))

    async def succeeded(self, attempt: Attempt, now: float) -> None:
        """The checked password (and code) were right: the attempt is not a failure after all."""
        await self._succeed(
            keys=list(attempt.keys),
            args=[repr(now), attempt.id, attempt.address, KNOWN_ADDRESSES, KNOWN_DAYS * 86_400],
        )

    async def unlock(self, username: str) -> None:
        """An admin clears an account's failure records (its known addresses stay known)."""
        pairs, _, strangers, known_bucket = self._account_keys(self.account(username))
        await self.redis.delete(pairs, strangers, known_bucket)

    async def password_only(self, attempt: Attempt) -> None:
        """The password was right but the one-time code missing: not a guess at the password,
        so it leaves the hourly and per-address counts; it still counts for (account, address),
        so a thief who has the password cannot reset the delays that slow down guessing codes."""
        await self.redis.zrem(attempt.keys[2], attempt.id)
        for key in attempt.keys[3:]:
            await self.redis.zrem(key, attempt.id)


def retry_after(wait: float) -> str:
    return str(max(1, math.ceil(wait)))
