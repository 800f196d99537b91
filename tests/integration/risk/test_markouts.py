"""Markout edge: against the real simulator, and across a risk restart.

Resting bids fill at the mid of their moment (a public trade prints at their price), so
their edge measured at fill time is positive; then the simulator's mid is driven below the
fills. The markouts, the mid some time after each fill, come out negative, and trading
freezes on markout edge alone. The whole way is real: risk admits the bids, the router
places them at the simulator and publishes the fills from its private stream, positions
writes the marks from the simulator's public tickers. Horizons are short for speed.

Markouts are scheduled in Redis in the step that measures the fill: those a stopped risk
instance left behind are settled by the next one.
"""

from __future__ import annotations

import asyncio
import contextlib
import time
from collections.abc import AsyncIterator
from decimal import Decimal
from typing import Any

import pytest
import redis.asyncio as aioredis

from libs.common import topology
from libs.common.domain.enums import Side
from libs.common.domain.ids import DEFAULT_ACCOUNT, ClientOrderId, ExecId, VenueOrderId
from libs.common.domain.risk_checks import TradingState
from libs.common.messages import EdgeMeasured, OrderFilled
from libs.common.service import ServiceRuntime
from libs.common.stores.marks import RedisMarkStore
from libs.common.venue import VenueConfig
from services.router.app import create_app as create_router
from services.router.private_stream import PrivateStreamOwner
from services.router.settings import RouterSettings
from tests.integration.bus.helpers import wait_until
from tests.integration.positions.helpers import running_positions, sim_venue
from tests.integration.risk.helpers import BTC, Desk, running_risk, sample
from tests.simulator import SimProcess

pytestmark = pytest.mark.integration
D = Decimal

MARKOUTS: dict[str, Any] = {
    "markout_horizons_s": "0.2,0.5,1",
    "markout_freeze_horizon_s": D("0.5"),
    "markout_freeze_threshold_bps": D(-5),
    "markout_min_fills": 2,
    "markout_window_s": 60,
    "markout_interval_s": 0.05,
    "markout_settle_delay_s": 0.2,
    "edge_min_fills": 1,  # measured edge is judged on every fill: it must not be what freezes
}


@contextlib.asynccontextmanager
async def running_router(redis_url: str, sim: SimProcess) -> AsyncIterator[ServiceRuntime]:
    """A router in this process, holding the simulator's private stream."""
    settings = RouterSettings(
        REDIS_URL=redis_url,
        instance="markout-router",
        lease_ttl_s=1.5,
        reconcile_interval_s=3600.0,
        venue_probe_interval_s=1.0,
        retry_backoff_s=0.02,
    )
    venue = VenueConfig(
        venue="sim",
        venue_url=sim.base_url,
        api_key=sim.api_key,
        api_secret=sim.api_secret,
        ws_ping_interval_s=0.5,
        ws_reconnect_min_s=0.1,
        request_timeout_s=3.0,
        retry_backoff_s=0.02,
    )
    app = create_router(settings, venue)
    async with app.router.lifespan_context(app):
        runtime: ServiceRuntime = app.state.runtime
        stream: PrivateStreamOwner = runtime.state["private_stream"]
        await wait_until(lambda: stream.holding, timeout_s=10)
        yield runtime


