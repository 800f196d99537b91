"""Fixtures of the router tests: router apps run in-process against real Redis and the real
simulator process, and the gateway / risk side of the flow played by hand."""

from __future__ import annotations

import asyncio
import contextlib
import time
from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import dataclass
from decimal import Decimal
from typing import Any, Protocol, TypeVar

import httpx
import pytest
import redis.asyncio as aioredis
from fastapi import FastAPI

from libs.common import topology
from libs.common.bus import Bus
from libs.common.domain.enums import Category, OrderType, Side
from libs.common.domain.ids import DEFAULT_ACCOUNT, ClientOrderId, Symbol
from libs.common.domain.orders import Order, OrderStatus
from libs.common.messages import Command, Envelope, Message, OrderApproved, PlaceOrder
from libs.common.service import EnvelopeCodec, ServiceRuntime
from libs.common.stores import RedisOrderStore
from libs.common.venue import BybitVenue, OrderAck, VenueConfig
from libs.common.venue import PlaceOrder as VenuePlace
from services.router.app import create_app
from services.router.freeze_watch import FreezeWatcher
from services.router.private_stream import PrivateStreamOwner
from services.router.reconcile import Reconciler
from services.router.settings import RouterSettings
from tests.metric_samples import sample_sum
from tests.simulator import SimProcess

M = TypeVar("M", bound=Message)


async def wait_until(
    condition: Callable[[], bool | Awaitable[bool]], timeout_s: float = 10.0, what: str = ""
) -> None:
    """Poll `condition` every 20 ms until it holds; fail the test after `timeout_s`."""
    deadline = time.monotonic() + timeout_s
    while True:
        result = condition()
        if not isinstance(result, bool):
            result = await result
        if result:
            return
        if time.monotonic() > deadline:
            pytest.fail(f"not within {timeout_s} s: {what or condition}")
        await asyncio.sleep(0.02)


def venue_config(sim: SimProcess, **overrides: Any) -> VenueConfig:
    fields: dict[str, Any] = {
        "venue": "sim",
        "venue_url": sim.base_url,
        "api_key": sim.api_key,
        "api_secret": sim.api_secret,
        "ws_ping_interval_s": 0.5,
        "ws_reconnect_min_s": 0.1,
        "request_timeout_s": 3.0,
        "retry_backoff_s": 0.02,
    }
    return VenueConfig(**(fields | overrides))


def bid(cid: str, price: str = "59000", qty: str = "0.002", symbol: str = "BTCUSDT") -> PlaceOrder:
    return PlaceOrder(
        client_order_id=ClientOrderId(cid),
        symbol=Symbol(symbol),
        side=Side.BUY,
        order_type=OrderType.LIMIT,
        qty=Decimal(qty),
        price=Decimal(price),
    )


async def place_at_venue(sim: SimProcess, *places: PlaceOrder) -> list[OrderAck]:
    """Place orders straight at the venue, behind the engine's back: a dead router's send,
    a manual order, an order from before Redis lost its data."""
    async with BybitVenue(venue_config(sim)) as venue:
        return [
            await venue.place(
                VenuePlace(
                    category=Category.LINEAR,
                    symbol=p.symbol,
                    side=p.side,
                    order_type=p.order_type,
                    qty=p.qty,
                    price=p.price,
                    client_order_id=p.client_order_id,
                )
            )
            for p in places
        ]


