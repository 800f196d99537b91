"""The idempotency store: "has this key been handled?", shared by every instance.

A handler claims a key (an event id, a command id) before doing its non-idempotent work;
only the instance whose claim succeeded does it. A handler that fails after claiming
calls `forget`, so that a retry can claim again.
"""

from __future__ import annotations

import math
from typing import Protocol

from redis.asyncio import Redis

from libs.common.stores._support import Clock, monotonic
from libs.common.topology import idempotency_key


class IdempotencyStore(Protocol):
    """Keys claimed once per namespace, remembered for a TTL."""

    async def claim(self, namespace: str, key: str, ttl_s: float) -> bool:
        """Claim `key` for `ttl_s` seconds; True for the one caller that got it first."""
        ...

    async def seen(self, namespace: str, key: str) -> bool:
        """True while a claim of `key` is remembered."""
        ...

    async def forget(self, namespace: str, key: str) -> None:
        """Drop the claim of `key` (e.g. its handling failed), so that it can be claimed again."""
        ...


def ttl_ms(ttl_s: float) -> int:
    """A TTL in whole milliseconds, at least 1; raises for a non-positive TTL."""
    if not ttl_s > 0:
        raise ValueError(f"ttl_s {ttl_s} is invalid: expected > 0")
    return max(1, math.ceil(ttl_s * 1000))


class InMemoryIdempotencyStore:
    """The IdempotencyStore fake: a dict of expiry times on `clock`."""

    def __init__(self, *, clock: Clock = monotonic) -> None:
        self._expiry: dict[tuple[str, str], float] = {}
        self._clock = clock

    async def claim(self, namespace: str, key: str, ttl_s: float) -> bool:
        ttl = ttl_ms(ttl_s) / 1000
        if await self.seen(namespace, key):
            return False
        self._expiry[(namespace, key)] = self._clock() + ttl
        return True

    async def seen(self, namespace: str, key: str) -> bool:
        return self._expiry.get((namespace, key), -math.inf) > self._clock()

    async def forget(self, namespace: str, key: str) -> None:
        self._expiry.pop((namespace, key), None)


class RedisIdempotencyStore:
    """IdempotencyStore over Redis: `idempotency_key(namespace, key)` set with NX and a TTL.

    SET NX is one atomic command: of N instances claiming at once, exactly one succeeds.
    """

    def __init__(self, redis: Redis) -> None:
        self._redis = redis

    async def claim(self, namespace: str, key: str, ttl_s: float) -> bool:
        name = idempotency_key(namespace, key)
        return bool(await self._redis.set(name, "1", nx=True, px=ttl_ms(ttl_s)))

    async def seen(self, namespace: str, key: str) -> bool:
        return bool(await self._redis.exists(idempotency_key(namespace, key)))

    async def forget(self, namespace: str, key: str) -> None:
        await self._redis.delete(idempotency_key(namespace, key))