async def test_market_running_through_filled_bids_freezes_on_markout_edge_alone(
    redis: aioredis.Redis, redis_url: str, venue_sim: SimProcess
) -> None:
    desk = Desk(redis)
    await desk.limits(edge_freeze_threshold_bps=D(0))
    await venue_sim.control("mid", {"symbol": BTC, "price": "60000"})

    async with (
        running_positions(redis_url, sim_venue(venue_sim)),
        running_router(redis_url, venue_sim),
        running_risk(redis_url, **MARKOUTS) as risk,
    ):
        await wait_until(lambda: _mid_is(desk, D(60000)), timeout_s=10)
        bids = [(await desk.place("0.01", "59990"))[0] for _ in range(2)]
        await wait_until(lambda: _all_new(desk, [b.client_order_id for b in bids]))

        trade = {"symbol": BTC, "price": "59990", "qty": "0.02", "side": "Sell"}
        fills = (await venue_sim.control("trade", trade))["fills"]
        await venue_sim.control("mid", {"symbol": BTC, "price": "59900"})  # and away
        await wait_until(lambda: _frozen(desk), timeout_s=10)
        await wait_until(lambda: sample(risk, "edge_bps", symbol=BTC, source="markout_1s") < 0)

        status = await desk.risk.trading_state()
        measured = await desk.messages(topology.ORDERS_EVENTS.of(DEFAULT_ACCOUNT), EdgeMeasured)
        gauges = {
            source: sample(risk, "edge_bps", symbol=BTC, source=source)
            for source in ("measured", "markout_0.2s", "markout_0.5s", "markout_1s")
        }
        freezes = {
            reason: sample(risk, "freeze_triggered_total", reason=reason)
            for reason in ("markout_edge", "edge_collapse")
        }

    assert len(fills) == 2
    assert status.reason.startswith("markout_edge: markout edge -"), status.reason
    assert "at +0.5s on BTCUSDT over 2 fills in 60 s is below the threshold -5 bps" in (
        status.reason
    )
    assert [(m.side, m.fill_price) for m in measured] == [(Side.BUY, D(59990))] * 2
    assert all(m.mid >= D(59990) and m.edge_bps >= 0 for m in measured), measured
    assert gauges["measured"] >= 0
    assert all(gauges[f"markout_{h}s"] < -5 for h in ("0.2", "0.5", "1")), gauges
    assert freezes == {"markout_edge": 1.0, "edge_collapse": 0.0}


async def test_markouts_scheduled_before_a_restart_are_settled_by_the_next_instance(
    redis: aioredis.Redis, redis_url: str
) -> None:
    desk = Desk(redis)
    await desk.limits(edge_freeze_threshold_bps=D(0))
    await desk.mark("100", spread="0.1")
    settings = MARKOUTS | {
        "markout_horizons_s": "1,1.5,2",
        "markout_freeze_horizon_s": D(1),
        "markout_min_fills": 1,
        "markout_settle_delay_s": 0,
    }
    first = settings | {"markout_interval_s": 10}  # its one settling pass is at its start

    async with running_risk(redis_url, **first):
        fill = _fill("r1", "99.95")  # +5 bps at fill time
        await desk.send(fill, topology.ORDERS_EVENTS.of(DEFAULT_ACCOUNT))
        await wait_until(lambda: _count(desk, EdgeMeasured, 1))
        await desk.mark("99.5", spread="0.1")  # then the market runs away
    pending = await redis.zcard(topology.MARKOUTS_PENDING_KEY)
    await asyncio.sleep((fill.ts_event_ns + 2_100_000_000 - time.time_ns()) / 1e9)  # all due

    async with running_risk(redis_url, **settings) as risk:
        await wait_until(lambda: _frozen(desk))
        await wait_until(lambda: sample(risk, "edge_bps", symbol=BTC, source="markout_2s") < 0)
        markout = sample(risk, "edge_bps", symbol=BTC, source="markout_2s")
        left = await redis.zcard(topology.MARKOUTS_PENDING_KEY)

    assert (pending, left) == (3, 0)
    expected = (D("99.5") - D("99.95")) / D("99.95") * 10_000  # about -45 bps
    assert markout == pytest.approx(float(expected))
    assert (await desk.risk.trading_state()).reason.startswith("markout_edge: markout edge -45.02")


async def _mid_is(desk: Desk, mid: Decimal) -> bool:
    mark = await RedisMarkStore(desk.redis).get(BTC)
    return mark is not None and mark.mid_or_mark == mid


async def _all_new(desk: Desk, client_order_ids: list[ClientOrderId]) -> bool:
    return all([await desk.status_of(c) == "New" for c in client_order_ids])


async def _count(desk: Desk, kind: type, n: int) -> bool:
    return len(await desk.messages(topology.ORDERS_EVENTS.of(DEFAULT_ACCOUNT), kind)) >= n


def _fill(exec_id: str, price: str) -> OrderFilled:
    return OrderFilled(
        client_order_id=None,
        venue_order_id=VenueOrderId("v-" + exec_id),
        symbol=BTC,
        exec_id=ExecId(exec_id),
        side=Side.BUY,
        qty=D(1),
        price=D(price),
        fee=D(0),
        is_maker=True,
        ts_event_ns=time.time_ns(),
    )


async def _frozen(desk: Desk) -> bool:
    return (await desk.risk.trading_state()).state is TradingState.FROZEN
