"""The freeze reaches every router and ends flat whatever is lost on the way: a broadcast, the
epoch (Redis data loss), an order in flight, Redis itself, or every router (the venue's DCP)."""

from __future__ import annotations

import asyncio
import os
import signal
import time
from collections.abc import Iterator
from functools import partial
from typing import Any

import pytest
import redis.asyncio as aioredis
from prometheus_client import CollectorRegistry

from libs.common import topology
from libs.common.domain.orders import OrderStatus
from libs.common.freeze import request_unfreeze, trigger_freeze
from libs.common.metrics import EngineMetrics, FreezeReason
from libs.common.redis_server import RedisServer, start_redis_server
from libs.common.stores import RedisRiskStateStore
from tests.integration.router.conftest import Desk, StartRouter, bid, place_at_venue, wait_until
from tests.simulator import SimClient, SimProcess

pytestmark = pytest.mark.integration


def eq(watcher: Any, news: tuple[int, int]) -> bool:
    return bool(watcher.confirmed == news)


async def open_at_venue(sim: SimProcess) -> list[str]:
    return sorted(o["orderLinkId"] for o in await sim.orders() if o["orderStatus"] == "New")


async def place_behind_the_engine(sim: SimProcess, *cids: str) -> None:
    """Orders the engine has no record of (placed by hand, or before Redis lost its data)."""
    await place_at_venue(
        sim, *(bid(cid, price=str(50000 - i), qty="0.001") for i, cid in enumerate(cids))
    )


async def freeze(redis: aioredis.Redis) -> tuple[int, int]:
    """Freeze as risk or an operator does; the (generation, epoch) it made."""
    store = RedisRiskStateStore(redis)
    metrics = EngineMetrics(CollectorRegistry())
    await trigger_freeze(
        store, metrics, reason=FreezeReason.MANUAL, detail="test", actor="t", now_ns=time.time_ns()
    )
    status = await store.trading_state()
    return status.generation, status.epoch


async def test_a_freeze_whose_broadcast_never_arrives_is_still_swept_within_a_poll(
    start_router: StartRouter, redis: aioredis.Redis, venue_sim: SimProcess
) -> None:
    router = await start_router()
    await place_behind_the_engine(venue_sim, "lost-1", "lost-2")
    store = RedisRiskStateStore(redis)
    status = await store.trading_state()
    # the state alone, as a writer that died before its broadcast would have left it
    epoch = status.epoch + 1
    fields = {"state": "FROZEN", "reason": "manual: no broadcast", "actor": "t", "epoch": epoch}
    await redis.hset(topology.FREEZE_KEY, mapping=fields)  # type: ignore[misc]
    generation = (await store.trading_state()).generation

    started = time.monotonic()
    await wait_until(lambda: router.freeze.confirmed == (generation, epoch), what="swept")
    assert time.monotonic() - started < 3.0
    assert await open_at_venue(venue_sim) == []


async def test_a_freeze_after_redis_lost_its_data_is_obeyed_though_its_epoch_is_lower(
    start_router: StartRouter, redis: aioredis.Redis, venue_sim: SimProcess
) -> None:
    router = await start_router()
    store = RedisRiskStateStore(redis)
    for _ in range(3):  # the router has seen epochs up to 6
        first = await freeze(redis)
        await wait_until(partial(eq, router.freeze, first), what="first freeze swept")
        await request_unfreeze(
            store, reason="t", actor="t", now_ns=time.time_ns(), cooldown_ns=0, force=True
        )
    await redis.flushall()
    await place_behind_the_engine(venue_sim, "after-flush")

    again = await freeze(redis)

    assert again[1] < first[1] and again[0] != first[0]
    await wait_until(lambda: router.freeze.confirmed == again, what="swept after FLUSHALL")
    assert await open_at_venue(venue_sim) == []


