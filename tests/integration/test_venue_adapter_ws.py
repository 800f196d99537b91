"""The private and public streams against the simulator over real WebSockets."""

from __future__ import annotations

import time
from collections.abc import AsyncIterator
from decimal import Decimal
from typing import Any

import pytest

from libs.common.domain.enums import Category, OrderType, Side, VenueOrderStatus
from libs.common.venue import (
    AuthenticationFailed,
    BybitVenue,
    Execution,
    PlaceOrder,
    PrivateSnapshot,
    PrivateStream,
    PublicStream,
    Ticker,
    VenueConfig,
    VenueOrder,
)
from tests.adapter_helpers import caught_up, collect, fills, until
from tests.simulator import SimProcess

pytestmark = pytest.mark.integration
LINEAR = Category.LINEAR


def config(sim: SimProcess, **kw: Any) -> VenueConfig:
    fields: dict[str, Any] = {
        "venue": "sim",
        "venue_url": sim.base_url,
        "api_key": sim.api_key,
        "api_secret": sim.api_secret,
        "ws_ping_interval_s": 0.5,
        **kw,
    }
    return VenueConfig(**fields)


@pytest.fixture
async def venue(venue_sim: SimProcess) -> AsyncIterator[BybitVenue]:
    # A slow first reconnect leaves room to trade while the stream is down.
    async with BybitVenue(config(venue_sim, ws_reconnect_min_s=1.0)) as v:
        yield v


def bid(link: str, price: str) -> PlaceOrder:
    return PlaceOrder(
        category=LINEAR,
        symbol="BTCUSDT",
        side=Side.BUY,
        order_type=OrderType.LIMIT,
        qty=Decimal("0.002"),
        price=Decimal(price),
        client_order_id=link,  # type: ignore[arg-type]
    )


async def trade(sim: SimProcess, price: str, qty: str) -> list[str]:
    reply = await sim.control("trade", {"symbol": "BTCUSDT", "price": price, "qty": qty})
    return [f["execId"] for f in reply["fills"]]


async def test_no_execution_is_lost_or_doubled_across_a_drop(
    venue: BybitVenue, venue_sim: SimProcess
) -> None:
    async with PrivateStream(venue) as stream:
        first = await collect(stream, lambda ev: len(ev) >= 1)
        assert isinstance(first[0], PrivateSnapshot) and first[0].connection == 0

        for i in range(4):
            await venue.place(bid(f"ws-{i}", str(59000 - i * 10)))
        live = await trade(venue_sim, "58990", "0.003")  # ws-0 filled, ws-1 partly
        events = await collect(stream, lambda ev: {e.exec_id for e in fills(ev)} >= set(live))

        await venue_sim.control("ws/drop", {"channel": "private"})
        await until(lambda: not stream.connected.is_set())
        missed = await trade(venue_sim, "58970", "0.004")  # ws-1 rest, ws-2, ws-3 partly
        missed += await trade(venue_sim, "58970", "0.001")  # ws-3 rest
        assert len(live) == 2 and len(missed) == 4 and not stream.connected.is_set()

        events = await caught_up(stream, events, live, missed)

    ids = [e.exec_id for e in fills(events)]
    at_venue = (await venue_sim.control("executions", method="GET"))["list"]
    assert sorted(ids) == sorted(e["execId"] for e in at_venue)
    assert sum(e.qty for e in fills(events)) == Decimal("0.008")


async def test_order_updates_and_positions_are_pushed(
    venue: BybitVenue, venue_sim: SimProcess
) -> None:
    async with PrivateStream(venue) as stream:
        await stream.wait_connected()
        await venue.place(bid("push-1", "59000"))
        await trade(venue_sim, "59000", "0.002")
        events = await collect(
            stream,
            lambda ev: any(
                isinstance(e, VenueOrder) and e.status is VenueOrderStatus.FILLED for e in ev
            ),
        )
    statuses = [e.status for e in events if isinstance(e, VenueOrder)]
    assert statuses == [VenueOrderStatus.NEW, VenueOrderStatus.FILLED]
    positions = [e for e in events if not isinstance(e, VenueOrder | Execution | PrivateSnapshot)]
    assert positions and positions[-1].size == Decimal("0.002")


async def test_public_tickers_follow_the_mid_and_survive_a_drop(
    venue: BybitVenue, venue_sim: SimProcess
) -> None:
    stream = PublicStream(venue.config, ["BTCUSDT"], session=venue.rest.session)
    async with stream:
        [first] = await collect(stream, lambda ev: len(ev) >= 1, within_s=5)
        assert isinstance(first, Ticker) and first.mark is not None
        assert first.bid is not None and first.ask is not None and first.bid < first.ask

        await venue_sim.control("mid", {"symbol": "BTCUSDT", "price": "61000"})
        moved = await collect(
            stream, lambda ev: bool(ev) and ev[-1].mark == Decimal("61000"), within_s=5
        )
        assert stream.latest["BTCUSDT"].mark == Decimal("61000")
        assert all(t.bid is not None and t.ask is not None for t in moved)

        await venue_sim.control("ws/drop", {"channel": "public"})
        started = time.monotonic()
        await until(lambda: stream.reconnects == 1 and stream.connected.is_set(), within_s=10)
        await venue_sim.control("mid", {"symbol": "BTCUSDT", "price": "62000"})
        await collect(stream, lambda ev: bool(ev) and ev[-1].mark == Decimal("62000"))
        assert time.monotonic() - started < 10


async def test_private_stream_ends_when_auth_keeps_failing(venue_sim: SimProcess) -> None:
    cfg = config(venue_sim, ws_reconnect_min_s=0.05, api_secret="wrong-secret")
    async with BybitVenue(cfg) as venue, PrivateStream(venue) as stream:
        with pytest.raises(AuthenticationFailed, match=r"auth refused.*attempt 3"):
            await collect(stream, lambda ev: False)
        assert stream.reconnects == 2


async def test_pushes_of_another_category_of_the_account_are_dropped(
    venue: BybitVenue, venue_sim: SimProcess
) -> None:
    spot = PlaceOrder(
        category=Category.SPOT,
        symbol="BTCUSDT",
        side=Side.BUY,
        order_type=OrderType.LIMIT,
        qty=Decimal("0.001"),
        price=Decimal("59000"),
        client_order_id="spot-1",  # type: ignore[arg-type]
    )
    async with PrivateStream(venue) as stream:  # linear only
        await stream.wait_connected()
        await venue.place(spot)
        body = {"symbol": "BTCUSDT", "price": "59000", "qty": "0.001", "category": "spot"}
        await venue_sim.control("trade", body)
        await until(lambda: stream.foreign_pushes >= 2)  # its order updates and execution
        await venue.place(bid("linear-1", "59000"))
        events = await collect(stream, lambda ev: any(isinstance(e, VenueOrder) for e in ev))
    assert [(e.client_order_id, e.category) for e in events if isinstance(e, VenueOrder)] == [
        ("linear-1", LINEAR)
    ]
    assert fills(events) == []
