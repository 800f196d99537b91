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
from libs.common.stores.risk_state import cooldown_cutoff, stored_limits


class ManualClock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


def test_stored_limits_drop_invalid_values_field_by_field_instead_of_failing(
    caplog: pytest.LogCaptureFixture,
) -> None:
    desk = {"max_inventory_usd": "1E-25", "max_total_notional": "70000", "bogus": "1"}
    symbol = {"max_order_notional": "1e12", "max_open_orders_per_symbol": "7"}
    limits = stored_limits(desk, symbol)
    assert limits.max_inventory_usd == Decimal(10_000)  # the default: the stored one is invalid
    assert limits.max_total_notional == Decimal(70_000)
    assert limits.max_order_notional == Decimal(5_000)
    assert limits.max_open_orders_per_symbol == 7
    logged = caplog.text
    assert "max_inventory_usd='1E-25' is invalid" in logged
    assert "max_order_notional='1e12' is invalid" in logged
    assert "'bogus' is not a limit" in logged


def test_cooldown_cutoff_is_none_when_forced_or_without_cooldown() -> None:
    assert cooldown_cutoff(100, 30, force=False) == 70
    assert cooldown_cutoff(100, 30, force=True) is None
    assert cooldown_cutoff(100, 0, force=False) is None
    with pytest.raises(ValueError, match="cooldown_ns"):
        cooldown_cutoff(100, -1, force=False)


@pytest.mark.parametrize(("limit", "window"), [(0, 1.0), (-1, 1.0), (1, 0.0), (1, float("inf"))])
def test_rate_limit_refuses_non_positive_or_infinite_settings(limit: int, window: float) -> None:
    with pytest.raises(ValueError, match="rate limit"):
        RateLimit(limit, window)


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


async def test_fake_rate_limiter_window_rolls_on_its_clock() -> None:
    clock = ManualClock()
    limiter = InMemoryRateLimiter({}, default=RateLimit(limit=2, window_s=1.0), clock=clock)

    assert await limiter.acquire("any") == 0.0
    clock.now += 0.4
    assert await limiter.acquire("any") == 0.0
    assert await limiter.acquire("any") == pytest.approx(0.6)  # the first leaves at 1.0
    clock.now += 0.6
    assert await limiter.acquire("any") == 0.0
