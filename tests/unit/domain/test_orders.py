"""The order state machine and the Order record."""

from __future__ import annotations

import itertools
from decimal import Decimal
from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st
from pydantic import ValidationError

from libs.common.domain.enums import OrderType, Side, VenueOrderStatus
from libs.common.domain.errors import InvalidFill, InvalidOrder, InvalidTransition, Overfill
from libs.common.domain.ids import ClientOrderId, ExecId, Symbol, VenueOrderId
from libs.common.domain.orders import (
    TERMINAL_STATUSES,
    TRANSITIONS,
    Order,
    OrderEventKind,
    OrderStatus,
    apply_ack,
    apply_amend,
    apply_cancel,
    apply_event,
    apply_fill,
    is_open,
    is_terminal,
    request_amend,
    reserve_amend,
    start_send,
    status_from_venue,
    transition,
)

S = OrderStatus
E = OrderEventKind
D = Decimal
ALL_PAIRS = list(itertools.product(OrderStatus, OrderEventKind))


def make_order(**overrides: Any) -> Order:
    fields: dict[str, Any] = {
        "client_order_id": ClientOrderId("mmx-1"),
        "symbol": Symbol("BTCUSDT"),
        "side": Side.BUY,
        "order_type": OrderType.LIMIT,
        "qty": D("1.0"),
        "price": D("50000"),
        "created_ts_ns": 1,
        "updated_ts_ns": 1,
    }
    return Order(**(fields | overrides))


def acked(**overrides: Any) -> Order:
    return apply_ack(make_order(**overrides), VenueOrderId("v-1"), ts_ns=2)


def fill(order: Order, exec_id: str, qty: str, price: str = "50000", ts_ns: int = 3) -> Order:
    return apply_fill(order, ExecId(exec_id), D(qty), D(price), ts_ns=ts_ns)


# -- The table ----------------------------------------------------------------------------


@pytest.mark.parametrize(("status", "kind"), ALL_PAIRS, ids=[f"{s}-{k}" for s, k in ALL_PAIRS])
def test_transition_every_pair_follows_the_table_or_raises(
    status: OrderStatus, kind: OrderEventKind
) -> None:
    if (status, kind) in TRANSITIONS:
        assert transition(status, kind) is TRANSITIONS[(status, kind)]
    else:
        with pytest.raises(InvalidTransition, match=rf"^{status} -> {kind.label}: "):
            transition(status, kind)


def test_transition_message_names_state_and_event_in_human_form() -> None:
    with pytest.raises(InvalidTransition, match=r"^Filled -> Cancel requested: "):
        transition(S.FILLED, E.CANCEL_REQUESTED)


def test_transitions_table_is_read_only() -> None:
    with pytest.raises(TypeError):
        TRANSITIONS[(S.FILLED, E.CANCEL_REQUESTED)] = S.PENDING_CANCEL  # type: ignore[index]


def test_transitions_never_lead_back_to_pending() -> None:
    assert S.PENDING not in TRANSITIONS.values()


def test_transitions_from_terminal_states_are_self_loops_except_a_full_fill() -> None:
    for (status, kind), target in TRANSITIONS.items():
        if is_terminal(status) and target is not status:
            assert (kind, target) == (E.FILLED, S.FILLED) and status in (S.CANCELED, S.REJECTED)


def test_transitions_refuse_every_request_on_a_terminal_order() -> None:
    for status, kind in itertools.product(
        TERMINAL_STATUSES, (E.CANCEL_REQUESTED, E.AMEND_REQUESTED)
    ):
        assert (status, kind) not in TRANSITIONS


def test_transitions_rejected_takes_only_a_late_ack_and_the_venues_fills() -> None:
    taken = [kind for (status, kind) in TRANSITIONS if status is S.REJECTED]
    assert taken == [E.ACKNOWLEDGED, E.PARTIALLY_FILLED, E.FILLED]
    assert TRANSITIONS[(S.REJECTED, E.PARTIALLY_FILLED)] is S.REJECTED
    assert TRANSITIONS[(S.REJECTED, E.FILLED)] is S.FILLED


def test_transitions_every_open_state_can_be_cancelled_by_a_freeze() -> None:
    for status in OrderStatus:
        if is_open(status):
            assert transition(status, E.CANCEL_REQUESTED) is S.PENDING_CANCEL


