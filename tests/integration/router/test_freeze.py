"""Freeze: the broadcast flattens the venue; the venue circuit opening freezes trading."""

from __future__ import annotations

import time
from decimal import Decimal
from functools import partial

import pytest
import redis.asyncio as aioredis
from prometheus_client import CollectorRegistry

from libs.common.domain.enums import Category, OrderType, Side
from libs.common.domain.ids import ClientOrderId
from libs.common.domain.orders import OrderStatus
from libs.common.domain.risk_checks import TradingState
from libs.common.freeze import trigger_freeze
from libs.common.metrics import EngineMetrics, FreezeReason
from libs.common.stores import RedisRiskStateStore
from libs.common.topology import VENUE_CIRCUITS_KEY, venue_circuit_key
from libs.common.venue import BybitVenue, PlaceOrder
from tests.integration.router.conftest import Desk, StartRouter, bid, venue_config, wait_until
from tests.simulator import SimProcess

pytestmark = pytest.mark.integration


async def open_at_venue(sim: SimProcess) -> list[str]:
    return [o["orderLinkId"] for o in await sim.orders() if o["orderStatus"] == "New"]


async def test_freeze_broadcast_cancels_every_resting_order_and_confirms_none_open(
    start_router: StartRouter, desk: Desk, redis: aioredis.Redis, venue_sim: SimProcess
) -> None:
    router = await start_router()
    await wait_until(lambda: router.private_stream.holding, what="private stream held")
    await desk.approve(bid("f-btc"), bid("f-eth", price="2900", qty="0.1", symbol="ETHUSDT"))
    async with BybitVenue(venue_config(venue_sim)) as manual:  # placed behind the engine's back
        await manual.place(
            PlaceOrder(
                category=Category.LINEAR,
                symbol="SOLUSDT",
                side=Side.SELL,
                order_type=OrderType.LIMIT,
                qty=Decimal("1"),
                price=Decimal("160"),
                client_order_id=ClientOrderId("f-manual"),
            )
        )
    await wait_until(lambda: desk.status_is("f-eth", OrderStatus.NEW))
    await wait_until(lambda: desk.status_is("f-btc", OrderStatus.NEW))
    assert sorted(await open_at_venue(venue_sim)) == ["f-btc", "f-eth", "f-manual"]

    result = await trigger_freeze(
        RedisRiskStateStore(redis),
        EngineMetrics(CollectorRegistry()),
        reason=FreezeReason.MANUAL,
        detail="test",
        actor="tester",
        now_ns=time.time_ns(),
    )

    status = await RedisRiskStateStore(redis).trading_state()
    await wait_until(
        lambda: router.freeze.confirmed == (status.generation, result.epoch),
        what="sweep confirmed",
    )
    assert await open_at_venue(venue_sim) == []
    for cid in ("f-btc", "f-eth"):  # the records follow from the venue's pushes
        await wait_until(partial(desk.status_is, cid, OrderStatus.CANCELED))
    drift = router.metric("reconciliation_drift", kind="open_orders", symbol="BTCUSDT")
    assert drift == 0


async def test_venue_circuit_opens_after_server_errors_and_freezes_trading(
    start_router: StartRouter, desk: Desk, redis: aioredis.Redis, venue_sim: SimProcess
) -> None:
    router = await start_router(circuit_failure_threshold=3, venue_probe_interval_s=3600.0)
    await wait_until(
        lambda: (
            router.metric("venue_request_seconds_count", endpoint="/v5/market/time", ret_code="0")
            >= 1
        )
    )
    await venue_sim.control("faults", {"http5xx_next": 50})

    await desk.approve(bid("into-5xx"))

    store = RedisRiskStateStore(redis)
    await wait_until(
        lambda: _state_is(store, TradingState.FROZEN), what="trading frozen by the circuit"
    )
    status = await store.trading_state()
    assert status.reason.startswith(FreezeReason.VENUE_CIRCUIT.value)
    assert status.actor == "router:r1"
    assert router.metric("venue_circuit_state", state="open") == 1
    assert router.metric("venue_circuit_state", state="closed") == 0
    assert router.metric("freeze_triggered_total", reason="venue_circuit") == 1
    assert await redis.hget(venue_circuit_key("r1"), "state") == b"open"
    assert await redis.zscore(VENUE_CIRCUITS_KEY, "r1") is not None  # listed for readers
    # Sent into the 5xx: unknown, left Sending to reconcile. Or, when other calls' failures
    # opened the breaker first, never sent and refused as such: both are true, and racy.
    order = await desk.order("into-5xx")
    assert order.status is OrderStatus.SENDING or (
        order.status is OrderStatus.REJECTED and order.reason == "circuit_open"
    ), order
    assert [o for o in await venue_sim.orders() if o["orderLinkId"] == "into-5xx"] == []


async def _state_is(store: RedisRiskStateStore, state: TradingState) -> bool:
    return (await store.trading_state()).state is state


async def test_credentials_refused_by_the_venue_freeze_trading(
    start_router: StartRouter, redis: aioredis.Redis, venue_sim: SimProcess
) -> None:
    await start_router(venue=venue_config(venue_sim, api_secret="not-the-secret"))

    store = RedisRiskStateStore(redis)
    await wait_until(lambda: _state_is(store, TradingState.FROZEN), what="frozen for auth")
    assert (await store.trading_state()).reason.startswith(FreezeReason.AUTH.value)
