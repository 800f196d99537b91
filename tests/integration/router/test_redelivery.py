"""A redelivered approval of a Pending record asks the venue first: a router that died between
the venue's ack and the record's write left an order at the venue, whose state the record
must adopt, never a rejection inferred from the approval's age."""

from __future__ import annotations

import time
from decimal import Decimal

import pytest
import redis.asyncio as aioredis

from libs.common import topology
from libs.common.domain.enums import Category
from libs.common.domain.orders import OrderStatus
from libs.common.messages import OrderAcknowledged, OrderCanceled, OrderRejected
from libs.common.venue import BybitVenue, CancelOrder, PlaceOrder
from tests.integration.router.conftest import Desk, StartRouter, bid, venue_config, wait_until
from tests.simulator import SimProcess

pytestmark = pytest.mark.integration


async def test_a_claimed_approval_adopts_what_the_venue_did_and_rejects_only_the_unsent_one(
    start_router: StartRouter, desk: Desk, redis: aioredis.Redis, venue_sim: SimProcess
) -> None:
    placed, never = bid("crashed-1"), bid("never-1", price="58990")
    async with BybitVenue(venue_config(venue_sim)) as venue:  # what the dead router sent
        ack = await venue.place(
            PlaceOrder(
                category=Category.LINEAR,
                symbol=placed.symbol,
                side=placed.side,
                order_type=placed.order_type,
                qty=placed.qty,
                price=Decimal(placed.price or 0),
                client_order_id=placed.client_order_id,
            )
        )
        # gone from the open book before any router looks: no snapshot or push adopts it
        await venue.cancel(
            CancelOrder(
                category=Category.LINEAR, symbol=placed.symbol, venue_order_id=ack.venue_order_id
            )
        )
    old_ns = time.time_ns() - 4_000_000_000  # past max_order_age_s below: "stale" on arrival
    for place in (placed, never):
        await desk.orders.create(place.to_order(old_ns))
    stream = topology.ORDERS_APPROVED.name
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
