"""Reconciliation: venue orders placed or cancelled behind the engine's back."""

from __future__ import annotations

import time
from decimal import Decimal

import pytest
import redis.asyncio as aioredis
from redis.exceptions import ResponseError

from libs.common.domain.enums import Category, OrderType, Side
from libs.common.domain.ids import DEFAULT_ACCOUNT, ClientOrderId, Symbol
from libs.common.domain.orders import OrderStatus
from libs.common.messages import OrderAcknowledged, OrderCanceled, OrderFilled, OrderRejected
from libs.common.stores import RedisLeaseStore
from libs.common.topology import ORDERS_EVENTS
from libs.common.venue import BybitVenue, CancelOrder, PlaceOrder
from services.router.private_stream import PRIVATE_STREAM_LEASE
from tests.integration.router.conftest import Desk, StartRouter, bid, venue_config, wait_until
from tests.simulator import SimProcess

pytestmark = pytest.mark.integration
BTC = Symbol("BTCUSDT")


def manual_bid(cid: str, price: str, qty: str = "0.003") -> PlaceOrder:
    return PlaceOrder(
        category=Category.LINEAR,
        symbol="BTCUSDT",
        side=Side.BUY,
        order_type=OrderType.LIMIT,
        qty=Decimal(qty),
        price=Decimal(price),
        client_order_id=ClientOrderId(cid),
    )


async def test_reconciliation_adopts_a_stray_order_and_settles_one_cancelled_behind_its_back(
    start_router: StartRouter, desk: Desk, redis: aioredis.Redis, venue_sim: SimProcess
) -> None:
    # Another process holds the private stream: only reconciliation can see what happens.
    assert await RedisLeaseStore(redis).acquire(PRIVATE_STREAM_LEASE, "elsewhere", 60_000)
    router = await start_router()
    await wait_until(lambda: router.reconciler.passes >= 1, what="the start-up pass")
    await desk.approve(bid("ours-1"))
    await wait_until(lambda: desk.status_is("ours-1", OrderStatus.NEW))

    async with BybitVenue(venue_config(venue_sim)) as manual:
        await manual.place(manual_bid("by-hand-1", "58000"))
        await manual.cancel(
            CancelOrder(
                category=Category.LINEAR, symbol="BTCUSDT", client_order_id=ClientOrderId("ours-1")
            )
        )
    fill = await venue_sim.control("trade", {"symbol": "BTCUSDT", "price": "58000", "qty": "0.001"})

    drift = await router.reconciler.run_once()

    assert (drift[BTC].adopted, drift[BTC].settled, drift[BTC].fills) == (1, 1, 1)
    adopted = await desk.order("by-hand-1")
    assert adopted.status is OrderStatus.PARTIALLY_FILLED
    assert adopted.filled_qty == Decimal("0.001") and adopted.venue_order_id is not None
    assert (await desk.order("ours-1")).status is OrderStatus.CANCELED
    acks = [e.client_order_id for e in await desk.events(OrderAcknowledged)]
    assert acks == ["ours-1", "by-hand-1"]
    canceled = [e.client_order_id for e in await desk.events(OrderCanceled)]
    assert canceled == ["ours-1"]
    filled = [e.exec_id for e in await desk.events(OrderFilled)]
    assert filled == [f["execId"] for f in fill["fills"]]
    assert router.metric("reconciliation_drift", kind="open_orders", symbol="BTCUSDT") == 2

    again = await router.reconciler.run_once()  # the venue and the records agree now
    assert again[BTC].open_orders == 0 and again[BTC].fills == 0


async def test_a_pending_order_the_venue_never_got_is_rejected_with_the_reason_why(
    start_router: StartRouter, desk: Desk, venue_sim: SimProcess
) -> None:
    router = await start_router()
    await wait_until(lambda: router.reconciler.passes >= 1, what="the start-up pass")
    long_ago_ns = time.time_ns() - int(3600 * 1e9)  # far past pending_grace_s
    await desk.orders.create(bid("never-sent").to_order(long_ago_ns))

    await router.reconciler.run_once()

    rejected = await desk.order("never-sent")
    assert rejected.status is OrderStatus.REJECTED
    assert rejected.reason.startswith("not_at_venue: the venue does not know"), rejected.reason
    # written in the same step as the record: no crash can leave it without its event
    events = await desk.events(OrderRejected)
    assert [(e.client_order_id, e.reason) for e in events] == [("never-sent", "not_at_venue")]


async def test_an_adoption_whose_event_cannot_be_written_writes_no_record_either(
    start_router: StartRouter, desk: Desk, redis: aioredis.Redis, venue_sim: SimProcess
) -> None:
    """Redis fails on the event's write (here: orders.events is the wrong type): the record
    is not written either, so the next pass adopts the order and announces it."""
    assert await RedisLeaseStore(redis).acquire(PRIVATE_STREAM_LEASE, "elsewhere", 60_000)
    router = await start_router()
    await wait_until(lambda: router.reconciler.passes >= 1, what="the start-up pass")
    async with BybitVenue(venue_config(venue_sim)) as manual:
        await manual.place(manual_bid("by-hand-2", "58000"))
    await redis.delete(ORDERS_EVENTS.of(DEFAULT_ACCOUNT).name)
    await redis.set(ORDERS_EVENTS.of(DEFAULT_ACCOUNT).name, "not a stream")

    with pytest.raises(ResponseError, match="WRONGTYPE"):
        await router.reconciler.reconcile(BTC)

    assert await desk.orders.get(ClientOrderId("by-hand-2")) is None
    await redis.delete(ORDERS_EVENTS.of(DEFAULT_ACCOUNT).name)
    drift = await router.reconciler.run_once()
    assert drift[BTC].adopted == 1
    assert (await desk.order("by-hand-2")).status is OrderStatus.NEW
    assert [e.client_order_id for e in await desk.events(OrderAcknowledged)] == ["by-hand-2"]