@dataclass
class Router:
    """One router instance running in this process."""

    app: FastAPI
    stack: contextlib.AsyncExitStack

    @property
    def runtime(self) -> ServiceRuntime:
        runtime: ServiceRuntime = self.app.state.runtime
        return runtime

    @property
    def private_stream(self) -> PrivateStreamOwner:
        owner: PrivateStreamOwner = self.runtime.state["private_stream"]
        return owner

    @property
    def reconciler(self) -> Reconciler:
        reconciler: Reconciler = self.runtime.state["reconciler"]
        return reconciler

    @property
    def freeze(self) -> FreezeWatcher:
        watcher: FreezeWatcher = self.runtime.state["freeze"]
        return watcher

    def metric(self, name: str, **labels: str) -> float:
        return sample_sum(self.runtime.registry, name, **labels)

    async def get(self, path: str) -> httpx.Response:
        transport = httpx.ASGITransport(app=self.app)
        async with httpx.AsyncClient(transport=transport, base_url="http://router") as client:
            return await client.get(path)

    async def stop(self) -> None:
        await self.stack.aclose()


class StartRouter(Protocol):
    async def __call__(
        self, instance: str = "r1", *, venue: VenueConfig | None = None, **settings: Any
    ) -> Router: ...


@pytest.fixture
async def start_router(
    redis: aioredis.Redis, redis_url: str, venue_sim: SimProcess
) -> AsyncIterator[StartRouter]:
    """Start router instances (lifespan run in-process); all stopped after the test."""
    routers: list[Router] = []

    async def start(
        instance: str = "r1", *, venue: VenueConfig | None = None, **overrides: Any
    ) -> Router:
        fields: dict[str, Any] = {
            "REDIS_URL": redis_url,
            "instance": instance,
            "lease_ttl_s": 1.5,
            "reconcile_interval_s": 3600.0,
            "venue_probe_interval_s": 1.0,
            "retry_backoff_s": 0.02,
        }
        settings = RouterSettings(**(fields | overrides))
        app = create_app(settings, venue or venue_config(venue_sim))
        stack = contextlib.AsyncExitStack()
        await stack.enter_async_context(app.router.lifespan_context(app))
        router = Router(app, stack)
        routers.append(router)
        return router

    yield start
    for router in reversed(routers):
        await router.stop()


class Desk:
    """The gateway and risk side of the flow: records written, commands approved."""

    def __init__(self, redis: aioredis.Redis) -> None:
        self.redis = redis
        self.bus = Bus(redis, EnvelopeCodec())
        self.orders = RedisOrderStore(redis)

    async def approve(self, *places: PlaceOrder) -> None:
        """Write each order Pending (as the gateway does), then approve it (as risk does)."""
        for place in places:
            await self.orders.create(place.to_order(time.time_ns()))
        envelopes = [Envelope.wrap(OrderApproved(order=place)) for place in places]
        await self.bus.publish_many(topology.ORDERS_APPROVED.of(DEFAULT_ACCOUNT), envelopes)

    async def approve_only(self, *places: PlaceOrder) -> None:
        """Publish approvals of records written already."""
        envelopes = [Envelope.wrap(OrderApproved(order=place)) for place in places]
        await self.bus.publish_many(topology.ORDERS_APPROVED.of(DEFAULT_ACCOUNT), envelopes)

    async def command(self, command: Command | OrderApproved) -> None:
        """Publish an approval, or an amend / cancel / cancel-all as risk republishes it."""
        await self.bus.publish(topology.ORDERS_APPROVED.of(DEFAULT_ACCOUNT), Envelope.wrap(command))

    async def order(self, cid: str) -> Order:
        order = await self.orders.get(ClientOrderId(cid))
        assert order is not None, f"no record of {cid}"
        return order

    async def status_is(self, cid: str, status: OrderStatus) -> bool:
        order = await self.orders.get(ClientOrderId(cid))
        return order is not None and order.status is status

    async def events(self, kind: type[M]) -> list[M]:
        """The messages of one kind on orders.events, oldest first."""
        entries: Any = await self.redis.xrange(topology.ORDERS_EVENTS.of(DEFAULT_ACCOUNT).name)
        messages = [Envelope.from_json(fields[b"__data__"]).open() for _, fields in entries]
        return [m for m in messages if isinstance(m, kind)]


@pytest.fixture
def desk(redis: aioredis.Redis) -> Desk:
    return Desk(redis)
