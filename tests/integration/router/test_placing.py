"""Approved commands in, venue calls out: places, batches, freeze key, amend, cancel, /ready."""

from __future__ import annotations

import logging
import time
from decimal import Decimal
from functools import partial
from typing import Any

import pytest
import redis.asyncio as aioredis

from libs.common import topology
from libs.common.domain.ids import DEFAULT_ACCOUNT, ClientOrderId, Symbol
from libs.common.domain.orders import OrderStatus
from libs.common.messages import (
    AmendOrder,
    CancelAllOrders,
    CancelOrder,
    OrderAcknowledged,
    OrderAmended,
    OrderAmendRejected,
    OrderApproved,
    OrderCanceled,
    OrderRejected,
    OrderSubmitted,
)
from libs.common.redis_server import free_port
from libs.common.stores import RedisRiskStateStore
from tests.integration.router.conftest import Desk, StartRouter, bid, venue_config, wait_until
from tests.simulator import SimProcess

pytestmark = pytest.mark.integration
BTC = Symbol("BTCUSDT")


async def test_approved_place_is_new_at_the_venue_and_in_its_record(
    start_router: StartRouter, desk: Desk, venue_sim: SimProcess
) -> None:
    router = await start_router()
    await desk.approve(bid("place-1"))

    await wait_until(lambda: desk.status_is("place-1", OrderStatus.NEW), what="record New")
    (at_venue,) = await venue_sim.orders()
    assert at_venue["orderLinkId"] == "place-1" and at_venue["orderStatus"] == "New"
    record = await desk.order("place-1")
    assert record.venue_order_id == at_venue["orderId"]
    acks = await desk.events(OrderAcknowledged)
    assert [(a.client_order_id, a.venue_order_id) for a in acks] == [
        ("place-1", at_venue["orderId"])
    ]
    assert len(await desk.events(OrderSubmitted)) == 1
    assert router.metric("orders_placed_total", symbol="BTCUSDT", side="Buy") == 1
    assert router.metric("order_latency_seconds_count", symbol="BTCUSDT") == 1
    ready = await router.get("/ready")
    assert ready.status_code == 200, ready.json()


async def test_approved_places_waiting_together_go_through_one_batch_call(
    start_router: StartRouter, desk: Desk, venue_sim: SimProcess
) -> None:
    await desk.approve(*(bid(f"batch-{i}", price=str(59000 - i)) for i in range(5)))
    router = await start_router()

    for i in range(5):
        await wait_until(partial(desk.status_is, f"batch-{i}", OrderStatus.NEW))
    assert len(await venue_sim.orders()) == 5
    batch = router.metric(
        "venue_request_seconds_count", endpoint="/v5/order/create-batch", ret_code="0"
    )
    single = router.metric("venue_request_seconds_count", endpoint="/v5/order/create", ret_code="0")
    assert (batch, single) == (1, 0)
    assert router.metric("orders_placed_total", symbol="BTCUSDT", side="Buy") == 5


async def test_frozen_freeze_key_means_no_venue_call_and_a_frozen_reject(
    start_router: StartRouter, desk: Desk, redis: aioredis.Redis, venue_sim: SimProcess
) -> None:
    await RedisRiskStateStore(redis).freeze("test: frozen before start", "tester", time.time_ns())
    router = await start_router()
    await desk.approve(bid("while-frozen"))

    await wait_until(lambda: desk.status_is("while-frozen", OrderStatus.REJECTED))
    assert await venue_sim.orders() == []
    (rejected,) = await desk.events(OrderRejected)
    assert isinstance(rejected, OrderRejected)
    assert (rejected.client_order_id, rejected.reason) == ("while-frozen", "frozen")
    assert await desk.events(OrderSubmitted) == []
    assert (
        router.metric("venue_request_seconds_count", endpoint="/v5/order/create", ret_code="0") == 0
    )
    assert (
        router.metric("orders_rejected_total", symbol="BTCUSDT", side="Buy", reason="frozen") == 1
    )


async def test_amend_changes_the_price_at_the_venue_and_in_the_record(
    start_router: StartRouter, desk: Desk, venue_sim: SimProcess
) -> None:
    await start_router()
    await desk.approve(bid("amend-1"))
    await wait_until(lambda: desk.status_is("amend-1", OrderStatus.NEW))

    await desk.command(
        AmendOrder(client_order_id=ClientOrderId("amend-1"), symbol=BTC, price=Decimal("58900.05"))
    )

    async def amended() -> bool:
        order = await desk.order("amend-1")
        return order.price == Decimal("58900.0") and order.status is OrderStatus.NEW

    await wait_until(amended, what="record amended")
    (at_venue,) = await venue_sim.orders()
    assert Decimal(at_venue["price"]) == Decimal("58900.0")
    (event,) = await desk.events(OrderAmended)
    assert isinstance(event, OrderAmended) and event.price == Decimal("58900.0")


