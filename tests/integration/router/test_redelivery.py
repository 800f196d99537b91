"""An approval of a Sending record asks the venue first: a router that died between the
venue's ack and the record's write left an order at the venue, whose state the record must
adopt, never a rejection inferred from the approval's age. A Pending record was never sent."""

from __future__ import annotations

import time
from functools import partial

import pytest
import redis.asyncio as aioredis

from libs.common import topology
from libs.common.domain.enums import Category
from libs.common.domain.ids import DEFAULT_ACCOUNT
from libs.common.domain.orders import OrderStatus, reject, start_send
from libs.common.messages import OrderAcknowledged, OrderCanceled, OrderFilled, OrderRejected
from libs.common.venue import BybitVenue, CancelOrder
from tests.integration.router.conftest import (
    Desk,
    StartRouter,
    bid,
    place_at_venue,
    venue_config,
    wait_until,
)
from tests.simulator import SimProcess

pytestmark = pytest.mark.integration


async def test_a_claimed_approval_adopts_what_the_venue_did_and_rejects_only_the_unsent_one(
    start_router: StartRouter, desk: Desk, redis: aioredis.Redis, venue_sim: SimProcess
) -> None:
    placed, never = bid("crashed-1"), bid("never-1", price="58990")
    (ack,) = await place_at_venue(venue_sim, placed)  # what the dead router sent
    async with BybitVenue(venue_config(venue_sim)) as venue:
        # gone from the open book before any router looks: no snapshot or push adopts it
        await venue.cancel(
            CancelOrder(
                category=Category.LINEAR, symbol=placed.symbol, venue_order_id=ack.venue_order_id
            )
        )
    old_ns = time.time_ns() - 4_000_000_000  # past max_order_age_s below: "stale" on arrival
    for place in (placed, never):
        await desk.orders.create(place.to_order(old_ns))
    # the dead router wrote the one it sent as Sending first
    sending = partial(start_send, qty=placed.qty, price=placed.price, ts_ns=old_ns)
    await desk.orders.update(placed.client_order_id, sending)
    stream = topology.ORDERS_APPROVED.of(DEFAULT_ACCOUNT).name
    await redis.xgroup_create(stream, topology.Group.ROUTER.value, id="$", mkstream=True)
    await desk.approve_only(placed, never)
    taken = await redis.xreadgroup(topology.Group.ROUTER.value, "dead-router", {stream: ">"})
    assert len(taken[0][1]) == 2  # both delivered to a router that then died

    fast = venue_config(venue_sim, recv_window=500, request_timeout_s=1.0)
    await start_router(venue=fast, claim_idle_s=2.0, max_order_age_s=3.0)

    await wait_until(lambda: desk.status_is("crashed-1", OrderStatus.CANCELED), timeout_s=15)
    await wait_until(lambda: desk.status_is("never-1", OrderStatus.REJECTED), timeout_s=15)
    assert (await desk.order("crashed-1")).venue_order_id == ack.venue_order_id
    rejected = await desk.events(OrderRejected)
    assert [(r.client_order_id, r.reason) for r in rejected] == [("never-1", "stale")]
    assert [a.client_order_id for a in await desk.events(OrderAcknowledged)] == ["crashed-1"]
    assert [c.client_order_id for c in await desk.events(OrderCanceled)] == ["crashed-1"]
    assert [o["orderLinkId"] for o in await venue_sim.orders()] == ["crashed-1"]


async def test_a_first_delivery_of_a_sending_record_asks_the_venue_and_never_sends_twice(
    start_router: StartRouter, desk: Desk, venue_sim: SimProcess
) -> None:
    """The bus lost its pending list (a Redis failover): the approval comes again as a first
    delivery, but the record says Sending, so the venue is asked, not sent a second order."""
    placed = bid("lost-pel-1")
    (ack,) = await place_at_venue(venue_sim, placed)
    await desk.orders.create(placed.to_order(time.time_ns()))
    sending = partial(start_send, qty=placed.qty, price=placed.price, ts_ns=time.time_ns())
    await desk.orders.update(placed.client_order_id, sending)
    await start_router()

    await desk.approve_only(placed)

    await wait_until(lambda: desk.status_is("lost-pel-1", OrderStatus.NEW), timeout_s=10)
    assert (await desk.order("lost-pel-1")).venue_order_id == ack.venue_order_id
    assert [o["orderLinkId"] for o in await venue_sim.orders()] == ["lost-pel-1"]
    assert [a.client_order_id for a in await desk.events(OrderAcknowledged)] == ["lost-pel-1"]


async def test_a_fill_of_an_order_rejected_by_inference_is_published_and_ends_it_filled(
    start_router: StartRouter, desk: Desk, venue_sim: SimProcess
) -> None:
    live = bid("inferred-1", qty="0.002")
    await place_at_venue(venue_sim, live)  # it reached the venue after all
    await desk.orders.create(live.to_order(time.time_ns()))
    await desk.orders.update(live.client_order_id, partial(reject, reason="stale", ts_ns=1))
    body = {"symbol": "BTCUSDT", "price": str(live.price), "qty": "0.002"}
    (fill,) = (await venue_sim.control("trade", body))["fills"]  # while no router runs

    await start_router()  # its private stream's snapshot brings the execution

    await wait_until(lambda: desk.status_is("inferred-1", OrderStatus.FILLED), timeout_s=10)
    filled = await desk.events(OrderFilled)
    assert [(f.client_order_id, f.exec_id) for f in filled] == [("inferred-1", fill["execId"])]