def test_transitions_every_status_is_reachable_from_pending() -> None:
    seen, frontier = {S.PENDING}, [S.PENDING]
    while frontier:
        status = frontier.pop()
        for (source, _), target in TRANSITIONS.items():
            if source is status and target not in seen:
                seen.add(target)
                frontier.append(target)
    assert seen == set(OrderStatus)


def test_transitions_sending_takes_every_venue_answer_that_pending_takes() -> None:
    from_pending = {k: t for (s, k), t in TRANSITIONS.items() if s is S.PENDING}
    from_sending = {k: t for (s, k), t in TRANSITIONS.items() if s is S.SENDING}
    assert from_sending == from_pending | {E.SEND_REQUESTED: S.SENDING}


def test_start_send_rounds_a_pending_order_and_writes_it_sending() -> None:
    order = make_order(qty=D("0.0025"), price=D("59000.05"))

    sending = start_send(order, D("0.002"), D("59000.0"), ts_ns=5)

    assert (sending.status, sending.qty, sending.price) == (S.SENDING, D("0.002"), D("59000.0"))
    assert (sending.version, sending.updated_ts_ns) == (order.version + 1, 5)


def test_start_send_again_with_the_terms_sent_changes_nothing() -> None:
    sending = start_send(make_order(), D("1.0"), D("50000"), ts_ns=5)

    assert start_send(sending, D("1.0"), D("50000"), ts_ns=6) is sending


def test_start_send_again_with_other_terms_is_refused() -> None:
    sending = start_send(make_order(), D("1.0"), D("50000"), ts_ns=5)

    with pytest.raises(InvalidOrder, match=r"cannot be sent again as 2\.0 @ 50000"):
        start_send(sending, D("2.0"), D("50000"), ts_ns=6)


def test_start_send_refuses_an_acknowledged_order() -> None:
    with pytest.raises(InvalidTransition, match="New -> Send requested"):
        start_send(acked(), D("1.0"), D("50000"), ts_ns=6)


def test_amend_is_refused_while_the_order_is_being_sent() -> None:
    sending = start_send(make_order(), D("1.0"), D("50000"), ts_ns=5)

    with pytest.raises(InvalidTransition, match="is Sending"):
        reserve_amend(sending, qty=D("2.0"), ts_ns=6)


@pytest.mark.parametrize("status", list(OrderStatus))
def test_is_open_is_the_complement_of_is_terminal(status: OrderStatus) -> None:
    assert is_open(status) is not is_terminal(status)
    assert is_terminal(status) is (status in {S.FILLED, S.CANCELED, S.REJECTED})


# -- Scenarios ----------------------------------------------------------------------------


def test_order_happy_path_pending_to_filled() -> None:
    order = make_order()
    assert order.status is S.PENDING
    order = acked()
    assert (order.status, order.venue_order_id) == (S.NEW, "v-1")
    order = fill(order, "e1", "0.4", "50000")
    assert (order.status, order.filled_qty, order.leaves_qty) == (
        S.PARTIALLY_FILLED,
        D("0.4"),
        D("0.6"),
    )
    order = fill(order, "e2", "0.6", "50100")
    assert order.status is S.FILLED
    assert order.avg_fill_price == D("50060")
    assert order.exec_ids == {"e1", "e2"}


def test_fill_after_cancel_is_accepted() -> None:
    order = apply_event(acked(), E.CANCEL_REQUESTED, ts_ns=3)
    order = apply_cancel(order, ts_ns=4)
    order = fill(order, "e1", "0.3", ts_ns=5)
    assert order.status is S.CANCELED
    assert order.filled_qty == D("0.3")


def test_fill_after_cancel_that_completes_the_qty_makes_it_filled() -> None:
    order = apply_cancel(fill(acked(), "e1", "0.5"), ts_ns=4)
    order = fill(order, "e2", "0.5", ts_ns=5)
    assert order.status is S.FILLED


def test_fill_while_cancel_pending_keeps_cancelling_the_rest() -> None:
    order = apply_event(acked(), E.CANCEL_REQUESTED, ts_ns=3)
    order = fill(order, "e1", "0.5")
    assert order.status is S.PENDING_CANCEL
    assert apply_cancel(order, ts_ns=5).status is S.CANCELED