async def test_cancel_ends_with_the_order_canceled_at_the_venue_and_in_the_record(
    start_router: StartRouter, desk: Desk, venue_sim: SimProcess
) -> None:
    router = await start_router()
    await wait_until(lambda: router.private_stream.holding, what="private stream held")
    await desk.approve(bid("cancel-1"))
    await wait_until(lambda: desk.status_is("cancel-1", OrderStatus.NEW))

    await desk.command(CancelOrder(client_order_id=ClientOrderId("cancel-1"), symbol=BTC))

    await wait_until(lambda: desk.status_is("cancel-1", OrderStatus.CANCELED))
    (at_venue,) = await venue_sim.orders()
    assert at_venue["orderStatus"] == "Cancelled"
    canceled = await desk.events(OrderCanceled)
    assert [c.client_order_id for c in canceled] == ["cancel-1"]
    assert router.metric("orders_canceled_total", symbol="BTCUSDT", side="Buy") == 1


async def test_ready_is_false_while_the_venue_is_unreachable(
    start_router: StartRouter, venue_sim: SimProcess
) -> None:
    dead = venue_config(venue_sim, venue_url=f"http://127.0.0.1:{free_port()}", get_attempts=1)
    router = await start_router(venue=dead)

    async def not_ready() -> bool:
        answer = await router.get("/ready")
        return answer.status_code == 503 and "venue" in answer.json()["problems"]

    await wait_until(not_ready, what="/ready reports the venue")
    assert "redis" not in (await router.get("/ready")).json()["problems"]


async def test_venue_rejection_rejects_the_record_with_the_ret_code_and_logs_it(
    start_router: StartRouter, desk: Desk, venue_sim: SimProcess, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.WARNING, logger="services.router")
    router = await start_router()
    await desk.approve(bid("too-big", qty="900"))  # far beyond the account's margin

    await wait_until(lambda: desk.status_is("too-big", OrderStatus.REJECTED))
    (rejected,) = await desk.events(OrderRejected)
    assert rejected.code == 110007 and rejected.reason
    assert len(await desk.events(OrderSubmitted)) == 1
    assert (
        router.metric("orders_rejected_total", symbol="BTCUSDT", side="Buy", reason="110007") == 1
    )
    said = [r.getMessage() for r in caplog.records if "too-big" in r.getMessage()]
    assert any("rejected by the venue" in m and "110007" in m for m in said), said


async def test_order_not_on_the_instrument_is_rejected_without_a_venue_call(
    start_router: StartRouter, desk: Desk, venue_sim: SimProcess
) -> None:
    router = await start_router()
    await desk.approve(bid("dust", qty="0.0001"))  # below the minimum qty

    await wait_until(lambda: desk.status_is("dust", OrderStatus.REJECTED))
    (rejected,) = await desk.events(OrderRejected)
    assert rejected.code == -1 and rejected.reason.startswith("invalid: ")
    assert await venue_sim.orders() == []
    assert (
        router.metric("orders_rejected_total", symbol="BTCUSDT", side="Buy", reason="invalid") == 1
    )


async def test_approval_of_an_order_older_than_the_max_age_is_not_sent(
    start_router: StartRouter, desk: Desk, venue_sim: SimProcess
) -> None:
    await start_router()  # max_order_age_s 30
    place = bid("old-quote")
    await desk.orders.create(place.to_order(time.time_ns() - 60_000_000_000))
    await desk.command(OrderApproved(order=place))

    await wait_until(lambda: desk.status_is("old-quote", OrderStatus.REJECTED))
    (rejected,) = await desk.events(OrderRejected)
    assert rejected.reason == "stale"
    assert await venue_sim.orders() == []