async def test_an_order_still_in_flight_when_the_freeze_lands_is_cancelled_before_flat(
    start_router: StartRouter, desk: Desk, redis: aioredis.Redis, venue_sim: SimProcess
) -> None:
    router = await start_router()
    creates = ["/v5/order/create", "/v5/order/create-batch"]
    await venue_sim.control("faults", {"latencyMs": 800, "paths": creates})
    await desk.approve(bid("in-flight"))
    await wait_until(lambda: router.freeze.barrier.in_flight > 0, what="the create in flight")

    frozen = await freeze(redis)  # the create reaches the venue ~800 ms after it was sent

    await wait_until(lambda: router.freeze.confirmed == frozen, timeout_s=15, what="flat")
    assert await open_at_venue(venue_sim) == []
    landed = [o for o in await venue_sim.orders() if o["orderLinkId"] == "in-flight"]
    assert [o["orderStatus"] for o in landed] == ["Cancelled"]
    await asyncio.sleep(1.0)  # nothing lands later either
    assert await open_at_venue(venue_sim) == []
    await wait_until(lambda: desk.status_is("in-flight", OrderStatus.CANCELED))


@pytest.fixture
def own_redis() -> Iterator[RedisServer]:
    server = start_redis_server()
    try:
        yield server
    finally:
        os.kill(server.process.pid, signal.SIGCONT)
        server.stop()


async def test_a_router_that_loses_redis_cancels_everything_at_the_venue_on_its_own(
    start_router: StartRouter, own_redis: RedisServer, venue_sim: SimProcess
) -> None:
    router = await start_router(REDIS_URL=own_redis.url, redis_loss_cancel_s=1.0)
    await place_behind_the_engine(venue_sim, "orphan-1", "orphan-2")

    async def flat() -> bool:
        return await open_at_venue(venue_sim) == []

    os.kill(own_redis.process.pid, signal.SIGSTOP)  # no answer, no error: a partition
    try:
        await wait_until(flat, timeout_s=10, what="the venue flat without Redis")
        assert not router.freeze.barrier.is_open
    finally:
        os.kill(own_redis.process.pid, signal.SIGCONT)
    await wait_until(lambda: router.freeze.barrier.is_open, what="open again with Redis back")


async def test_when_every_router_is_gone_the_venue_cancels_by_itself(
    start_router: StartRouter, desk: Desk, venue_sim: SimProcess, sim_client: SimClient
) -> None:
    router = await start_router(lease_ttl_s=0.75, dcp_window_s=3)
    await wait_until(lambda: router.private_stream.connected, what="private stream")
    await desk.approve(bid("dcp-1"))
    await wait_until(lambda: desk.status_is("dcp-1", OrderStatus.NEW))
    info: Any = (await sim_client.get("/v5/account/query-dcp-info")).body["result"]
    windows = {i["product"]: int(i["timeWindow"]) for i in info["dcpInfos"]}
    assert windows["DERIVATIVES"] == 3

    await router.stop()  # the last connection guarding derivatives is gone

    async def fired() -> bool:
        health: dict[str, Any] = await venue_sim.control("health", method="GET")
        return "DERIVATIVES" in health["dcpFired"]

    await wait_until(fired, timeout_s=8, what="the venue's disconnect-cancel")
    assert await open_at_venue(venue_sim) == []


async def test_three_routers_fed_through_a_freeze_let_nothing_land_after_they_confirm_flat(
    start_router: StartRouter, desk: Desk, redis: aioredis.Redis, venue_sim: SimProcess
) -> None:
    routers = [await start_router(f"r{i}") for i in (1, 2, 3)]
    creates = ["/v5/order/create", "/v5/order/create-batch"]
    await venue_sim.control("faults", {"latencyMs": 150, "paths": creates})
    stop = asyncio.Event()

    async def feed() -> None:  # approvals keep coming, before and after the freeze
        n = 0
        while not stop.is_set():
            n += 1
            await desk.approve(*(bid(f"feed-{n}-{i}", price=str(59000 - i)) for i in range(3)))
            await asyncio.sleep(0.02)

    feeder = asyncio.create_task(feed())
    await asyncio.sleep(0.6)
    frozen = await freeze(redis)
    for router in routers:
        await wait_until(partial(eq, router.freeze, frozen), timeout_s=15, what="confirmed")
    last_confirmed_ns = time.time_ns()
    await asyncio.sleep(1.0)
    stop.set()
    await feeder

    receipts: Any = await venue_sim.control("receipts", method="GET")
    landed_after = [o for o in receipts["orders"] if int(o["receivedNs"]) > last_confirmed_ns]
    assert landed_after == []
    assert await open_at_venue(venue_sim) == []
    assert len(receipts["orders"]) > 0, "nothing was placed before the freeze: no test"