def test_full_fill_while_cancel_pending_wins_and_the_late_reject_changes_nothing() -> None:
    order = fill(apply_event(acked(), E.CANCEL_REQUESTED, ts_ns=3), "e1", "1.0")
    assert order.status is S.FILLED
    assert apply_event(order, E.CANCEL_REJECTED, ts_ns=9) is order


def test_cancel_rejected_puts_a_partly_filled_order_back_to_partially_filled() -> None:
    order = apply_event(fill(acked(), "e1", "0.2"), E.CANCEL_REQUESTED, ts_ns=4)
    assert apply_event(order, E.CANCEL_REJECTED, ts_ns=5).status is S.PARTIALLY_FILLED


def test_cancel_rejected_puts_an_unfilled_order_back_to_new() -> None:
    order = apply_event(acked(), E.CANCEL_REQUESTED, ts_ns=3)
    assert apply_event(order, E.CANCEL_REJECTED, ts_ns=4).status is S.NEW


def test_fill_before_ack_is_accepted_and_the_late_ack_keeps_the_fill() -> None:
    order = fill(make_order(), "e1", "0.5")
    assert order.status is S.PARTIALLY_FILLED
    order = apply_ack(order, VenueOrderId("v-9"), ts_ns=4)
    assert (order.status, order.venue_order_id, order.filled_qty) == (
        S.PARTIALLY_FILLED,
        "v-9",
        D("0.5"),
    )


def test_cancel_requested_before_ack_then_ack_stays_pending_cancel() -> None:
    order = apply_event(make_order(), E.CANCEL_REQUESTED, ts_ns=2)
    order = apply_ack(order, VenueOrderId("v-1"), ts_ns=3)
    assert (order.status, order.venue_order_id) == (S.PENDING_CANCEL, "v-1")


def test_duplicate_ack_returns_the_same_order() -> None:
    order = acked()
    assert apply_ack(order, VenueOrderId("v-1"), ts_ns=5) is order


def test_ack_keeps_the_first_venue_order_id() -> None:
    assert apply_ack(acked(), VenueOrderId("v-2"), ts_ns=5).venue_order_id == "v-1"


def test_ack_on_rejected_order_is_a_late_ack_and_stays_rejected() -> None:
    order = apply_event(make_order(), E.REJECTED, ts_ns=2)
    assert apply_ack(order, None, ts_ns=3).status is S.REJECTED


def test_fill_on_a_rejected_order_counts_and_a_full_fill_ends_it_filled() -> None:
    order = apply_event(make_order(), E.REJECTED, ts_ns=2)
    partly = fill(order, "e1", "0.4")
    assert (partly.status, partly.filled_qty) == (S.REJECTED, D("0.4"))
    assert fill(partly, "e2", "0.6").status is S.FILLED


def test_cancel_request_on_filled_order_raises_invalid_transition() -> None:
    with pytest.raises(InvalidTransition, match=r"^Filled -> Cancel requested"):
        apply_event(fill(acked(), "e1", "1.0"), E.CANCEL_REQUESTED, ts_ns=9)


def test_apply_event_refuses_events_that_carry_data() -> None:
    for kind, function in [(E.FILLED, "apply_fill"), (E.AMENDED, "apply_amend")]:
        with pytest.raises(ValueError, match=function):
            apply_event(acked(), kind, ts_ns=3)


def test_apply_advances_version_and_updated_ts() -> None:
    order = make_order()
    order2 = apply_ack(order, VenueOrderId("v-1"), ts_ns=7)
    assert (order2.version, order2.updated_ts_ns, order2.created_ts_ns) == (1, 7, 1)
    assert order.status is S.PENDING  # the original is untouched


# -- Fills: overfill guard and idempotency -------------------------------------------------


def test_overfill_raises_with_order_exec_and_quantities() -> None:
    order = fill(acked(), "e1", "0.7")
    with pytest.raises(
        Overfill, match=r"mmx-1: fill e2 of 0.4 would take filled qty to 1.1, above"
    ):
        fill(order, "e2", "0.4")


def test_fill_replayed_exec_id_changes_nothing() -> None:
    order = fill(acked(), "e1", "0.7")
    assert fill(order, "e1", "0.7") is order


