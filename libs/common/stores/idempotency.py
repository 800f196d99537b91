"""The idempotency store: "has this key been handled?", shared by every instance.

A handler claims a key (an event id, a command id) before doing its non-idempotent work;
only the instance whose claim succeeded does it. A handler that fails after claiming
calls `forget`, so that a retry can claim again.

A `FirstValueStore` remembers, with the claim, the value a key was first used with, so that
a repeat can be told apart from another request under the same key (the gateway keeps the
terms each clientOrderId was first placed with).
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from typing import Protocol

from redis.asyncio import Redis

from libs.common.stores._support import Clock, monotonic, text
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


class FirstValueStore(Protocol):
    """The first value given for each key, remembered for a TTL: "was this key first used
    with this value?" (e.g. the terms an order's clientOrderId was first placed with)."""

    async def keep_first(
        self, namespace: str, items: Sequence[tuple[str, str]], ttl_s: float
    ) -> list[str | None]:
        """For each (key, value): keep `value` if `key` holds none; return None where this
        call kept it, else the value the key holds (which may equal `value`)."""
        ...

    async def forget_many(self, namespace: str, keys: Sequence[str]) -> None:
        """Drop the values of `keys` (e.g. their request was refused after all)."""
        ...


class InMemoryFirstValueStore:
    """The FirstValueStore fake: a dict of (value, expiry) on `clock`."""

    def __init__(self, *, clock: Clock = monotonic) -> None:
        self._values: dict[tuple[str, str], tuple[str, float]] = {}
        self._clock = clock

    async def keep_first(
        self, namespace: str, items: Sequence[tuple[str, str]], ttl_s: float
    ) -> list[str | None]:
        ttl, now = ttl_ms(ttl_s) / 1000, self._clock()
        held: list[str | None] = []
        for key, value in items:
            kept = self._values.get((namespace, key))
            if kept is not None and kept[1] > now:
                held.append(kept[0])
            else:
                self._values[(namespace, key)] = (value, now + ttl)
                held.append(None)
        return held

    async def forget_many(self, namespace: str, keys: Sequence[str]) -> None:
        for key in keys:
            self._values.pop((namespace, key), None)


class RedisFirstValueStore:
    """FirstValueStore over Redis: `SET idempotency_key(namespace, key) value NX GET PX ttl`
    per item (Redis >= 7.0), pipelined. Each SET is atomic: of N callers keeping one key at
    once, exactly one keeps its value and the others are told it."""

    def __init__(self, redis: Redis) -> None:
        self._redis = redis

    async def keep_first(
        self, namespace: str, items: Sequence[tuple[str, str]], ttl_s: float
    ) -> list[str | None]:
        if not items:
            return []
        px = ttl_ms(ttl_s)
        async with self._redis.pipeline(transaction=False) as pipe:
            for key, value in items:
                pipe.set(idempotency_key(namespace, key), value, nx=True, get=True, px=px)
            replies = await pipe.execute()
        return [None if reply is None else text(reply) for reply in replies]

    async def forget_many(self, namespace: str, keys: Sequence[str]) -> None:
        if keys:
            await self._redis.delete(*(idempotency_key(namespace, key) for key in keys))
