"""A rate limiter shared by every instance, in the venue's own terms: a rolling window.

Bybit counts requests per UID per endpoint over a rolling second, and refuses the next one
with 10006. A token bucket with a burst does not match that: a burst of 20 lets 20 orders
go in one instant where the venue allows 10 in any second. So each bucket admits at most
`limit` units (a batch costs one per order) in any `window_s`: `acquire` takes the units
only when they all fit (returns 0.0); otherwise it takes nothing and says how long until
they will. A caller that gives up (or crashes) while waiting holds nothing back.

The venue's own word wins: when its headers say the quota is used up (X-Bapi-Limit-Status
0, or a 10006 with X-Bapi-Limit-Reset-Timestamp), `block` keeps the bucket closed until the
reset, for every instance.

    await throttle(limiter, "bybit:linear:batch", cost=len(orders))   # sleeps until admitted
"""

from __future__ import annotations

import asyncio
import math
import time
from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass
from typing import Protocol

from redis.asyncio import Redis

from libs.common.stores._support import Clock, LuaScript, ScriptArg, monotonic
from libs.common.stores.errors import UnknownBucket
from libs.common.topology import rate_limit_block_key, rate_limit_key


@dataclass(frozen=True, slots=True)
class RateLimit:
    """At most `limit` units in any rolling `window_s`."""

    limit: int
    window_s: float = 1.0

    def __post_init__(self) -> None:
        if self.limit < 1 or not (self.window_s > 0 and math.isfinite(self.window_s)):
            raise ValueError(
                f"rate limit {self.limit} per {self.window_s} s is invalid: expected a limit "
                ">= 1 and a positive finite window"
            )


class RateLimiter(Protocol):
    """Rolling windows by bucket name."""

    async def acquire(self, bucket: str, cost: int = 1) -> float:
        """Take `cost` units and return 0.0, or take none and return the seconds to wait."""
        ...

    async def block(self, bucket: str, until_ms: int) -> None:
        """Admit nothing from `bucket` before the wall-clock `until_ms` (the venue said so)."""
        ...


async def throttle(
    limiter: RateLimiter,
    bucket: str,
    cost: int = 1,
    *,
    until: float | None = None,
    sleep: Callable[[float], Awaitable[None]] = asyncio.sleep,
) -> bool:
    """Wait until `bucket` admits `cost` units, then return True with them taken. With
    `until` (a `time.monotonic()` deadline): return False, with nothing taken, once it has
    passed or as soon as the bucket would admit them only after it."""
    while until is None or time.monotonic() < until:
        wait_s = await limiter.acquire(bucket, cost)
        if wait_s <= 0:
            return True
        if until is not None and time.monotonic() + wait_s > until:
            return False
        await sleep(wait_s)
    return False


class _Buckets:
    """The configured limits, looked up and checked the same way by both limiters."""

    def __init__(self, limits: Mapping[str, RateLimit], default: RateLimit | None) -> None:
        self._limits = dict(limits)
        self._default = default

    def limit(self, bucket: str, cost: int) -> RateLimit:
        limit = self._limits.get(bucket, self._default)
        if limit is None:
            raise UnknownBucket(f"rate-limit bucket {bucket!r} has no configured rate")
        if not 1 <= cost <= limit.limit:
            raise ValueError(
                f"cost {cost} for bucket {bucket!r} is invalid: expected 1..{limit.limit} "
                "(the units its window admits)"
            )
        return limit


class InMemoryRateLimiter:
    """The RateLimiter fake: rolling windows on `clock` (monotonic seconds)."""

    def __init__(
        self,
        limits: Mapping[str, RateLimit],
        *,
        default: RateLimit | None = None,
        clock: Clock = monotonic,
    ) -> None:
        self._buckets = _Buckets(limits, default)
        self._sent: dict[str, list[float]] = {}
        self._blocked: dict[str, float] = {}
        self._clock = clock

    async def acquire(self, bucket: str, cost: int = 1) -> float:
        limit = self._buckets.limit(bucket, cost)
        now = self._clock()
        blocked = self._blocked.get(bucket, 0.0) - now
        if blocked > 0:
            return blocked
        sent = [t for t in self._sent.get(bucket, []) if t > now - limit.window_s]
        self._sent[bucket] = sent
        over = len(sent) + cost - limit.limit
        if over > 0:
            return sent[over - 1] + limit.window_s - now
        sent += [now] * cost
        return 0.0

    async def block(self, bucket: str, until_ms: int) -> None:
        wait_s = until_ms / 1000 - time.time()
        if wait_s > 0:
            self._blocked[bucket] = max(self._blocked.get(bucket, 0.0), self._clock() + wait_s)


# A rolling window on the Redis clock. KEYS[1] the bucket's sorted set of admitted units by
# time (us), KEYS[2] its block (the wall ms it is closed until). ARGV: limit, window us, cost,
# a unique prefix for the members. Drop the units older than the window; if `cost` more fit,
# add them and return 0, else add nothing and return the microseconds until they will fit
# (the oldest ones leave the window). Check-and-add is one step, so N instances never pass
# the limit together, and TIME is the server's clock, so theirs do not matter.
_ACQUIRE = LuaScript(
    """
local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000000 + tonumber(t[2])
local until_ms = tonumber(redis.call('GET', KEYS[2]) or '0')
if until_ms * 1000 > now then return math.ceil(until_ms * 1000 - now) end
local limit, window, cost = tonumber(ARGV[1]), tonumber(ARGV[2]), tonumber(ARGV[3])
redis.call('ZREMRANGEBYSCORE', KEYS[1], '-inf', string.format('%.0f', now - window))
local count = redis.call('ZCARD', KEYS[1])
local over = count + cost - limit
if over > 0 then
  local oldest = redis.call('ZRANGE', KEYS[1], over - 1, over - 1, 'WITHSCORES')
  return math.max(1, math.ceil(tonumber(oldest[2]) + window - now))
end
local score = string.format('%.0f', now)
local args = {}
for i = 1, cost do  -- one ZADD per 4000 units (Lua's unpack stops near 8000 values)
  args[#args + 1] = score
  args[#args + 1] = ARGV[4] .. ':' .. i
  if #args == 8000 or i == cost then
    redis.call('ZADD', KEYS[1], unpack(args))
    args = {}
  end
end
redis.call('PEXPIRE', KEYS[1], math.ceil(window / 1000) + 1000)
return 0
"""
)


class RedisRateLimiter:
    """RateLimiter over Redis: `rate_limit_key(bucket)`, one script call per acquire."""

    def __init__(
        self,
        redis: Redis,
        limits: Mapping[str, RateLimit],
        *,
        default: RateLimit | None = None,
    ) -> None:
        self._redis = redis
        self._buckets = _Buckets(limits, default)
        self._seq = 0

    async def acquire(self, bucket: str, cost: int = 1) -> float:
        limit = self._buckets.limit(bucket, cost)
        self._seq += 1
        unique = f"{id(self):x}-{self._seq}-{time.monotonic_ns()}"
        args: list[ScriptArg] = [limit.limit, int(limit.window_s * 1_000_000), cost, unique]
        keys = [rate_limit_key(bucket), rate_limit_block_key(bucket)]
        wait_us = int(await _ACQUIRE(self._redis, keys, args))
        return wait_us / 1_000_000

    async def block(self, bucket: str, until_ms: int) -> None:
        ttl_ms = until_ms - int(time.time() * 1000)
        if ttl_ms > 0:
            await self._redis.set(rate_limit_block_key(bucket), str(until_ms), px=ttl_ms + 1000)
