"""The pure rules of the risk service: deny codes, reservation headroom, amends, edge."""

from __future__ import annotations

from decimal import Decimal
from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st

from libs.common.batching import derive_event_id
from libs.common.domain.enums import OrderType, Side
from libs.common.domain.ids import ClientOrderId, EventId, Symbol
from libs.common.domain.orders import Order
from libs.common.domain.risk_checks import (
    Check,
    OpenOrder,
    OrderIntent,
    RiskLimits,
    RiskSnapshot,
    TradingState,
    pre_trade_denial,
    run_pre_trade_checks,
)
from libs.common.domain.time import NS_PER_SECOND
from libs.common.metrics import DenyReason
from services.risk.decisions import Decision
from services.risk.rules import (
    DENY_REASONS,
    EdgeSample,
    amend_denial,
    amend_intent,
    inventory_headroom,
    order_notional,
    rolling_edge,
    with_approved,
)

D = Decimal
BTC = Symbol("BTCUSDT")
ETH = Symbol("ETHUSDT")
LIMITS = RiskLimits()
WIDE_ORDERS = RiskLimits(max_order_notional=D(100_000))
NOW = 1_700_000_000 * NS_PER_SECOND


def intent(side: Side = Side.BUY, qty: str = "0.01", price: str | None = "50000") -> OrderIntent:
    return OrderIntent(symbol=BTC, side=side, qty=D(qty), price=None if price is None else D(price))


def snapshot(**fields: Any) -> RiskSnapshot:
    return RiskSnapshot.model_validate({"marks": {BTC: D(50_000), ETH: D(3_000)}} | fields)


def order(qty: str = "0.02", filled: str = "0", price: str = "50000") -> Order:
    return Order(
        client_order_id=ClientOrderId("o-1"),
        symbol=BTC,
        side=Side.BUY,
        order_type=OrderType.LIMIT,
        qty=D(qty),
        price=D(price),
        filled_qty=D(filled),
        avg_fill_price=D(price) if D(filled) else None,
        created_ts_ns=1,
        updated_ts_ns=1,
    )


def test_every_check_has_the_metric_label_of_the_same_name() -> None:
    assert {check.value for check in Check} == {reason.value for reason in DenyReason}
    assert all(DENY_REASONS[check].value == check.value for check in Check)


@pytest.mark.parametrize(
    ("order_intent", "snap_fields", "check"),
    [
        (intent(), {"trading_state": TradingState.FROZEN}, Check.TRADING_STATE),
        (intent(), {"marks": {}}, Check.NO_MARK),
        (intent(price="40000"), {}, Check.PRICE_BAND),
        (intent(qty="0.2"), {}, Check.ORDER_NOTIONAL),
        (
            intent(),
            {"open_orders": {BTC: (OpenOrder(side=Side.BUY, leaves_qty=D(1)),) * 50}},
            Check.OPEN_ORDERS,
        ),
        (intent(), {"recent_order_ts_ns": {BTC: (NOW,) * 10}}, Check.ORDER_RATE),
        (intent(qty="0.05"), {"positions": {BTC: D("0.18")}}, Check.INVENTORY),
        (intent(), {"positions": {ETH: D(17)}}, Check.TOTAL_NOTIONAL),
        (intent(), {"pnl_today": D(-2_000)}, Check.DAILY_LOSS),
    ],
)
def test_pre_trade_denial_names_the_check_that_denied(
    order_intent: OrderIntent, snap_fields: dict[str, Any], check: Check
) -> None:
    snap = snapshot(**snap_fields)

    denial = pre_trade_denial(order_intent, snap, LIMITS, NOW)

    assert denial is not None and denial[0] is check
    assert denial[1] == run_pre_trade_checks(order_intent, snap, LIMITS, NOW)


def test_pre_trade_denial_approves_a_normal_order() -> None:
    assert pre_trade_denial(intent(), snapshot(), LIMITS, NOW) is None


@given(
    qty=st.decimals(min_value=D("0.001"), max_value=D("1"), places=3),
    position=st.decimals(min_value=D("-0.3"), max_value=D("0.3"), places=3),
    side=st.sampled_from(Side),
)
def test_pre_trade_denial_agrees_with_run_pre_trade_checks(
    qty: Decimal, position: Decimal, side: Side
) -> None:
    order_intent, snap = intent(side, str(qty)), snapshot(positions={BTC: position})

    denial = pre_trade_denial(order_intent, snap, LIMITS, NOW)

    assert (None if denial is None else denial[1]) == run_pre_trade_checks(
        order_intent, snap, LIMITS, NOW
    )


