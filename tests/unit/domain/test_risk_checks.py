"""Pre-trade risk checks: each one allows and denies, with reasons an operator can read."""

from __future__ import annotations

from decimal import Decimal
from typing import Any

import pytest
from pydantic import ValidationError

from libs.common.domain.enums import Side
from libs.common.domain.ids import Symbol
from libs.common.domain.risk_checks import (
    OpenOrder,
    OrderIntent,
    RiskLimits,
    RiskSnapshot,
    TradingState,
    check_daily_loss,
    check_inventory,
    check_open_orders,
    check_order_notional,
    check_order_rate,
    check_price_band,
    check_total_notional,
    check_trading_state,
    daily_loss_breach,
    edge_breach,
    measured_edge_bps,
    run_pre_trade_checks,
)
from libs.common.domain.time import NS_PER_MS, NS_PER_SECOND

D = Decimal
BTC = Symbol("BTCUSDT")
ETH = Symbol("ETHUSDT")
LIMITS = RiskLimits()
NOW = 1_700_000_000 * NS_PER_SECOND


def intent(
    side: Side = Side.BUY, qty: str = "0.01", price: str | None = "50000", **kw: Any
) -> OrderIntent:
    return OrderIntent(
        symbol=kw.pop("symbol", BTC),
        side=side,
        qty=D(qty),
        price=None if price is None else D(price),
        **kw,
    )


def buys(*qtys: str) -> tuple[OpenOrder, ...]:
    return tuple(OpenOrder(side=Side.BUY, leaves_qty=D(q), price=D("50000")) for q in qtys)


def sells(*qtys: str) -> tuple[OpenOrder, ...]:
    return tuple(OpenOrder(side=Side.SELL, leaves_qty=D(q), price=D("50000")) for q in qtys)


def test_risk_limits_defaults_are_the_prototype_values() -> None:
    assert (LIMITS.max_inventory_usd, LIMITS.max_total_notional) == (D(10_000), D(50_000))
    assert LIMITS.edge_freeze_threshold_bps == 200


@pytest.mark.parametrize(
    "fields", [{"max_inventory_usd": D(0)}, {"max_orders_per_second": 0}, {"surprise": 1}]
)
def test_risk_limits_invalid_values_are_refused(fields: dict[str, Any]) -> None:
    with pytest.raises(ValidationError):
        RiskLimits.model_validate(fields)


# -- Trading state -----------------------------------------------------------------------------


def test_trading_state_active_allows_any_order() -> None:
    assert check_trading_state(intent(), TradingState.ACTIVE, D(0), ()) is None


def test_trading_state_frozen_denies_even_a_reducing_order() -> None:
    reason = check_trading_state(intent(Side.SELL), TradingState.FROZEN, D("1"), ())
    assert reason == "trading is FROZEN: no new orders"


def test_trading_state_reducing_allows_an_order_that_reduces() -> None:
    assert check_trading_state(intent(Side.SELL, "0.5"), TradingState.REDUCING, D("1"), ()) is None
    assert check_trading_state(intent(Side.BUY, "1"), TradingState.REDUCING, D("-1"), ()) is None


@pytest.mark.parametrize(
    ("side", "qty", "position", "open_orders"),
    [
        (Side.BUY, "0.5", "1", ()),  # increases a long
        (Side.SELL, "0.5", "0", ()),  # opens from flat
        (Side.SELL, "1.5", "1", ()),  # would flip to short
        (Side.SELL, "0.5", "1", sells("0.6")),  # with resting sells it would flip
    ],
)
def test_trading_state_reducing_denies_an_order_that_does_not_reduce(
    side: Side, qty: str, position: str, open_orders: tuple[OpenOrder, ...]
) -> None:
    reason = check_trading_state(intent(side, qty), TradingState.REDUCING, D(position), open_orders)
    assert reason is not None
    assert reason.startswith(f"trading is REDUCING: {side} {qty} BTCUSDT would not reduce")


# -- Order notional ----------------------------------------------------------------------------


def test_order_notional_within_limit_is_allowed() -> None:
    assert check_order_notional(intent(qty="0.1"), D("50000"), LIMITS) is None


def test_order_notional_above_limit_is_denied_with_numbers() -> None:
    reason = check_order_notional(intent(qty="0.12"), D("50000"), LIMITS)
    assert reason == "order notional BTCUSDT 6000 USD is above the limit 5000 USD"


