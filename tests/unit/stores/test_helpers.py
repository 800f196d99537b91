"""Pure helpers of the stores, and the fakes' TTLs driven by a manual clock."""

from __future__ import annotations

from decimal import Decimal

import pytest

from libs.common.domain.enums import Side
from libs.common.domain.ids import ExecId, Symbol
from libs.common.domain.positions import Fill
from libs.common.stores import (
    InMemoryIdempotencyStore,
    InMemoryLeaseStore,
    InMemoryPositionStore,
    InMemoryRateLimiter,
    RateLimit,
)
from libs.common.stores.risk_state import cooldown_cutoff, from_units, to_units


class ManualClock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


def test_to_units_rounds_reservations_up_and_limits_down() -> None:
    assert to_units(Decimal("0.0000001"), round_up=True) == 1
    assert to_units(Decimal("0.0000019"), round_up=False) == 1
    assert to_units(Decimal("12.345678"), round_up=True) == 12_345_678
    assert from_units(12_345_678) == Decimal("12.345678")


def test_to_units_refuses_amounts_beyond_exact_range() -> None:
    with pytest.raises(ValueError, match="out of range"):
        to_units(Decimal(10**10), round_up=True)


def test_cooldown_cutoff_is_none_when_forced_or_without_cooldown() -> None:
    assert cooldown_cutoff(100, 30, force=False) == 70
    assert cooldown_cutoff(100, 30, force=True) is None
    assert cooldown_cutoff(100, 0, force=False) is None
    with pytest.raises(ValueError, match="cooldown_ns"):
        cooldown_cutoff(100, -1, force=False)


@pytest.mark.parametrize(("rate", "burst"), [(0, 1), (-1, 1), (float("inf"), 1), (1, 0)])
def test_rate_limit_refuses_non_positive_or_infinite_settings(rate: float, burst: int) -> None:
    with pytest.raises(ValueError, match="rate limit"):
        RateLimit(rate, burst)


async def test_fake_lease_expires_on_its_clock() -> None:
    clock = ManualClock()
    leases = InMemoryLeaseStore(clock=clock)
    await leases.acquire("l", "a", ttl_ms=1000)

    clock.now += 0.999
    assert await leases.holder("l") == "a"
    clock.now += 0.001
    assert await leases.acquire("l", "b", ttl_ms=1000) is True


async def test_fake_claim_expires_on_its_clock() -> None:
    clock = ManualClock()
    store = InMemoryIdempotencyStore(clock=clock)
    await store.claim("ns", "k", ttl_s=10)

    clock.now += 10
    assert await store.claim("ns", "k", ttl_s=10) is True


async def test_fake_position_forgets_exec_ids_after_their_ttl() -> None:
    clock = ManualClock()
    store = InMemoryPositionStore(clock=clock, seen_ttl_s=60)
    fill = Fill(
        exec_id=ExecId("e1"), symbol=Symbol("BTCUSDT"), side=Side.BUY,
        qty=Decimal(1), price=Decimal(100), ts_ns=1,
    )  # fmt: skip
    await store.apply_fill(fill)

    assert (await store.apply_fill(fill))[1] is False
    clock.now += 60
    assert (await store.apply_fill(fill))[1] is True


async def test_fake_rate_limiter_refills_on_its_clock() -> None:
    clock = ManualClock()
    limiter = InMemoryRateLimiter({}, default=RateLimit(rate_per_s=2, burst=1), clock=clock)

    assert await limiter.acquire("any") == 0.0
    assert await limiter.acquire("any") == pytest.approx(0.5)
    clock.now += 0.5
    assert await limiter.acquire("any") == 0.0