@pytest.mark.parametrize(
    ("side", "position", "expected"),
    [(Side.BUY, "0", "10000"), (Side.BUY, "0.1", "5000"), (Side.SELL, "0.1", "15000")],
)
def test_inventory_headroom_is_the_limit_less_the_position_on_that_side(
    side: Side, position: str, expected: str
) -> None:
    assert inventory_headroom(LIMITS, D(position), D(50_000), side) == D(expected)


def test_order_notional_values_a_market_order_at_the_mark() -> None:
    assert order_notional(intent(price=None), D(50_000)) == D(500)
    assert order_notional(intent(price="49000"), D(50_000)) == D(490)


def test_with_approved_adds_the_order_and_its_time_to_the_snapshot() -> None:
    snap = with_approved(snapshot(), intent(qty="0.03"), NOW)

    assert snap.open_orders[BTC] == (
        OpenOrder(side=Side.BUY, leaves_qty=D("0.03"), price=D(50_000)),
    )
    assert snap.recent_order_ts_ns[BTC] == (NOW,)


def test_amend_intent_is_what_can_still_fill_after_the_amend() -> None:
    amended = amend_intent(order(qty="0.05", filled="0.01"), D("0.04"), D("50100"))

    assert amended == OrderIntent(symbol=BTC, side=Side.BUY, qty=D("0.03"), price=D(50_100))


def test_amend_intent_refuses_a_qty_not_above_the_filled() -> None:
    reason = amend_intent(order(qty="0.05", filled="0.02"), D("0.02"), None)

    assert reason == "amend of o-1: qty 0.02 is not above the filled qty 0.02"


@pytest.mark.parametrize(
    ("amended", "snap_fields", "others", "check"),
    [
        (intent(), {"marks": {}}, "0", Check.NO_MARK),
        (intent(price="60000"), {}, "0", Check.PRICE_BAND),
        (intent(qty="0.11"), {}, "0", Check.ORDER_NOTIONAL),
        (intent(qty="0.25"), {}, "0", Check.INVENTORY),
        (intent(qty="0.15"), {}, "3000", Check.INVENTORY),  # 7500 + 3000 reserved > 10000
    ],
)
def test_amend_denial_checks_band_inventory_and_others_reservations(
    amended: OrderIntent, snap_fields: dict[str, Any], others: str, check: Check
) -> None:
    limits = LIMITS if check is Check.ORDER_NOTIONAL else WIDE_ORDERS
    denial = amend_denial(amended, snapshot(**snap_fields), limits, reserved_by_others=D(others))

    assert denial is not None and denial[0] is check


def test_amend_denial_approves_an_amend_that_fits() -> None:
    fits = amend_denial(intent(qty="0.15"), snapshot(), WIDE_ORDERS, reserved_by_others=D(2_000))

    assert fits is None


def test_rolling_edge_weighs_each_fill_by_its_notional() -> None:
    samples = [EdgeSample(D(300), D(20)), EdgeSample(D(100), D(-50))]

    assert rolling_edge(samples) == D("2.5")  # (6000 - 5000) / 400
    assert rolling_edge([]) is None


def test_edge_sample_survives_its_encoding_exactly() -> None:
    sample = EdgeSample(D("300.6"), D("-39.84063745019920318725099602"))

    assert EdgeSample.decode(sample.encode()) == sample


def test_decision_round_trips_through_json() -> None:
    denied = Decision.deny(Check.INVENTORY, "inventory BTCUSDT would be 2000 USD")

    assert Decision.model_validate_json(denied.model_dump_json()) == denied
    assert Decision.approve().approved and not denied.approved


def test_derived_event_ids_are_stable_and_distinct_per_tag() -> None:
    source = EventId("a" * 32)

    assert derive_event_id(source, "denied") == derive_event_id(source, "denied")
    assert derive_event_id(source, "denied") != derive_event_id(source, "edge")
    assert derive_event_id(source, "denied") != derive_event_id(EventId("b" * 32), "denied")