async def test_amend_while_frozen_is_not_sent_and_the_order_keeps_its_terms(
    start_router: StartRouter, desk: Desk, redis: aioredis.Redis, venue_sim: SimProcess
) -> None:
    await start_router()
    await desk.approve(bid("amend-frozen"))
    await wait_until(lambda: desk.status_is("amend-frozen", OrderStatus.NEW))
    await RedisRiskStateStore(redis).freeze("test", "tester", time.time_ns())

    amend = AmendOrder(
        client_order_id=ClientOrderId("amend-frozen"), symbol=BTC, price=Decimal("58000")
    )
    await desk.command(amend)

    await wait_until(lambda: _has_amend_rejected(desk), what="OrderAmendRejected")
    (refused,) = await desk.events(OrderAmendRejected)
    assert (refused.code, refused.reason) == (-1, "frozen")
    record = await desk.order("amend-frozen")
    assert record.price == Decimal("59000") and record.amend_qty is None
    assert all(Decimal(o["price"]) == Decimal("59000") for o in await venue_sim.orders())


async def test_cancel_all_cancels_every_order_of_the_symbol_and_only_those(
    start_router: StartRouter, desk: Desk, venue_sim: SimProcess
) -> None:
    router = await start_router()
    await wait_until(lambda: router.private_stream.holding)
    eth = bid("keep-eth", price="2900", qty="0.1", symbol="ETHUSDT")
    await desk.approve(bid("all-1"), bid("all-2", price="58990"), eth)
    for cid in ("all-1", "all-2", "keep-eth"):
        await wait_until(partial(desk.status_is, cid, OrderStatus.NEW))

    await desk.command(CancelAllOrders(symbol=BTC))

    for cid in ("all-1", "all-2"):
        await wait_until(partial(desk.status_is, cid, OrderStatus.CANCELED))
    assert (await desk.order("keep-eth")).status is OrderStatus.NEW
    open_at_venue = [
        o["orderLinkId"] for o in await venue_sim.orders() if o["orderStatus"] == "New"
    ]
    assert open_at_venue == ["keep-eth"]


async def _has_amend_rejected(desk: Desk) -> bool:
    return bool(await desk.events(OrderAmendRejected))


async def test_cancel_all_leaves_the_quotes_placed_after_it_was_issued_working(
    start_router: StartRouter, desk: Desk, venue_sim: SimProcess
) -> None:
    router = await start_router()
    await wait_until(lambda: router.private_stream.holding)
    await desk.approve(bid("old-1"))
    await wait_until(partial(desk.status_is, "old-1", OrderStatus.NEW))
    issued = CancelAllOrders(symbol=BTC, issued_ts_ns=time.time_ns())
    await desk.approve(bid("new-1", price="58990"))  # the requote after the issue
    await wait_until(partial(desk.status_is, "new-1", OrderStatus.NEW))

    await desk.command(issued)

    await wait_until(partial(desk.status_is, "old-1", OrderStatus.CANCELED))
    open_at_venue = [
        o["orderLinkId"] for o in await venue_sim.orders() if o["orderStatus"] == "New"
    ]
    assert open_at_venue == ["new-1"]
    assert (await desk.order("new-1")).status is OrderStatus.NEW


async def test_cancel_all_of_a_book_larger_than_a_batch_window_takes_one_venue_call(
    start_router: StartRouter, desk: Desk, venue_sim: SimProcess
) -> None:
    router = await start_router(rate_limits={"batch": 5, "query": 50})
    await wait_until(lambda: router.private_stream.holding)
    await desk.approve(*(bid(f"book-{i}", price=str(59000 - i)) for i in range(12)))
    for i in range(12):
        await wait_until(partial(desk.status_is, f"book-{i}", OrderStatus.NEW))

    await desk.command(CancelAllOrders(symbol=BTC))

    for i in range(12):
        await wait_until(partial(desk.status_is, f"book-{i}", OrderStatus.CANCELED))
    calls = router.metric(
        "venue_request_seconds_count", endpoint="/v5/order/cancel-all", ret_code="0"
    )
    assert calls == 1


async def test_cancel_all_of_a_symbol_the_venue_does_not_list_is_final_not_retried(
    start_router: StartRouter, desk: Desk, redis: aioredis.Redis, venue_sim: SimProcess
) -> None:
    await start_router()
    await desk.command(CancelAllOrders(symbol=Symbol("NOSUCHUSDT")))
    await desk.approve(bid("after-unknown"))

    await wait_until(partial(desk.status_is, "after-unknown", OrderStatus.NEW))

    async def settled() -> bool:
        summary: Any = await redis.xpending(
            topology.ORDERS_APPROVED.of(DEFAULT_ACCOUNT).name, "router"
        )
        return int(summary["pending"]) == 0

    await wait_until(settled, timeout_s=2, what="every approved command acked")
    assert await redis.xlen(topology.ORDERS_APPROVED.of(DEFAULT_ACCOUNT).dlq.name) == 0