def test_order_notional_of_a_market_order_uses_the_mark() -> None:
    reason = check_order_notional(intent(qty="0.2", price=None), D("30000"), LIMITS)
    assert reason == "order notional BTCUSDT 6000 USD is above the limit 5000 USD"


# -- Inventory ---------------------------------------------------------------------------------


def test_inventory_within_limit_is_allowed() -> None:
    assert check_inventory(intent(qty="0.1"), D("0.05"), buys("0.02"), D("50000"), LIMITS) is None


def test_inventory_counts_open_same_side_orders_as_filled() -> None:
    reason = check_inventory(intent(qty="0.04"), D("0.1"), buys("0.1"), D("50000"), LIMITS)
    assert reason == "inventory BTCUSDT would be 12000 USD, limit 10000 USD"


def test_inventory_ignores_open_orders_on_the_other_side() -> None:
    assert check_inventory(intent(qty="0.04"), D("0.1"), sells("5"), D("50000"), LIMITS) is None


def test_inventory_allows_reducing_a_position_already_over_the_limit() -> None:
    reason = check_inventory(intent(Side.SELL, "0.01"), D("0.3"), (), D("50000"), LIMITS)
    assert reason is None


def test_inventory_denies_a_flip_that_lands_over_the_limit() -> None:
    reason = check_inventory(intent(Side.SELL, "0.5"), D("0.1"), (), D("50000"), LIMITS)
    assert reason == "inventory BTCUSDT would be 20000 USD, limit 10000 USD"


# -- Total notional ----------------------------------------------------------------------------


def snapshot(**kw: Any) -> RiskSnapshot:
    fields: dict[str, Any] = {"marks": {BTC: D("50000"), ETH: D("3000")}}
    return RiskSnapshot(**(fields | kw))


def test_total_notional_within_limit_is_allowed() -> None:
    snap = snapshot(positions={BTC: D("0.5"), ETH: D("-5")})
    assert check_total_notional(intent(qty="0.01"), snap, LIMITS) is None


def test_total_notional_sums_worst_case_over_symbols() -> None:
    snap = snapshot(positions={BTC: D("0.5"), ETH: D("-5")}, open_orders={ETH: sells("5")})
    # BTC 0.6 * 50000 = 30000, ETH |-5 - 5| * 3000 = 30000
    reason = check_total_notional(intent(qty="0.1"), snap, LIMITS)
    assert reason == "total notional would be 60000 USD, limit 50000 USD"


def test_total_notional_allows_an_order_that_does_not_raise_the_worst_case() -> None:
    snap = snapshot(positions={BTC: D("0.8"), ETH: D("-10")})
    assert check_total_notional(intent(Side.SELL, "0.1"), snap, LIMITS) is None


def test_total_notional_denies_when_a_symbol_with_exposure_has_no_mark() -> None:
    snap = RiskSnapshot(positions={ETH: D("1")}, marks={BTC: D("50000")})
    reason = check_total_notional(intent(), snap, LIMITS)
    assert reason == "total notional: no mark price for ETHUSDT, which has exposure"


def test_total_notional_skips_flat_symbols_without_a_mark() -> None:
    snap = RiskSnapshot(positions={ETH: D("0")}, marks={BTC: D("50000")})
    assert check_total_notional(intent(), snap, LIMITS) is None


# -- Price band --------------------------------------------------------------------------------


def test_price_band_within_band_is_allowed() -> None:
    assert check_price_band(intent(price="52500"), D("50000"), LIMITS) is None


def test_price_band_fat_finger_is_denied_with_distance() -> None:
    reason = check_price_band(intent(Side.SELL, price="5000"), D("50000"), LIMITS)
    assert reason == "price 5000 BTCUSDT is 9000 bps from mark 50000, band 500 bps"


def test_price_band_does_not_apply_to_a_market_order() -> None:
    assert check_price_band(intent(price=None), D("50000"), LIMITS) is None


# -- Open orders and rate ----------------------------------------------------------------------


def test_open_orders_below_limit_is_allowed() -> None:
    assert check_open_orders(intent(), 49, LIMITS) is None


def test_open_orders_at_limit_is_denied() -> None:
    assert check_open_orders(intent(), 50, LIMITS) == "open orders BTCUSDT: 50, limit 50"


def test_order_rate_below_limit_is_allowed() -> None:
    recent = [NOW - i * NS_PER_MS for i in range(9)]
    assert check_order_rate(intent(), recent, NOW, LIMITS) is None


