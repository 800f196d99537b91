"""Evidence 5: three router instances share the work.

* A freeze reaches every instance: each confirms the venue flat for it (the freeze's
  confirmation hash names every router), and after it, orders that risk had already approved
  (published straight onto `orders.approved`, as a risk instance racing the freeze would) are
  refused by whichever router reads them, and none reaches the venue. Which router reads
  which approval is the consumer group's choice: the test does not ask that each gets some.
* `kill -9` of one router (the one holding the private-stream lease), while each venue call
  takes 40 ms so that it dies with orders in hand, in the middle of a steady flow of 200
  orders: none is lost and none placed twice. Every order ends either at the venue exactly
  once (New) or Rejected without ever reaching it (an approval the dead router read but never
  sent is refused as stale or "not at venue", never sent late); none stays Pending. A fill
  after the kill still reaches its record: another router took the private stream over.
"""

from __future__ import annotations

import asyncio
import time
from collections import Counter
from collections.abc import Awaitable, Callable
from decimal import Decimal
from typing import Any

import pytest
import redis.asyncio as aioredis

from libs.common import topology
from libs.common.bus import Bus
from libs.common.domain.enums import OrderType, Side
from libs.common.domain.ids import DEFAULT_ACCOUNT, ClientOrderId, Symbol
from libs.common.messages import Envelope, OrderApproved, PlaceOrder
from libs.common.redis_connect import redis_from_url
from libs.common.service import EnvelopeCodec
from libs.common.stores import RedisOrderStore
from services.router.private_stream import PRIVATE_STREAM_LEASE
from tests.e2e.conftest import StackFactory
from tests.e2e.harness import E2EStack, ServiceProcess, wait_for

pytestmark = pytest.mark.e2e

FLOW = 200
ROUTER_ENV = {
    "MMX_ROUTER_MAX_ORDER_AGE_S": "6",
    "MMX_ROUTER_PENDING_GRACE_S": "8",
    "MMX_ROUTER_CLAIM_IDLE_S": "3",
    "MMX_RECV_WINDOW": "1000",
    "MMX_REQUEST_TIMEOUT_S": "1.5",
}
"""Settle an unsent approval of the dead router within seconds (defaults: 30 s and 60 s); the
claim still outlives a send (recv_window + request timeout, 2.5 s), as the router checks, and
risk's claim (2 s) plus the router's stays below the max age, as both check at start."""
CREATE_PATHS = ["/v5/order/create", "/v5/order/create-batch"]
ROUTER_BATCH = 50
"""MMX_ROUTER_BATCH_SIZE's default: the most approvals a router holds at once."""
OPEN_LIMITS = {
    "maxOpenOrdersPerSymbol": 500,
    "maxOrdersPerSecond": 1000,
    "maxOrderNotional": "100000",
    "maxInventoryUsd": "10000000",
    "maxTotalNotional": "100000000",
}
QUOTES = {"BTCUSDT": ("0.001", "58000"), "ETHUSDT": ("0.01", "2900")}
"""Symbol -> (qty, a buy price far below the mid, so every order rests)."""


async def test_freeze_reaches_every_router_and_kill_9_loses_and_doubles_nothing(
    make_stack: StackFactory,
) -> None:
    stack = await make_stack(routers=3, env={"router": ROUTER_ENV})
    await stack.set_limits(**OPEN_LIMITS)
    await stack.set_mid("BTCUSDT", "60000")
    await stack.set_mid("ETHUSDT", "3000")

    await _freeze_reaches_every_router(stack)

    reply = await stack.gateway.post("/v1/risk/unfreeze", {"reason": "e2e: resume"})
    assert reply.status_code == 200, reply.text
    await _kill_9_under_flow(stack)


async def _freeze_reaches_every_router(stack: E2EStack) -> None:
    before = await stack.gateway.place(symbol="BTCUSDT", side="Buy", qty="0.001", price="58000")
    assert before["outcome"] == "accepted", before
    reply = await stack.gateway.post("/v1/risk/freeze", {"reason": "e2e: all routers"})
    assert reply.status_code == 200, reply.text
    await wait_for(_no_open_orders(stack), what="the freeze sweep", timeout_s=15)

    client = redis_from_url(stack.redis_url)
    try:
        store = RedisOrderStore(client)
        ids = [ClientOrderId(f"e2e-late-{i}") for i in range(30)]
        for client_order_id in ids:  # one at a time, so that every router gets some
            command = PlaceOrder(
                client_order_id=client_order_id,
                symbol=Symbol("BTCUSDT"),
                side=Side.BUY,
                order_type=OrderType.LIMIT,
                qty=Decimal("0.001"),
                price=Decimal("58000"),
            )
            await store.create(command.to_order(time.time_ns()))
            await _approve(client, command)
            await asyncio.sleep(0.05)

        async def all_rejected() -> bool:
            records = await store.get_many(ids)
            return all(r is not None and r.status == "Rejected" for r in records)

        await wait_for(all_rejected, what="every late approval rejected", timeout_s=15)

        async def every_router_confirmed_flat() -> bool:
            confirmed = await _flat_confirmations(client)  # instances are named {host}-{pid}
            pids = {f"-{router.proc.pid}" for router in stack.routers}
            return all(any(i.endswith(pid) for i in confirmed) for pid in pids)

        await wait_for(every_router_confirmed_flat, what="every router flat", timeout_s=15)
    finally:
        await client.aclose()
    assert {o["orderLinkId"] for o in await stack.sim.orders()} == {
        before["order"]["clientOrderId"]
    }
    refused = await stack.metric_samples("orders_rejected_total", service="router")
    assert sum(value for _, _, value in refused) >= len(ids), refused


