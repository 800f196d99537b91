"""Risk limits and the checks that need no exposure: each allows and denies, with reasons."""

from __future__ import annotations

from decimal import Decimal
from typing import Any

import pytest
from pydantic import ValidationError

from libs.common.domain.enums import Side
from libs.common.domain.ids import Symbol
from libs.common.domain.risk_checks import (
    Check,
    OrderIntent,
    RiskLimits,
    check_order_notional,
    check_price_band,
    daily_loss_breach,
    edge_breach,
    measured_edge_bps,
    order_denial,
)

D = Decimal
BTC = Symbol("BTCUSDT")
LIMITS = RiskLimits()


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


def test_risk_limits_defaults_are_the_prototype_values() -> None:
    assert (LIMITS.max_inventory_usd, LIMITS.max_total_notional) == (D(10_000), D(50_000))
    assert LIMITS.edge_freeze_threshold_bps == 200
    assert LIMITS.max_positions_lag_s == 5


@pytest.mark.parametrize(
    ("fields", "field", "says"),
    [
        ({"max_inventory_usd": D(0)}, "max_inventory_usd", "greater than 0"),
        ({"max_inventory_usd": "1E-25"}, "max_inventory_usd", "no more than 6 decimal places"),
        ({"max_total_notional": "1e12"}, "max_total_notional", "less than or equal to 1000000000"),
        ({"max_orders_per_second": 0}, "max_orders_per_second", "greater than 0"),
        ({"max_open_orders_per_symbol": 10**6}, "max_open_orders_per_symbol", "less than"),
        ({"price_band_bps": "20000"}, "price_band_bps", "less than or equal to 10000"),
        ({"edge_freeze_threshold_bps": "-20000"}, "edge_freeze_threshold_bps", "greater than"),
        ({"max_positions_lag_s": "0"}, "max_positions_lag_s", "greater than or equal to 0.1"),
        ({"surprise": 1}, "surprise", "Extra inputs"),
    ],
)
def test_risk_limits_refuse_values_out_of_range_naming_field_and_range(
    fields: dict[str, Any], field: str, says: str
) -> None:
    with pytest.raises(ValidationError) as caught:
        RiskLimits.model_validate(fields)
    (error,) = caught.value.errors()
    assert error["loc"] == (field,)
    assert says in error["msg"]


def test_the_soft_daily_loss_limit_is_unset_by_default_and_may_be_set_below_the_limit() -> None:
    assert LIMITS.daily_loss_soft_limit is None
    limits = RiskLimits(daily_loss_limit=D(1_000), daily_loss_soft_limit=D("999.99"))
    assert limits.daily_loss_soft_limit == D("999.99")


@pytest.mark.parametrize("soft", ["1000", "1500", "0", "-1"])
def test_a_soft_daily_loss_limit_not_between_0_and_the_limit_is_refused(soft: str) -> None:
    with pytest.raises(ValidationError) as caught:
        RiskLimits.model_validate({"daily_loss_limit": "1000", "daily_loss_soft_limit": soft})
    (error,) = caught.value.errors()
    assert error["loc"] == ("daily_loss_soft_limit",)


def test_order_notional_within_limit_is_allowed() -> None:
    assert check_order_notional(intent(qty="0.1"), D("50000"), LIMITS) is None


def test_order_notional_above_limit_is_denied_with_numbers() -> None:
    reason = check_order_notional(intent(qty="0.12"), D("50000"), LIMITS)
    assert reason == "order notional BTCUSDT 6000 USD is above the limit 5000 USD"


def test_order_notional_of_a_market_order_uses_the_mark() -> None:
    reason = check_order_notional(intent(qty="0.2", price=None), D("30000"), LIMITS)
    assert reason == "order notional BTCUSDT 6000 USD is above the limit 5000 USD"


def test_price_band_within_band_is_allowed() -> None:
    assert check_price_band(intent(price="52500"), D("50000"), LIMITS) is None


def test_price_band_fat_finger_is_denied_with_distance() -> None:
    reason = check_price_band(intent(Side.SELL, price="5000"), D("50000"), LIMITS)
    assert reason == "price 5000 BTCUSDT is 9000 bps from mark 50000, band 500 bps"


def test_price_band_does_not_apply_to_a_market_order() -> None:
    assert check_price_band(intent(price=None), D("50000"), LIMITS) is None


@pytest.mark.parametrize(
    ("order", "mark", "check"),
    [
        (intent(), None, Check.NO_MARK),
        (intent(price="40000"), D(50_000), Check.PRICE_BAND),
        (intent(qty="0.2"), D(50_000), Check.ORDER_NOTIONAL),
        (intent(), D(50_000), None),
    ],
)
def test_order_denial_runs_mark_band_and_notional_in_order(
    order: OrderIntent, mark: Decimal | None, check: Check | None
) -> None:
    denial = order_denial(order, mark, LIMITS)
    assert (None if denial is None else denial[0]) == check


def test_order_denial_without_a_mark_says_so() -> None:
    assert order_denial(intent(), None, LIMITS) == (
        Check.NO_MARK,
        "no mark price for BTCUSDT: cannot check the order",
    )


def test_daily_loss_breach_at_and_beyond_the_limit() -> None:
    assert daily_loss_breach(D("-1000"), D("1000"))
    assert daily_loss_breach(D("-1500"), D("1000"))
    assert not daily_loss_breach(D("-999.99"), D("1000"))
    assert not daily_loss_breach(D("500"), D("1000"))


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
