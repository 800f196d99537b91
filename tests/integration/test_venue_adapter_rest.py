"""The Bybit adapter against the simulator over real HTTP: happy paths, validation,
pagination, retries, clock skew (10002), rate limits (10006) and IP bans (403)."""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator, Callable
from decimal import Decimal
from typing import Any

import pytest

from libs.common.domain.enums import Category, OrderType, Side, VenueOrderStatus
from libs.common.venue import (
    AmendOrder,
    AuthenticationFailed,
    BybitVenue,
    CancelOrder,
    InvalidOrderRequest,
    IpBanned,
    OrderNotFound,
    PlaceOrder,
    RateLimited,
    VenueConfig,
    VenueUnavailable,
)
from tests.simulator import SimProcess

pytestmark = pytest.mark.integration
LINEAR, SPOT = Category.LINEAR, Category.SPOT


def config(sim: SimProcess, **kw: Any) -> VenueConfig:
    return VenueConfig(
        venue="sim",
        venue_url=sim.base_url,
        api_key=sim.api_key,
        api_secret=sim.api_secret,
        retry_backoff_s=0.01,
        **kw,
    )


@pytest.fixture
async def venue(venue_sim: SimProcess) -> AsyncIterator[BybitVenue]:
    async with BybitVenue(config(venue_sim)) as v:
        yield v


def bid(link: str, price: str | None = "59000", qty: str = "0.001", **kw: Any) -> PlaceOrder:
    fields: dict[str, Any] = {
        "category": LINEAR,
        "symbol": "BTCUSDT",
        "side": Side.BUY,
        "order_type": OrderType.LIMIT,
        "qty": Decimal(qty),
        "price": None if price is None else Decimal(price),
        "client_order_id": link,
        **kw,
    }
    return PlaceOrder.model_validate(fields)


async def held(sim: SimProcess, link: str | None = None) -> list[dict[str, Any]]:
    return [o for o in await sim.orders() if link is None or o["orderLinkId"] == link]


async def test_place_amend_cancel_round_trip(venue: BybitVenue, venue_sim: SimProcess) -> None:
    ack = await venue.place(bid("rt-1", price="59000.07", qty="0.0029"))
    assert not ack.recovered and ack.attempts == 1 and ack.client_order_id == "rt-1"
    [order] = await held(venue_sim, "rt-1")
    # rounded to tick and step, never more aggressive nor bigger than asked
    assert (Decimal(order["price"]), Decimal(order["qty"])) == (Decimal("59000"), Decimal("0.002"))

    amended = await venue.amend(
        AmendOrder(
            category=LINEAR,
            symbol="BTCUSDT",
            side=Side.BUY,
            client_order_id=ack.client_order_id,
            price=Decimal("59100.04"),
            qty=Decimal("0.003"),
        )
    )
    assert amended.venue_order_id == ack.venue_order_id
    snapshot = await venue.get_order(LINEAR, "BTCUSDT", "rt-1")
    assert snapshot is not None and snapshot.price == Decimal("59100")
    assert snapshot.qty == Decimal("0.003") and snapshot.status is VenueOrderStatus.NEW

    cancelled = await venue.cancel(
        CancelOrder(category=LINEAR, symbol="BTCUSDT", venue_order_id=ack.venue_order_id)
    )
    assert cancelled.client_order_id == "rt-1" and not cancelled.recovered
    final = await venue.get_order(LINEAR, "BTCUSDT", "rt-1")
    assert final is not None and final.status is VenueOrderStatus.CANCELLED
    assert await venue.open_orders(LINEAR) == []
    assert [o.client_order_id for o in await venue.order_history(LINEAR)] == ["rt-1"]


async def test_spot_market_order_in_base_units(venue: BybitVenue, venue_sim: SimProcess) -> None:
    ack = await venue.place(
        bid("spot-1", category=SPOT, order_type=OrderType.MARKET, price=None, qty="0.0100004")
    )
    final = await venue.get_order(SPOT, "BTCUSDT", "spot-1")
    assert final is not None and final.status is VenueOrderStatus.FILLED
    assert final.cum_exec_qty == Decimal("0.01") and final.venue_order_id == ack.venue_order_id
    fills = await venue.executions(SPOT, "BTCUSDT")
    assert sum(f.qty for f in fills) == Decimal("0.01")


