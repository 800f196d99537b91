"""Helpers of the risk tests: the service in-process, and a desk that talks to it as the
gateway and the router would (records first, then commands; events read from the streams)."""

from __future__ import annotations

import time
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from decimal import Decimal
from typing import Any

import redis.asyncio as aioredis

from libs.common import topology
from libs.common.bus import DATA_FIELD
from libs.common.domain.enums import OrderType, Side
from libs.common.domain.exposure import fill_units, from_units
from libs.common.domain.ids import (
    DEFAULT_ACCOUNT,
    DEFAULT_VENUE,
    ClientOrderId,
    ExecId,
    Symbol,
    VenueId,
    new_client_order_id,
)
from libs.common.domain.positions import Fill
from libs.common.domain.risk_checks import RiskLimits
from libs.common.messages import Envelope, Message, PlaceOrder
from libs.common.service import EnvelopeCodec, ServiceRuntime
from libs.common.stores import RedisOrderStore, RedisPositionStore, RedisRiskStateStore
from libs.common.stores.exposure import FillRecord
from libs.common.stores.exposure_redis import RedisExposureLedger
from libs.common.stores.marks import Mark, RedisMarkStore
from services.risk.app import create_app
from services.risk.settings import RiskSettings
from tests.metric_samples import sample_sum

BTC = Symbol("BTCUSDT")

DEFAULT_REQUESTS = topology.ORDERS_REQUESTS.of(DEFAULT_ACCOUNT)


@asynccontextmanager
async def running_risk(redis_url: str, **overrides: Any) -> AsyncIterator[ServiceRuntime]:
    """A risk service in this process (its lifespan), fast timings for tests."""
    fields: dict[str, Any] = {
        "redis_url": redis_url,
        "port": 0,
        "refresh_interval_s": 0.05,
        "block_ms": 10,
        "claim_idle_ms": 5_000,
    }
    app = create_app(RiskSettings(**(fields | overrides)))
    async with app.router.lifespan_context(app):
        yield app.state.runtime


class Desk:
    """Writes what the gateway writes and reads what risk publishes."""

    def __init__(self, redis: aioredis.Redis) -> None:
        self.redis = redis
        self.orders = RedisOrderStore(redis)
        self.risk = RedisRiskStateStore(redis)
        self.positions = RedisPositionStore(redis)
        self.marks = RedisMarkStore(redis)
        self.ledger = RedisExposureLedger(redis)
        self._codec = EnvelopeCodec()

    async def limits(self, **fields: Any) -> RiskLimits:
        limits = RiskLimits.model_validate(
            {"max_orders_per_second": 10_000, "max_open_orders_per_symbol": 10_000} | fields
        )
        await self.risk.set_limits(limits)
        return limits

    async def mark(self, price: str, *, symbol: Symbol = BTC, spread: str = "1") -> Mark:
        value, half = Decimal(price), Decimal(spread) / 2
        now = time.time_ns()
        mark = Mark.of(
            symbol, ts_ns=now, seen_ns=now, mark=value, bid=value - half, ask=value + half
        )
        assert mark is not None
        await self.marks.put_many([mark])
        return mark

    async def place(
        self,
        qty: str,
        price: str | None,
        *,
        side: Side = Side.BUY,
        symbol: Symbol = BTC,
        venue: str = DEFAULT_VENUE,
    ) -> tuple[PlaceOrder, Envelope]:
        """Write the Pending record and publish PlaceOrder, as the gateway does."""
        command = PlaceOrder(
            client_order_id=new_client_order_id("t"),
            symbol=symbol,
            side=side,
            order_type=OrderType.MARKET if price is None else OrderType.LIMIT,
            qty=Decimal(qty),
            price=None if price is None else Decimal(price),
            venue=VenueId(venue),
        )
        await self.orders.create(command.to_order(time.time_ns()))
        envelope = Envelope.wrap(command)
        await self.publish(topology.ORDERS_REQUESTS.of(DEFAULT_ACCOUNT), envelope)
        return command, envelope

    async def publish(self, stream: topology.Stream, envelope: Envelope) -> None:
        await self.redis.xadd(stream.name, {DATA_FIELD: envelope.to_json()})

    async def send(
        self,
        message: Message,
        stream: topology.Stream = DEFAULT_REQUESTS,
    ) -> Envelope:
        envelope = Envelope.wrap(message)
        await self.publish(stream, envelope)
        return envelope

    async def read(self, stream: topology.Stream) -> list[Envelope]:
        entries: Any = await self.redis.xrange(stream.name)
        return [self._codec.decode(fields[DATA_FIELD]) for _, fields in entries]

    async def messages(self, stream: topology.Stream, kind: type[Message]) -> list[Any]:
        return [e.open() for e in await self.read(stream) if e.type == kind.TYPE]

    async def fill(
        self,
        exec_id: str,
        side: Side,
        qty: str,
        price: str,
        *,
        fee: str = "0",
        symbol: Symbol = BTC,
    ) -> None:
        """Fold a fill into the position, as the positions service does."""
        fill = Fill(
            exec_id=ExecId(exec_id),
            symbol=symbol,
            side=side,
            qty=Decimal(qty),
            price=Decimal(price),
            fee=Decimal(fee),
            ts_ns=time.time_ns(),
        )
        await self.positions.apply_fill(fill)

    async def report_fill(self, exec_id: str, qty: str, price: str = "100") -> None:
        """Claim and count a Buy fill in the ledger, as the router does when the venue reports
        it (positions has not folded it yet)."""
        record = FillRecord(
            symbol=BTC,
            exec_id=ExecId(exec_id),
            side=Side.BUY,
            units=fill_units(Decimal(qty), Decimal(price)),
            claim_key=f"test-claim:{exec_id}",
            event=b"{}",
        )
        await self.ledger.record_fills(
            [record], to=topology.AccountStream("test.fills", 100), claim_ttl_ms=60_000,
            now_ms=time.time_ns() // 1_000_000,
        )  # fmt: skip

    async def reserved_usd(self, side: Side = Side.BUY, symbol: Symbol = BTC) -> Decimal:
        """What the exposure ledger counts for the open orders of one side."""
        book = (await self.ledger.books([symbol]))[symbol]
        return from_units(book.side(side))

    async def status_of(self, client_order_id: ClientOrderId) -> str | None:
        order = await self.orders.get(client_order_id)
        return None if order is None else order.status.value


def sample(runtime: ServiceRuntime, name: str, **labels: str) -> float:
    """A metric's current value in one instance, summed over the series with `labels` (0
    when it has none)."""
    return sample_sum(runtime.registry, name, **labels)


def handled(runtime: ServiceRuntime, family: str = "orders.requests") -> int:
    """Messages of the `family` streams (the desk's and every account's) this risk instance
    handled, over all its consumers of them."""
    consumers = runtime.state["risk.consumers"]
    return sum(int(c.stats.handled) for c in consumers if c.spec.stream.name.endswith(f":{family}"))