def test_fill_replay_is_checked_before_the_overfill_guard() -> None:
    order = fill(acked(), "e1", "1.0")
    assert fill(order, "e1", "1.0") is order


@pytest.mark.parametrize(("qty", "price"), [("0", "1"), ("-1", "1"), ("1", "0")])
def test_fill_non_positive_qty_or_price_raises_invalid_fill(qty: str, price: str) -> None:
    with pytest.raises(InvalidFill):
        fill(acked(), "e1", qty, price)


@given(st.lists(st.integers(1, 50), min_size=1, max_size=20))
def test_fills_never_exceed_qty_and_filled_means_complete(parts: list[int]) -> None:
    total = sum(parts)
    order = acked(qty=D(total) / 10)
    for index, part in enumerate(parts):
        order = fill(order, f"e{index}", str(D(part) / 10))
        assert order.filled_qty <= order.qty
    assert order.filled_qty == order.qty
    assert order.status is S.FILLED
    with pytest.raises(Overfill):
        fill(order, "extra", "0.1")


# -- Amend ----------------------------------------------------------------------------------


def test_amend_request_then_amended_changes_qty_and_price() -> None:
    order = request_amend(acked(), D("2"), D("49000"), ts_ns=3)
    assert (order.status, order.amend_qty) == (S.PENDING_AMEND, D("2"))
    order = apply_amend(order, D("2"), D("49000"), ts_ns=4)
    assert (order.status, order.qty, order.price, order.amend_qty) == (S.NEW, D(2), D(49000), None)


def test_amend_rejected_restores_working_status_and_clears_amend_qty() -> None:
    order = request_amend(fill(acked(), "e1", "0.5"), D("2"), ts_ns=3)
    order = apply_event(order, E.AMEND_REJECTED, ts_ns=4)
    assert (order.status, order.qty, order.amend_qty) == (S.PARTIALLY_FILLED, D(1), None)


def test_amend_below_filled_qty_raises_invalid_order() -> None:
    order = fill(acked(), "e1", "0.5")
    with pytest.raises(InvalidOrder, match=r"qty 0.4 is below the filled qty 0.5"):
        apply_amend(order, D("0.4"), ts_ns=4)


def test_amend_request_at_or_below_filled_qty_raises_invalid_order() -> None:
    with pytest.raises(InvalidOrder, match=r"must be above the filled qty 0.5"):
        request_amend(fill(acked(), "e1", "0.5"), D("0.5"), ts_ns=4)


def test_amend_to_the_filled_qty_after_racing_fills_makes_it_filled() -> None:
    order = request_amend(acked(), D("0.5"), ts_ns=3)
    order = fill(order, "e1", "0.5")
    assert order.status is S.PENDING_AMEND
    assert apply_amend(order, D("0.5"), ts_ns=5).status is S.FILLED


def test_fills_past_the_old_qty_while_amending_up_adopt_the_amended_qty() -> None:
    order = fill(request_amend(acked(), D("1.5"), ts_ns=3), "e1", "1.2")
    assert (order.status, order.qty) == (S.PENDING_AMEND, D("1.5"))
    assert apply_amend(order, D("1.5"), ts_ns=5).status is S.PARTIALLY_FILLED


def test_fills_reaching_the_old_qty_while_amending_up_wait_for_the_reply() -> None:
    order = fill(request_amend(acked(), D("1.5"), ts_ns=3), "e1", "1.0")
    assert order.status is S.PENDING_AMEND
    assert apply_event(order, E.AMEND_REJECTED, ts_ns=5).status is S.FILLED


def test_amended_reply_on_a_filled_order_changes_nothing() -> None:
    order = fill(request_amend(acked(), price=D("49000"), ts_ns=3), "e1", "1.0", "49000")
    assert order.status is S.FILLED
    assert apply_amend(order, price=D("49000"), ts_ns=5) is order


def test_amend_price_on_a_market_order_raises_invalid_order() -> None:
    order = acked(order_type=OrderType.MARKET, price=None)
    with pytest.raises(InvalidOrder, match="Market"):
        request_amend(order, price=D("1"), ts_ns=3)


def test_amend_while_amend_pending_raises_invalid_transition() -> None:
    order = request_amend(acked(), D("2"), ts_ns=3)
    with pytest.raises(InvalidTransition, match=r"^PendingAmend -> Amend requested"):
        request_amend(order, D("3"), ts_ns=4)