async def test_invalid_order_is_never_sent(venue: BybitVenue, venue_sim: SimProcess) -> None:
    with pytest.raises(InvalidOrderRequest, match=r"below the minimum 0\.001") as info:
        await venue.place(bid("bad-1", qty="0.0009"))
    assert "not sent" in str(info.value)
    with pytest.raises(InvalidOrderRequest, match="notional"):
        await venue.place(bid("bad-2", price="100"))
    with pytest.raises(InvalidOrderRequest, match="unknown linear symbol"):
        await venue.place(bid("bad-3", symbol="NOPEUSDT"))
    assert await held(venue_sim) == []


async def test_batches_chunk_and_keep_input_order(venue: BybitVenue, venue_sim: SimProcess) -> None:
    orders = [bid(f"bt-{i}", price=str(50000 + i)) for i in range(45)]
    orders[7] = bid("bt-7", qty="0.0001")  # invalid, never sent
    placed = await venue.place_batch(orders)
    assert [r.client_order_id for r in placed] == [f"bt-{i}" for i in range(45)]
    assert [i for i, r in enumerate(placed) if not r.ok] == [7]
    assert placed[7].error_kind == "invalid"
    assert len(await held(venue_sim)) == 44
    assert len(await venue.open_orders(LINEAR, "BTCUSDT")) == 44  # pages of 50 at most

    amends = [
        AmendOrder(
            category=LINEAR, symbol="BTCUSDT", side=Side.BUY, client_order_id=link, price=price
        )
        for link, price in (("bt-1", Decimal("40000")), ("nope", Decimal("40000")))
    ]
    amended = await venue.amend_batch(amends)
    assert amended[0].ok and not amended[1].ok and amended[1].code == 110001
    cancels = [
        CancelOrder(category=LINEAR, symbol="BTCUSDT", client_order_id=r.client_order_id)
        for r in placed
        if r.ok
    ]
    cancelled = await venue.cancel_batch(cancels)
    assert all(r.ok for r in cancelled) and len(cancelled) == 44
    assert await venue.open_orders(LINEAR) == []


async def test_cancel_all(venue: BybitVenue, venue_sim: SimProcess) -> None:
    await venue.place_batch([bid(f"ca-{i}") for i in range(3)])
    await venue.place(bid("ca-eth", symbol="ETHUSDT", price="2900", qty="0.01"))
    acks = await venue.cancel_all(LINEAR, "BTCUSDT")
    assert sorted(a.client_order_id or "" for a in acks) == ["ca-0", "ca-1", "ca-2"]
    assert [o.client_order_id for o in await venue.open_orders(LINEAR)] == ["ca-eth"]
    assert [a.client_order_id for a in await venue.cancel_all(LINEAR)] == ["ca-eth"]
    assert await venue.cancel_all(LINEAR) == []


async def test_market_data_and_account_queries(venue: BybitVenue, venue_sim: SimProcess) -> None:
    rules = await venue.instruments(LINEAR)
    assert rules["BTCUSDT"].tick_size == Decimal("0.1")
    assert (await venue.rules(SPOT, "ETHUSDT")).qty_step == Decimal("0.00001")
    [ticker] = await venue.tickers(LINEAR, "BTCUSDT")
    assert ticker.bid is not None and ticker.ask is not None and ticker.bid < ticker.ask
    assert ticker.mark is not None
    assert abs(await venue.server_time_ms() - time.time() * 1000) < 5_000
    [flat] = await venue.positions(LINEAR, "BTCUSDT")
    assert flat.size == 0 and flat.side is None
    assert await venue.positions(SPOT) == []
    await venue.set_dcp_window(10)
    with pytest.raises(ValueError, match="3-300"):
        await venue.set_dcp_window(1)


async def test_gets_retry_5xx_then_give_up(venue_sim: SimProcess) -> None:
    seen: list[tuple[str, int]] = []
    cfg = config(venue_sim, get_attempts=3)
    async with BybitVenue(cfg) as venue:
        venue.rest.on_request = lambda path, code, _s: seen.append((path, code))
        await venue_sim.control("faults", {"http5xxNext": 2, "paths": ["/v5/order/realtime"]})
        assert await venue.open_orders(LINEAR) == []
        assert [c for p, c in seen if p == "/v5/order/realtime"] == [-503, -503, 0]
        await venue_sim.control("faults", {"http5xxNext": 3})
        with pytest.raises(VenueUnavailable, match="HTTP 503"):
            await venue.open_orders(LINEAR)


