"""Venue order snapshots to record transitions, and transitions to the events they mean."""

from __future__ import annotations

from decimal import Decimal
from typing import Any

from libs.common.domain.enums import Category, OrderType, Side, TimeInForce, VenueOrderStatus
from libs.common.domain.ids import ClientOrderId, ExecId, Symbol, VenueOrderId
from libs.common.domain.orders import (
    Order,
    OrderEventKind,
    OrderStatus,
    apply_ack,
    apply_event,
    apply_fill,
    request_amend,
)
from libs.common.messages import (
    OrderAcknowledged,
    OrderAmended,
    OrderCanceled,
    OrderRejected,
)
from libs.common.venue import VenueOrder
from services.router.transitions import (
    adopted_id,
    adopted_order,
    from_venue,
    order_events,
    snapshot_reason,
)

T0 = 1_000_000_000


def pending(**fields: Any) -> Order:
    base: dict[str, Any] = {
        "client_order_id": ClientOrderId("c-1"),
        "symbol": Symbol("BTCUSDT"),
        "side": Side.BUY,
        "order_type": OrderType.LIMIT,
        "qty": Decimal("0.002"),
        "price": Decimal("59000"),
        "created_ts_ns": T0,
        "updated_ts_ns": T0,
    }
    return Order(**(base | fields))


def acked() -> Order:
    return apply_ack(pending(), VenueOrderId("v-1"), ts_ns=T0 + 1)


def snap(status: VenueOrderStatus, **fields: Any) -> VenueOrder:
    base: dict[str, Any] = {
        "category": Category.LINEAR,
        "symbol": "BTCUSDT",
        "venue_order_id": VenueOrderId("v-1"),
        "client_order_id": ClientOrderId("c-1"),
        "side": Side.BUY,
        "order_type": OrderType.LIMIT,
        "status": status,
        "qty": Decimal("0.002"),
        "price": Decimal("59000"),
        "cum_exec_qty": Decimal(0),
        "cum_exec_value": Decimal(0),
        "avg_price": None,
        "leaves_qty": Decimal("0.002"),
        "time_in_force": TimeInForce.GTC,
        "reduce_only": False,
        "reject_reason": "",
        "cancel_type": "",
        "created_ms": 1_000,
        "updated_ms": 2_000,
    }
    return VenueOrder(**(base | fields))


def test_new_push_acknowledges_a_pending_record() -> None:
    before = pending()

    after = from_venue(before, snap(VenueOrderStatus.NEW), ts_ns=T0 + 5)

    assert after.status is OrderStatus.NEW and after.venue_order_id == "v-1"
    (event,) = order_events(before, after)
    assert isinstance(event, OrderAcknowledged) and event.venue_order_id == "v-1"
    assert event.ts_event_ns == T0 + 5


def test_new_push_for_an_acknowledged_record_changes_nothing() -> None:
    before = acked()

    after = from_venue(before, snap(VenueOrderStatus.NEW), ts_ns=T0 + 5)

    assert after == before and order_events(before, after) == []


def test_cancelled_push_cancels_with_the_venue_cancel_type() -> None:
    before = acked()
    push = snap(VenueOrderStatus.CANCELLED, cancel_type="CancelByUser")

    after = from_venue(before, push, ts_ns=T0 + 5)

    assert after.status is OrderStatus.CANCELED
    (event,) = order_events(before, after, reason=snapshot_reason(push))
    assert isinstance(event, OrderCanceled) and event.reason == "CancelByUser"


def test_cancelled_push_for_a_pending_record_acknowledges_and_cancels_it() -> None:
    before = pending()

    after = from_venue(before, snap(VenueOrderStatus.CANCELLED), ts_ns=T0 + 5)

    kinds = [e.TYPE for e in order_events(before, after)]
    assert after.status is OrderStatus.CANCELED and after.venue_order_id == "v-1"
    assert kinds == [OrderAcknowledged.TYPE, OrderCanceled.TYPE]


def test_rejected_push_rejects_with_the_venue_reason() -> None:
    before = pending()
    push = snap(VenueOrderStatus.REJECTED, reject_reason="EC_PostOnlyWillTakeLiquidity")

    after = from_venue(before, push, ts_ns=T0 + 5)

    (event,) = order_events(before, after, reason=snapshot_reason(push))
    assert after.status is OrderStatus.REJECTED
    assert isinstance(event, OrderRejected) and event.reason == "EC_PostOnlyWillTakeLiquidity"


def test_late_cancelled_push_leaves_a_filled_record_filled() -> None:
    filled = apply_fill(acked(), ExecId("e-1"), Decimal("0.002"), Decimal("59000"), ts_ns=T0 + 2)

    after = from_venue(filled, snap(VenueOrderStatus.CANCELLED), ts_ns=T0 + 5)

    assert after == filled


def test_push_with_new_terms_settles_an_amend_in_flight() -> None:
    before = request_amend(acked(), price=Decimal("58900"), ts_ns=T0 + 2)

    after = from_venue(before, snap(VenueOrderStatus.NEW, price=Decimal("58900")), ts_ns=T0 + 5)

    assert after.status is OrderStatus.NEW and after.price == Decimal("58900")
    (event,) = order_events(before, after)
    assert isinstance(event, OrderAmended) and event.price == Decimal("58900")


def test_push_with_the_old_terms_leaves_an_amend_in_flight_pending() -> None:
    before = request_amend(acked(), price=Decimal("58900"), ts_ns=T0 + 2)

    after = from_venue(before, snap(VenueOrderStatus.NEW), ts_ns=T0 + 5)

    assert after == before


def test_filled_push_only_acknowledges_fills_come_from_executions() -> None:
    push = snap(VenueOrderStatus.FILLED, cum_exec_qty=Decimal("0.002"), leaves_qty=Decimal(0))

    after = from_venue(pending(), push, ts_ns=T0 + 5)

    assert after.status is OrderStatus.NEW and after.filled_qty == 0


def test_local_reject_event_carries_the_router_code_and_reason() -> None:
    before = pending()
    after = apply_event(before, OrderEventKind.REJECTED, ts_ns=T0 + 1)

    (event,) = order_events(before, after, code=-1, reason="frozen")

    assert isinstance(event, OrderRejected) and (event.code, event.reason) == (-1, "frozen")


def test_adopted_order_without_link_id_gets_an_id_from_the_venue_id() -> None:
    stray = snap(
        VenueOrderStatus.NEW,
        client_order_id=None,
        venue_order_id=VenueOrderId("403f7a97-7792-41eb-bd16-000000000015"),
    )

    order = adopted_order(stray, ts_ns=T0)

    assert adopted_id(stray) == "v-403f7a97779241ebbd16000000000015"
    assert order.client_order_id == adopted_id(stray) and len(order.client_order_id) <= 36
    assert (order.status, order.venue_order_id) == (OrderStatus.NEW, stray.venue_order_id)


def test_adopted_order_keeps_its_link_id() -> None:
    assert adopted_order(snap(VenueOrderStatus.NEW), ts_ns=T0).client_order_id == "c-1"