def test_order_rate_at_limit_in_the_last_second_is_denied() -> None:
    recent = [NOW - i * 100 * NS_PER_MS for i in range(10)]
    reason = check_order_rate(intent(), recent, NOW, LIMITS)
    assert reason == "order rate BTCUSDT: 10 orders in the last second, limit 10 per second"


def test_order_rate_forgets_orders_older_than_a_second() -> None:
    recent = [NOW - NS_PER_SECOND - i for i in range(100)]
    assert check_order_rate(intent(), recent, NOW, LIMITS) is None


# -- Daily loss, edge ---------------------------------------------------------------------------


def test_daily_loss_breach_at_and_beyond_the_limit() -> None:
    assert daily_loss_breach(D("-1000"), D("1000"))
    assert daily_loss_breach(D("-1500"), D("1000"))
    assert not daily_loss_breach(D("-999.99"), D("1000"))
    assert not daily_loss_breach(D("500"), D("1000"))


def test_daily_loss_check_denies_new_exposure_after_the_breach() -> None:
    reason = check_daily_loss(intent(), D("-1200.5"), D(0), (), LIMITS)
    assert reason == (
        "daily loss 1200.5 USD reached the limit 1000 USD: only reducing orders are allowed"
    )


def test_daily_loss_check_allows_reducing_after_the_breach_and_anything_before() -> None:
    assert check_daily_loss(intent(Side.SELL), D("-1200"), D("1"), (), LIMITS) is None
    assert check_daily_loss(intent(), D("-999"), D(0), (), LIMITS) is None


def test_edge_breach_is_strictly_below_the_threshold() -> None:
    assert edge_breach(D("150"), D("200"))
    assert not edge_breach(D("200"), D("200"))
    assert not edge_breach(D("250"), D("200"))


@pytest.mark.parametrize(
    ("side", "price", "expected"),
    [
        (Side.BUY, "99.9", "10"),  # bought below mid: earned
        (Side.BUY, "100.1", "-10"),
        (Side.SELL, "100.1", "10"),  # sold above mid: earned
        (Side.SELL, "99.9", "-10"),
        (Side.BUY, "100", "0"),
    ],
)
def test_measured_edge_bps_is_signed_by_side(side: Side, price: str, expected: str) -> None:
    assert measured_edge_bps(side, D(price), D("100")) == D(expected)


def test_measured_edge_bps_refuses_a_non_positive_mid() -> None:
    with pytest.raises(ValueError, match="mid 0 is invalid"):
        measured_edge_bps(Side.BUY, D("1"), D("0"))


# -- All together --------------------------------------------------------------------------------


def test_run_pre_trade_checks_approves_a_normal_order() -> None:
    assert run_pre_trade_checks(intent(), snapshot(), LIMITS, NOW) is None


def test_run_pre_trade_checks_frozen_comes_first() -> None:
    snap = snapshot(trading_state=TradingState.FROZEN, marks={})
    assert run_pre_trade_checks(intent(), snap, LIMITS, NOW) == "trading is FROZEN: no new orders"


def test_run_pre_trade_checks_denies_without_a_mark() -> None:
    reason = run_pre_trade_checks(intent(), RiskSnapshot(), LIMITS, NOW)
    assert reason == "no mark price for BTCUSDT: cannot check the order"


@pytest.mark.parametrize(
    ("order", "snap_fields", "expected_start"),
    [
        (intent(price="40000"), {}, "price 40000"),
        (intent(qty="0.2"), {}, "order notional"),
        (intent(), {"open_orders": {BTC: buys(*["0.001"] * 50)}}, "open orders"),
        (intent(), {"recent_order_ts_ns": {BTC: (NOW,) * 10}}, "order rate"),
        (intent(qty="0.05"), {"positions": {BTC: D("0.18")}}, "inventory"),
        (intent(), {"positions": {ETH: D("17")}}, "total notional"),
        (intent(), {"pnl_today": D("-2000")}, "daily loss"),
    ],
)
def test_run_pre_trade_checks_returns_the_reason_of_the_failing_check(
    order: OrderIntent, snap_fields: dict[str, Any], expected_start: str
) -> None:
    reason = run_pre_trade_checks(order, snapshot(**snap_fields), LIMITS, NOW)
    assert reason is not None
    assert reason.startswith(expected_start)
