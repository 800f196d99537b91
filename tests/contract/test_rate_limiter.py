"""Contract of RateLimiter: a token bucket shared by every instance.

Bucket "orders" refills 20 tokens per second up to a burst of 5, "other" 5 per second up to 2
(see conftest).
"""

from __future__ import annotations

import asyncio
import time

import pytest

from libs.common.stores import RateLimiter, UnknownBucket, throttle

Limiters = tuple[RateLimiter, RateLimiter]
RATE, BURST = 20, 5


async def test_burst_is_admitted_at_once_then_callers_are_told_to_wait(
    rate_limiters: Limiters,
) -> None:
    first, second = rate_limiters

    waits = [await rate_limiters[i % 2].acquire("other") for i in range(2)]
    refused = await second.acquire("other")

    assert waits == [0.0, 0.0]
    assert 0 < refused <= 1 / 5
    assert await first.acquire("orders") == 0.0  # buckets are separate


async def test_waiting_the_returned_time_admits(rate_limiters: Limiters) -> None:
    limiter, _ = rate_limiters
    for _ in range(BURST):
        await limiter.acquire("orders")

    wait_s = await limiter.acquire("orders", cost=2)
    await asyncio.sleep(wait_s + 0.005)

    assert await limiter.acquire("orders", cost=2) == 0.0


async def test_concurrent_callers_are_admitted_at_most_rate_times_window_plus_burst(
    rate_limiters: Limiters,
) -> None:
    admitted = 0
    start = time.monotonic()
    deadline = start + 0.5

    async def hammer(limiter: RateLimiter) -> None:
        nonlocal admitted
        while time.monotonic() < deadline:
            wait_s = await limiter.acquire("orders")
            if wait_s == 0:
                admitted += 1
            else:
                await asyncio.sleep(min(wait_s, 0.01))

    await asyncio.gather(*(hammer(rate_limiters[i % 2]) for i in range(10)))

    elapsed = time.monotonic() - start
    assert BURST < admitted <= BURST + RATE * elapsed + 1


async def test_throttle_returns_once_admitted(rate_limiters: Limiters) -> None:
    limiter, _ = rate_limiters
    start = time.monotonic()

    for _ in range(BURST + 2):
        await throttle(limiter, "orders")

    assert time.monotonic() - start >= 2 / RATE * 0.9


async def test_unknown_bucket_is_refused(rate_limiters: Limiters) -> None:
    with pytest.raises(UnknownBucket, match="nope"):
        await rate_limiters[0].acquire("nope")


@pytest.mark.parametrize("cost", [0, BURST + 1])
async def test_cost_outside_one_to_burst_is_refused(rate_limiters: Limiters, cost: int) -> None:
    with pytest.raises(ValueError, match="cost"):
        await rate_limiters[0].acquire("orders", cost=cost)