async def test_10002_resyncs_the_clock_and_retries_once(venue_sim: SimProcess) -> None:
    seen: list[tuple[str, int]] = []
    async with BybitVenue(config(venue_sim, sync_clock_on_start=False)) as venue:
        venue.rest.on_request = lambda path, code, _s: seen.append((path, code))
        await venue.instruments(LINEAR)
        venue.rest.clock.reset(-60_000)  # our clock a minute behind the venue's
        ack = await venue.place(bid("skew-1"))
        assert ack.attempts == 1
        assert seen[-3:] == [
            ("/v5/order/create", 10002),
            ("/v5/market/time", 0),
            ("/v5/order/create", 0),
        ]
        assert abs(venue.rest.clock.offset_ms) < 1_000
        # The venue's clock jumps ahead: same recovery.
        await venue_sim.control("faults", {"clockOffsetMs": 30_000})
        assert await venue.open_orders(LINEAR, "BTCUSDT")
        assert ("/v5/order/realtime", 10002) in seen
        assert venue.rest.clock.offset_ms > 29_000
    assert len(await held(venue_sim, "skew-1")) == 1


async def test_10006_waits_for_the_reset_then_succeeds(venue_sim: SimProcess) -> None:
    async with BybitVenue(config(venue_sim, max_rate_limit_wait_s=2.0)) as venue:
        await venue_sim.control("faults", {"rateLimitNext": 1, "paths": ["/v5/order/create"]})
        started = time.monotonic()
        ack = await venue.place(bid("rl-1"))
        assert time.monotonic() - started >= 0.8  # the simulator resets 1 s later
        assert ack.attempts == 1 and not ack.recovered
        status = venue.rest.rate_limits["/v5/order/create"]
        assert status.limit is not None and status.limit > 0
    assert len(await held(venue_sim, "rl-1")) == 1


async def test_10006_beyond_the_allowed_wait_raises(venue_sim: SimProcess) -> None:
    async with BybitVenue(config(venue_sim, max_rate_limit_wait_s=0.1)) as venue:
        await venue_sim.control("faults", {"rateLimitNext": 1, "paths": ["/v5/order/create"]})
        with pytest.raises(RateLimited, match="10006") as info:
            await venue.place(bid("rl-2"))
        assert info.value.reset_ms is not None
    assert await held(venue_sim) == []


async def test_403_bans_every_call_until_it_expires(venue_sim: SimProcess) -> None:
    async with BybitVenue(config(venue_sim, ip_ban_s=1.0)) as venue:
        await venue_sim.control("faults", {"ipBanNext": 1})
        with pytest.raises(IpBanned, match="HTTP 403"):
            await venue.place(bid("ban-1"))
        before = (await venue_sim.control("health", method="GET"))["retCodes"]
        with pytest.raises(IpBanned, match=r"refusing to call the venue.*\d+ s more"):
            await venue.open_orders(LINEAR)
        with pytest.raises(IpBanned):
            await venue.tickers(LINEAR)
        assert (await venue_sim.control("health", method="GET"))["retCodes"] == before
        await _sleep_until(lambda: venue.rest.banned_for_s == 0, 3.0)
        assert await venue.open_orders(LINEAR) == []
    assert await held(venue_sim) == []


async def test_bad_credentials_are_fatal(venue_sim: SimProcess) -> None:
    cfg = config(venue_sim).model_copy(update={"api_secret": None, "api_key": "other"})
    async with BybitVenue(cfg) as venue:
        with pytest.raises(AuthenticationFailed, match="10003"):
            await venue.open_orders(LINEAR)


async def test_cancel_of_an_unknown_order(venue: BybitVenue) -> None:
    with pytest.raises(OrderNotFound, match="170213"):
        await venue.cancel(CancelOrder(category=SPOT, symbol="BTCUSDT", client_order_id="ghost"))


async def _sleep_until(check: Callable[[], bool], within_s: float) -> None:
    deadline = time.monotonic() + within_s
    while not check():
        assert time.monotonic() < deadline, "condition not met in time"
        await asyncio.sleep(0.05)
