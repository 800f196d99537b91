"""The pure rules of the risk service: deny codes, amends, edge, decisions."""

from __future__ import annotations

from decimal import Decimal

from libs.common.batching import derive_event_id
from libs.common.domain.enums import OrderType, Side
from libs.common.domain.ids import ClientOrderId, EventId, Symbol
from libs.common.domain.orders import Order
from libs.common.domain.risk_checks import Check, OrderIntent
from libs.common.metrics import DenyReason
from services.risk.amending import amend_intent
from services.risk.decisions import Decision
from services.risk.rules import DENY_REASONS, EdgeSample, rolling_edge

D = Decimal
BTC = Symbol("BTCUSDT")
ETH = Symbol("ETHUSDT")


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


def test_amend_intent_is_what_can_still_fill_after_the_amend() -> None:
    amended = amend_intent(order(qty="0.05", filled="0.01"), D("0.04"), D("50100"))

    assert amended == OrderIntent(symbol=BTC, side=Side.BUY, qty=D("0.03"), price=D(50_100))


def test_amend_intent_refuses_a_qty_not_above_the_filled() -> None:
    reason = amend_intent(order(qty="0.05", filled="0.02"), D("0.02"), None)

    assert reason == "amend of o-1: qty 0.02 is not above the filled qty 0.02"


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