# -- Record validation ----------------------------------------------------------------------


@pytest.mark.parametrize(
    "overrides",
    [
        {"price": None},
        {"order_type": OrderType.MARKET},
        {"qty": D("0")},
        {"filled_qty": D("2"), "avg_fill_price": D("1")},
        {"filled_qty": D("0.5")},
        {"avg_fill_price": D("1")},
        {"surprise": 1},
    ],
)
def test_order_inconsistent_fields_are_refused(overrides: dict[str, Any]) -> None:
    with pytest.raises(ValidationError):
        make_order(**overrides)


def test_order_is_frozen() -> None:
    with pytest.raises(ValidationError):
        make_order().status = S.NEW  # type: ignore[misc]


# -- Venue snapshot mapping -----------------------------------------------------------------


@pytest.mark.parametrize(
    ("venue", "cum", "expected"),
    [
        (VenueOrderStatus.NEW, "0", S.NEW),
        (VenueOrderStatus.UNTRIGGERED, "0", S.NEW),
        (VenueOrderStatus.TRIGGERED, "0", S.NEW),
        (VenueOrderStatus.PARTIALLY_FILLED, "0.4", S.PARTIALLY_FILLED),
        (VenueOrderStatus.NEW, "0.4", S.PARTIALLY_FILLED),
        (VenueOrderStatus.FILLED, "1", S.FILLED),
        (VenueOrderStatus.CANCELLED, "0", S.CANCELED),
        (VenueOrderStatus.CANCELLED, "0.4", S.CANCELED),
        (VenueOrderStatus.CANCELLED, "1", S.FILLED),
        (VenueOrderStatus.PARTIALLY_FILLED_CANCELED, "0.4", S.CANCELED),
        (VenueOrderStatus.DEACTIVATED, "0", S.CANCELED),
        (VenueOrderStatus.REJECTED, "0", S.REJECTED),
    ],
)
def test_status_from_venue_maps_snapshot_and_fills(
    venue: VenueOrderStatus, cum: str, expected: OrderStatus
) -> None:
    assert status_from_venue(venue, D(cum), D("1")) is expected


def test_status_from_venue_covers_every_venue_status() -> None:
    for venue in VenueOrderStatus:
        assert status_from_venue(venue, D(0), D(1)) in OrderStatus


# -- Risk's marks on a record: admission, amend terms, rejection reasons -------------------------


def test_admit_values_a_pending_order_once_without_a_transition() -> None:
    from libs.common.domain.orders import admit

    admitted = admit(make_order(), D("50000"), ts_ns=2)
    assert (admitted.status, admitted.risk_price, admitted.version) == (S.PENDING, D(50000), 1)
    with pytest.raises(InvalidTransition, match="already admitted"):
        admit(admitted, D("50000"), ts_ns=3)
    with pytest.raises(InvalidTransition, match="only a Pending order"):
        admit(acked(), D("50000"), ts_ns=3)


def test_reserve_amend_holds_the_terms_and_drop_amend_clears_them() -> None:
    from libs.common.domain.orders import drop_amend, reserve_amend

    reserved = reserve_amend(acked(), D("2"), D("49000"), ts_ns=3)
    assert (reserved.status, reserved.amend_qty, reserved.amend_price) == (S.NEW, D(2), D(49000))
    assert drop_amend(reserved, ts_ns=4).amend_qty is None
    in_flight = request_amend(reserved, D("2"), D("49000"), ts_ns=4)
    assert drop_amend(in_flight, ts_ns=5) is in_flight  # only the venue's answer ends it
    with pytest.raises(InvalidTransition, match="acknowledged"):
        reserve_amend(make_order(), D("2"), ts_ns=3)
    with pytest.raises(InvalidOrder, match="above the filled qty"):
        reserve_amend(fill(acked(), "e1", "0.5"), D("0.5"), ts_ns=4)


def test_reject_keeps_the_first_reason() -> None:
    from libs.common.domain.orders import reject

    rejected = reject(make_order(), "inventory BTCUSDT Buy would be 12000 USD", ts_ns=2)
    assert (rejected.status, rejected.reason) == (S.REJECTED, rejected.reason)
    assert reject(rejected, "another", ts_ns=3) is rejected
