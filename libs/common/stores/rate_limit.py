"""A rate limiter shared by every instance: token buckets, e.g. the venue's order quota.

Each bucket refills at `rate_per_s` tokens per second up to `burst`. `acquire` takes tokens
only when they are all there (returns 0.0); otherwise it takes nothing and says how long to
wait. A caller that gives up (or crashes) while waiting therefore holds nothing back.

    await throttle(limiter, "bybit:linear:create")   # sleeps until admitted
"""

from __future__ import annotations

import asyncio
import math
from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass
from typing import Protocol

from redis.asyncio import Redis

from libs.common.stores._support import Clock, LuaScript, ScriptArg, monotonic
from libs.common.stores.errors import UnknownBucket
from libs.common.topology import rate_limit_key


@dataclass(frozen=True, slots=True)
class RateLimit:
    """A bucket's refill rate (tokens per second) and capacity."""

    rate_per_s: float
    burst: int

    def __post_init__(self) -> None:
        if not (self.rate_per_s > 0 and math.isfinite(self.rate_per_s)) or self.burst < 1:
            raise ValueError(
                f"rate limit {self.rate_per_s}/s burst {self.burst} is invalid: "
                "expected a positive finite rate and burst >= 1"
            )


class RateLimiter(Protocol):
    """Token buckets by name."""

    async def acquire(self, bucket: str, cost: int = 1) -> float:
        """Take `cost` tokens and return 0.0, or take none and return the seconds to wait."""
        ...


async def throttle(
    limiter: RateLimiter,
    bucket: str,
    cost: int = 1,
    *,
    sleep: Callable[[float], Awaitable[None]] = asyncio.sleep,
) -> None:
    """Wait until `bucket` admits `cost` tokens, then return with them taken."""
    while (wait_s := await limiter.acquire(bucket, cost)) > 0:
        await sleep(wait_s)


class _Buckets:
    """The configured limits, looked up and checked the same way by both limiters."""

    def __init__(self, limits: Mapping[str, RateLimit], default: RateLimit | None) -> None:
        self._limits = dict(limits)
        self._default = default

    def limit(self, bucket: str, cost: int) -> RateLimit:
        limit = self._limits.get(bucket, self._default)
        if limit is None:
            raise UnknownBucket(f"rate-limit bucket {bucket!r} has no configured rate")
        if not 1 <= cost <= limit.burst:
            raise ValueError(
                f"cost {cost} for bucket {bucket!r} is invalid: expected 1..{limit.burst} (burst)"
            )
        return limit


class InMemoryRateLimiter:
    """The RateLimiter fake: token buckets on `clock`."""

    def __init__(
        self,
        limits: Mapping[str, RateLimit],
        *,
        default: RateLimit | None = None,
        clock: Clock = monotonic,
    ) -> None:
        self._buckets = _Buckets(limits, default)
        self._state: dict[str, tuple[float, float]] = {}
        self._clock = clock

    async def acquire(self, bucket: str, cost: int = 1) -> float:
        limit = self._buckets.limit(bucket, cost)
        now = self._clock()
        tokens, ts = self._state.get(bucket, (float(limit.burst), now))
        tokens = min(float(limit.burst), tokens + max(0.0, now - ts) * limit.rate_per_s)
        if tokens < cost:
            return (cost - tokens) / limit.rate_per_s
        self._state[bucket] = (tokens - cost, now)
        return 0.0


# Token bucket on the Redis clock. KEYS[1] bucket hash {tokens, ts_us}; ARGV: rate per second,
# burst, cost. Refill by the time elapsed (capped at burst), then take `cost` if there and
# return 0, else take nothing and return the microseconds until `cost` will be there.
# Refill-check-take is one step, so N instances never share a token, and TIME is the
# server's clock, so theirs do not matter. An idle bucket expires once it would be full
# again (a missing bucket is a full one). Times are stored with %.0f: tostring keeps only
# 14 digits and a microsecond timestamp has 16.
_ACQUIRE = LuaScript(
    """
local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000000 + tonumber(t[2])
local rate = tonumber(ARGV[1]) / 1000000
local burst = tonumber(ARGV[2])
local cost = tonumber(ARGV[3])
local state = redis.call('HMGET', KEYS[1], 'tokens', 'ts_us')
local tokens = tonumber(state[1]) or burst
local ts = tonumber(state[2]) or now
if now > ts then tokens = math.min(burst, tokens + (now - ts) * rate) end
if tokens < cost then return math.ceil((cost - tokens) / rate) end
redis.call('HSET', KEYS[1], 'tokens', string.format('%.17g', tokens - cost),
  'ts_us', string.format('%.0f', now))
redis.call('PEXPIRE', KEYS[1], math.ceil(burst / rate / 1000) + 1000)
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

    async def acquire(self, bucket: str, cost: int = 1) -> float:
        limit = self._buckets.limit(bucket, cost)
        args: list[ScriptArg] = [repr(limit.rate_per_s), limit.burst, cost]
        wait_us = int(await _ACQUIRE(self._redis, [rate_limit_key(bucket)], args))
        return wait_us / 1_000_000
