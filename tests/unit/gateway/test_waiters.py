"""Waiters: per-clientOrderId futures resolved by the first outcome event."""

from __future__ import annotations

from libs.common.bus_types import Delivery
from libs.common.domain.ids import AccountId, ClientOrderId, Symbol, VenueOrderId
from libs.common.messages import (
    Envelope,
    Message,
    OrderAcknowledged,
    OrderDenied,
    OrderRejected,
    OrderSubmitted,
)
from services.gateway.schemas import Outcome
from services.gateway.waiters import Waiters, wait_all

BTC = Symbol("BTCUSDT")
C1, C2 = ClientOrderId("c-1"), ClientOrderId("c-2")


def delivery(message: Message) -> Delivery[Envelope]:
    return Delivery(Envelope.wrap(message), "orders.events", "1-0", 1)


async def test_an_ack_resolves_its_order_as_accepted() -> None:
    waiters = Waiters()
    with waiters.expect([C1, C2]) as futures:
        ack = OrderAcknowledged(
            client_order_id=C1, symbol=BTC, ts_event_ns=1, venue_order_id=VenueOrderId("v")
        )
        await waiters.on_event(delivery(ack))

        resolved = await wait_all(futures, timeout_s=0.01)

    assert list(resolved) == [C1]
    assert (resolved[C1].outcome, resolved[C1].reason) == (Outcome.ACCEPTED, None)


async def test_denial_and_rejection_carry_their_reason() -> None:
    waiters = Waiters()
    with waiters.expect([C1, C2]) as futures:
        denied = OrderDenied(client_order_id=C1, symbol=BTC, ts_event_ns=1, reason="too big")
        rejected = OrderRejected(
            client_order_id=C2, symbol=BTC, ts_event_ns=1, code=110007, reason="no balance"
        )
        await waiters.on_event(delivery(denied))
        await waiters.on_event(delivery(rejected))

        resolved = await wait_all(futures, timeout_s=1)

    assert (resolved[C1].outcome, resolved[C1].reason) == (Outcome.DENIED, "too big")
    assert (resolved[C2].outcome, resolved[C2].reason) == (Outcome.REJECTED, "no balance")


async def test_the_first_outcome_wins_and_other_events_are_ignored() -> None:
    waiters = Waiters()
    with waiters.expect([C1]) as futures:
        await waiters.on_event(
            delivery(OrderSubmitted(client_order_id=C1, symbol=BTC, ts_event_ns=1))
        )
        assert not futures[C1].done()
        await waiters.on_event(
            delivery(OrderDenied(client_order_id=C1, symbol=BTC, ts_event_ns=1, reason="first"))
        )
        await waiters.on_event(
            delivery(OrderDenied(client_order_id=C1, symbol=BTC, ts_event_ns=2, reason="second"))
        )

        assert futures[C1].result().reason == "first"


async def test_two_requests_waiting_on_one_order_both_get_the_outcome() -> None:
    waiters = Waiters()
    with waiters.expect([C1]) as first, waiters.expect([C1]) as second:
        assert len(waiters) == 2
        await waiters.on_event(
            delivery(OrderDenied(client_order_id=C1, symbol=BTC, ts_event_ns=1, reason="no"))
        )

        assert first[C1].result() == second[C1].result()


async def test_leaving_the_block_unregisters_and_a_timeout_resolves_nothing() -> None:
    waiters = Waiters()
    with waiters.expect([C1]) as futures:
        resolved = await wait_all(futures, timeout_s=0.01)
    future = futures[C1]

    assert resolved == {}
    assert len(waiters) == 0
    assert future.cancelled()
    late = OrderAcknowledged(
        client_order_id=C1, symbol=BTC, ts_event_ns=1, venue_order_id=VenueOrderId("v")
    )
    await waiters.on_event(delivery(late))  # nobody waits any more: nothing to resolve
    assert len(waiters) == 0


async def test_an_outcome_resolves_the_order_of_its_own_account_only() -> None:
    waiters = Waiters()
    alpha = AccountId("alpha")
    with waiters.expect([C1], {C1: alpha}) as theirs, waiters.expect([C1]) as mine:
        denied = OrderDenied(client_order_id=C1, symbol=BTC, ts_event_ns=1, reason="no")
        await waiters.on_event(delivery(denied))  # the default account's c-1

        resolved_mine = await wait_all(mine, timeout_s=0.01)
        resolved_theirs = await wait_all(theirs, timeout_s=0.01)

    assert resolved_mine[C1].outcome is Outcome.DENIED
    assert resolved_theirs == {}
