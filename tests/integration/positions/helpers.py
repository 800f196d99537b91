"""Helpers of the positions tests: the service in-process, fills as the router publishes them."""

from __future__ import annotations

import time
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from decimal import Decimal
from typing import Any

import redis.asyncio as aioredis

from libs.common import topology
from libs.common.bus import DATA_FIELD
from libs.common.domain.enums import Side
from libs.common.domain.ids import (
    DEFAULT_ACCOUNT,
    AccountId,
    ClientOrderId,
    ExecId,
    Symbol,
    VenueOrderId,
)
from libs.common.messages import Envelope, FundingSettled, OrderFilled, PositionUpdated
from libs.common.redis_server import free_port
from libs.common.service import ServiceRuntime
from libs.common.venue import Execution, VenueConfig
from services.positions.app import STATE_KEY, PositionsParts, create_app
from services.positions.settings import PositionsSettings
from tests.simulator import SimProcess

BTC = Symbol("BTCUSDT")


def unreachable_venue() -> VenueConfig:
    """A venue nobody listens on (failing at once): for tests about fills alone."""
    url = f"http://127.0.0.1:{free_port()}"
    return VenueConfig(venue="sim", venue_url=url, get_attempts=1, sync_clock_on_start=False)


def sim_venue(sim: SimProcess) -> VenueConfig:
    return VenueConfig(
        venue="sim", venue_url=sim.base_url, api_key=sim.api_key, api_secret=sim.api_secret
    )


@asynccontextmanager
async def running_positions(
    redis_url: str, venue: VenueConfig | None = None, **overrides: Any
) -> AsyncIterator[ServiceRuntime]:
    """A positions service in this process (its lifespan), with fast timings."""
    fields: dict[str, Any] = {
        "redis_url": redis_url,
        "port": 0,
        "venue": venue or unreachable_venue(),
        "symbols": ("BTCUSDT",),
        "block_ms": 10,
        "refresh_interval_s": 0.05,
        "lease_ttl_ms": 600,
        "marks_flush_interval_s": 0.02,
        "marks_touch_interval_s": 0.1,
        "mark_update_interval_s": 0.05,
        "reconcile_interval_s": 0.1,
    }
    app = create_app(PositionsSettings(**(fields | overrides)))
    async with app.router.lifespan_context(app):
        yield app.state.runtime


def parts(runtime: ServiceRuntime) -> PositionsParts:
    found: PositionsParts = runtime.state[STATE_KEY]
    return found


def filled(
    exec_id: str,
    side: Side,
    qty: str,
    price: str,
    *,
    fee: str = "0",
    symbol: Symbol = BTC,
    ts_ns: int | None = None,
    account: AccountId = DEFAULT_ACCOUNT,
) -> OrderFilled:
    return OrderFilled(
        account=account,
        client_order_id=ClientOrderId("c-" + exec_id),
        venue_order_id=VenueOrderId("v-" + exec_id),
        symbol=symbol,
        exec_id=ExecId(exec_id),
        side=side,
        qty=Decimal(qty),
        price=Decimal(price),
        fee=Decimal(fee),
        is_maker=False,
        ts_event_ns=time.time_ns() if ts_ns is None else ts_ns,
    )


def from_execution(execution: Execution) -> OrderFilled:
    """The OrderFilled the router publishes for a venue execution."""
    return OrderFilled(
        client_order_id=execution.client_order_id,
        venue_order_id=execution.venue_order_id,
        symbol=Symbol(execution.symbol),
        exec_id=execution.exec_id,
        side=execution.side,
        qty=execution.qty,
        price=execution.price,
        fee=execution.fee,
        is_maker=execution.is_maker,
        ts_event_ns=execution.exec_time_ms * 1_000_000,
    )


async def publish(redis: aioredis.Redis, message: OrderFilled | FundingSettled) -> Envelope:
    envelope = Envelope.wrap(message)
    await redis.xadd(
        topology.ORDERS_EVENTS.of(DEFAULT_ACCOUNT).name, {DATA_FIELD: envelope.to_json()}
    )
    return envelope


async def updates(redis: aioredis.Redis) -> list[tuple[Envelope, PositionUpdated]]:
    entries: Any = await redis.xrange(topology.POSITIONS_UPDATES.name)
    envelopes = [Envelope.from_json(fields[DATA_FIELD]) for _, fields in entries]
    return [(e, e.open_as(PositionUpdated)) for e in envelopes]