async def _flat_confirmations(client: aioredis.Redis) -> set[str]:
    """The router instances that confirmed the venue flat for the desk's current freeze."""
    status = await client.hgetall(topology.FREEZE_KEY)
    key = topology.freeze_flat_key(status[b"generation"].decode(), int(status[b"epoch"]))
    return {field.decode() for field in await client.hkeys(key)}


async def _approve(client: aioredis.Redis, command: PlaceOrder) -> None:
    """Publish the approval of `command` on `orders.approved`, as risk does."""
    bus = Bus(client, EnvelopeCodec())
    await bus.publish(
        topology.ORDERS_APPROVED.of(DEFAULT_ACCOUNT), Envelope.wrap(OrderApproved(order=command))
    )


async def _private_stream_holder(stack: E2EStack) -> ServiceProcess:
    client = redis_from_url(stack.redis_url)
    try:
        raw = await client.get(topology.lease_key(PRIVATE_STREAM_LEASE))
    finally:
        await client.aclose()
    assert raw, "no router holds the private stream"
    owner = raw.decode() if isinstance(raw, bytes) else raw
    (holder,) = [r for r in stack.routers if owner.endswith(f"-{r.proc.pid}")]
    return holder


async def _kill_9_under_flow(stack: E2EStack) -> None:
    accepted: list[str] = []

    async def flow() -> None:
        for i in range(FLOW):
            symbol = ("BTCUSDT", "ETHUSDT")[i % 2]
            qty, price = QUOTES[symbol]
            client_order_id = f"e2e-flow-{i}"
            result = await stack.gateway.place(
                symbol=symbol,
                side="Buy",
                qty=qty,
                price=price,
                clientOrderId=client_order_id,
                wait=False,
            )
            assert result["created"], result
            accepted.append(client_order_id)
            await asyncio.sleep(0.01)

    async def under_way() -> bool:
        return len(accepted) >= FLOW // 4

    await stack.sim.control("faults", {"latencyMs": 40, "paths": CREATE_PATHS})
    task = asyncio.create_task(flow())
    await wait_for(under_way, what="the flow under way")
    victim = await _private_stream_holder(stack)
    victim.kill()
    await task
    assert not victim.alive
    assert len(accepted) == FLOW

    async def settled() -> dict[str, dict[str, Any]] | None:
        records = {i: await stack.gateway.order(i) for i in accepted}
        done = all(r is not None and r["status"] in ("New", "Rejected") for r in records.values())
        return {i: r for i, r in records.items() if r is not None} if done else None

    records = await wait_for(settled, what="every order New or Rejected", timeout_s=60)
    at_venue = Counter(
        o["orderLinkId"]
        for o in await stack.sim.orders()
        if o["orderLinkId"].startswith("e2e-flow-")
    )
    assert [i for i, n in at_venue.items() if n > 1] == [], "placed twice"
    placed = {i for i, r in records.items() if r["status"] == "New"}
    assert set(at_venue) == placed, "an order at the venue is not New, or a New one is not there"
    assert len(placed) >= FLOW - ROUTER_BATCH, "more than the dead router's one batch refused"

    trade = {"symbol": "BTCUSDT", "price": QUOTES["BTCUSDT"][1], "qty": QUOTES["BTCUSDT"][0]}
    (fill,) = (await stack.sim.control("trade", trade))["fills"]

    async def filled() -> bool:
        record = await stack.gateway.order(fill["orderLinkId"])
        return record is not None and record["status"] == "Filled"

    await wait_for(filled, what="a fill after the kill reaching its record", timeout_s=15)
    assert (await _private_stream_holder(stack)) is not victim


def _no_open_orders(stack: E2EStack) -> Callable[[], Awaitable[bool]]:
    async def probe() -> bool:
        return await stack.venue_open_orders() == []

    return probe
