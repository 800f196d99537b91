"""Contract of RateLimiter: a rolling window shared by every instance (the venue's rule).

Bucket "orders" admits 5 units in any 0.25 s, "other" 2 in any 0.4 s (see conftest).
"""

from __future__ import annotations

import asyncio
import time

import pytest

from libs.common.stores import RateLimiter, UnknownBucket, throttle

Limiters = tuple[RateLimiter, RateLimiter]
LIMIT, WINDOW_S = 5, 0.25


async def test_the_window_is_admitted_at_once_then_callers_are_told_to_wait(
    rate_limiters: Limiters,
) -> None:
    first, second = rate_limiters

    waits = [await rate_limiters[i % 2].acquire("other") for i in range(2)]
    refused = await second.acquire("other")

    assert waits == [0.0, 0.0]
    assert 0 < refused <= 0.4
    assert await first.acquire("orders") == 0.0  # buckets are separate


async def test_waiting_the_returned_time_admits(rate_limiters: Limiters) -> None:
    limiter, _ = rate_limiters
    for _ in range(LIMIT):
        await limiter.acquire("orders")

    wait_s = await limiter.acquire("orders", cost=2)
    await asyncio.sleep(wait_s + 0.005)

    assert await limiter.acquire("orders", cost=2) == 0.0


async def test_no_rolling_window_ever_holds_more_than_the_limit(
    rate_limiters: Limiters,
) -> None:
    admitted: list[float] = []
    deadline = time.monotonic() + 0.8

    async def hammer(limiter: RateLimiter) -> None:
        while time.monotonic() < deadline:
            wait_s = await limiter.acquire("orders")
            if wait_s == 0:
                admitted.append(time.monotonic())
            else:
                await asyncio.sleep(min(wait_s, 0.01))

    await asyncio.gather(*(hammer(rate_limiters[i % 2]) for i in range(10)))

    admitted.sort()
    busiest = max(
        sum(1 for t in admitted if start <= t < start + WINDOW_S - 0.01) for start in admitted
    )
    assert busiest <= LIMIT  # a token bucket with a burst would let 2 x LIMIT through
    assert len(admitted) >= LIMIT * 3  # and it does admit, window after window


async def test_a_batch_costs_one_unit_per_order_and_never_more_than_the_window(
    rate_limiters: Limiters,
) -> None:
    limiter, other = rate_limiters
    assert await limiter.acquire("orders", cost=4) == 0.0
    assert await other.acquire("orders", cost=2) > 0  # 4 + 2 > 5
    with pytest.raises(ValueError, match=r"expected 1\.\.5"):
        await limiter.acquire("orders", cost=6)


async def test_a_bucket_the_venue_blocked_admits_nothing_until_the_reset(
    rate_limiters: Limiters,
) -> None:
    first, second = rate_limiters
    until_ms = int(time.time() * 1000) + 300
    await first.block("orders", until_ms)

    wait_s = await second.acquire("orders")

    left_s = until_ms / 1000 - time.time()  # what is left of the block now, after the call
    assert 0 < wait_s <= 0.3 and wait_s >= left_s - 0.01
    await asyncio.sleep(wait_s + 0.01)
    assert await second.acquire("orders") == 0.0


async def test_throttle_returns_once_admitted(rate_limiters: Limiters) -> None:
    limiter, _ = rate_limiters
    start = time.monotonic()

    for _ in range(LIMIT + 1):
        await throttle(limiter, "orders")

    assert time.monotonic() - start >= WINDOW_S * 0.9


async def test_throttle_gives_up_at_once_when_admission_would_come_after_the_deadline(
    rate_limiters: Limiters,
) -> None:
    limiter, _ = rate_limiters
    for _ in range(LIMIT):
        assert await throttle(limiter, "orders")
    start = time.monotonic()

    admitted = await throttle(limiter, "orders", until=start + WINDOW_S / 5)
    past = await throttle(limiter, "other", until=start - 1)

    assert (admitted, past) == (False, False)
    assert time.monotonic() - start < WINDOW_S / 5
    assert await limiter.acquire("other", cost=2) == 0.0  # the late caller took nothing
    assert await throttle(limiter, "orders", until=time.monotonic() + WINDOW_S * 2)


async def test_unknown_bucket_is_refused(rate_limiters: Limiters) -> None:
    with pytest.raises(UnknownBucket, match="nope"):
        await rate_limiters[0].acquire("nope")
