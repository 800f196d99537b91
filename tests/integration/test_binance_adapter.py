"""`BinanceVenue` and `BinancePrivateStream` against the simulator's Binance USDⓈ-M personality,
a real subprocess over real HTTP and WebSockets.

Whatever goes wrong, the simulator must end with exactly one order per newClientOrderId.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator
from decimal import Decimal
from typing import Any

import pytest
from pydantic import SecretStr

from libs.common.domain.enums import Category, OrderType, Side, TimeInForce, VenueOrderStatus
from libs.common.domain.ids import ClientOrderId
from libs.common.venue import (
    AmendOrder,
    BatchErrorKind,
    CancelOrder,
    IpBanned,
    OrderClosed,
    OrderNotFound,
    PlaceOrder,
    PrivateSnapshot,
    RateLimited,
    VenueOrder,
    VenueRejected,
    VenueUnavailable,
)
from libs.common.venue.binance import BinanceConfig, BinancePrivateStream, BinanceVenue
from libs.common.venue.binance.limits import ORDERS, WEIGHT
from libs.common.venue.binance.wire import BATCH_ORDERS, ORDER
from libs.common.venue.rest import TRANSPORT_ERROR
from tests.adapter_helpers import Calls, caught_up, collect, fills, until
from tests.simulator import SimProcess

pytestmark = pytest.mark.integration
LINEAR = Category.LINEAR
HIGH_LIMITS = {
    "weightPerMinute": 1_000_000,
    "ordersPerMinute": 1_000_000,
    "ordersPer10s": 1_000_000,
}
"""Limits high enough that only the tests about limits ever meet them."""


@pytest.fixture
async def sim(binance_sim_process: SimProcess) -> AsyncIterator[SimProcess]:
    """The module's simulator, reset: no orders, frozen market (mid 60000), no faults."""
    await binance_sim_process.control("reset", {"marketFrozen": True})
    await binance_sim_process.control("limits", HIGH_LIMITS)
    yield binance_sim_process


def config(sim: SimProcess, **kw: Any) -> BinanceConfig:
    fields: dict[str, Any] = {
        "venue": "sim",
        "url": sim.base_url,
        "api_key": sim.api_key,
        "api_secret": SecretStr(sim.api_secret),
        "retry_backoff_s": 0.01,
        "request_timeout_s": 1.0,
        "recv_window": 1000,
        "resend_guard_ms": 200,
        "ws_ping_interval_s": 0.5,
        **kw,
    }
    return BinanceConfig(**fields)


@pytest.fixture
async def venue(sim: SimProcess) -> AsyncIterator[BinanceVenue]:
    async with BinanceVenue(config(sim), on_request=Calls()) as v:
        await v.instruments(LINEAR)
        yield v


def calls(venue: BinanceVenue) -> Calls:
    assert isinstance(venue.rest.on_request, Calls)
    return venue.rest.on_request


def bid(coid: str, price: str = "59000", qty: str = "0.010", **kw: Any) -> PlaceOrder:
    return PlaceOrder(
        category=LINEAR,
        symbol="BTCUSDT",
        side=Side.BUY,
        order_type=OrderType.LIMIT,
        qty=Decimal(qty),
        price=Decimal(price),
        client_order_id=ClientOrderId(coid),
        **kw,
    )


def by_coid(coid: str) -> CancelOrder:
    return CancelOrder(category=LINEAR, symbol="BTCUSDT", client_order_id=ClientOrderId(coid))


async def held(sim: SimProcess, coid: str) -> list[dict[str, Any]]:
    return [o for o in await sim.orders() if o["orderLinkId"] == coid]


async def trade(sim: SimProcess, price: str, qty: str) -> list[str]:
    """Print a public trade; our exec ids of the fills it caused."""
    reply = await sim.control("trade", {"symbol": "BTCUSDT", "price": price, "qty": qty})
    return [f"BTCUSDT-{f['execId']}" for f in reply["fills"]]


# -- orders -----------------------------------------------------------------------------------


async def test_place_is_acknowledged_and_listed(venue: BinanceVenue, sim: SimProcess) -> None:
    ack = await venue.place(bid("p-1", "59000.04", "0.0109", time_in_force=TimeInForce.POST_ONLY))
    assert not ack.recovered and ack.attempts == 1 and ack.client_order_id == "p-1"
    [order] = await held(sim, "p-1")
    assert order["orderId"] == ack.venue_order_id
    found = await venue.get_order(LINEAR, "BTCUSDT", "p-1")
    assert found is not None and found.status is VenueOrderStatus.NEW
    assert (found.qty, found.price, found.time_in_force) == (
        Decimal("0.010"),
        Decimal("59000.0"),
        TimeInForce.POST_ONLY,
    )
    assert [o.client_order_id for o in await venue.open_orders(LINEAR, "BTCUSDT")] == ["p-1"]
    by_id = await venue.get_order(LINEAR, "BTCUSDT", venue_order_id=ack.venue_order_id)
    assert by_id == found


async def test_duplicate_client_order_id_is_recovered_never_placed_twice(
    venue: BinanceVenue, sim: SimProcess
) -> None:
    first = await venue.place(bid("dup-1"))
    again = await venue.place(bid("dup-1"))
    assert again.recovered and again.venue_order_id == first.venue_order_id
    assert again.order is not None and again.order.status is VenueOrderStatus.NEW
    assert calls(venue).codes(ORDER)[:2] == [0, 4116]  # then the lookup
    assert len(await held(sim, "dup-1")) == 1


async def test_business_reject_carries_the_code(venue: BinanceVenue, sim: SimProcess) -> None:
    with pytest.raises(VenueRejected) as caught:  # a Post Only bid at the ask would take
        await venue.place(bid("po-1", "60000.1", time_in_force=TimeInForce.POST_ONLY))
    assert caught.value.code == -5022
    assert [o for o in await held(sim, "po-1") if o["orderStatus"] == "New"] == []


async def test_cancel_of_a_final_order_returns_its_snapshot(
    venue: BinanceVenue, sim: SimProcess
) -> None:
    await venue.place(bid("fin-1"))
    assert await trade(sim, "59000", "0.010")
    ack = await venue.cancel(by_coid("fin-1"))
    assert ack.recovered and ack.order is not None
    assert ack.order.status is VenueOrderStatus.FILLED
    assert calls(venue).codes(ORDER)[-2] == 2011  # the cancel, then the lookup

    await venue.place(bid("fin-2"))
    assert not (await venue.cancel(by_coid("fin-2"))).recovered
    again = await venue.cancel(by_coid("fin-2"))
    assert again.recovered and again.order is not None
    assert again.order.status is VenueOrderStatus.CANCELLED


async def test_cancel_of_an_unknown_order_raises_order_not_found(venue: BinanceVenue) -> None:
    with pytest.raises(OrderNotFound) as caught:
        await venue.cancel(by_coid("never-placed"))
    assert caught.value.code == -2011 and not isinstance(caught.value, OrderClosed)


async def test_get_order_of_an_unknown_id_is_none(venue: BinanceVenue) -> None:
    assert await venue.get_order(LINEAR, "BTCUSDT", "never-placed") is None


async def test_amend_keeps_what_it_does_not_change(venue: BinanceVenue, sim: SimProcess) -> None:
    ack = await venue.place(bid("am-1"))
    moved = AmendOrder(
        category=LINEAR, symbol="BTCUSDT", client_order_id=ClientOrderId("am-1"), side=Side.BUY,
        price=Decimal("59100.07"),
    )  # fmt: skip
    assert (await venue.amend(moved)).venue_order_id == ack.venue_order_id
    found = await venue.get_order(LINEAR, "BTCUSDT", "am-1")
    assert found is not None and (found.qty, found.price) == (Decimal("0.010"), Decimal("59100"))
    grown = AmendOrder(
        category=LINEAR, symbol="BTCUSDT", venue_order_id=ack.venue_order_id, side=Side.BUY,
        qty=Decimal("0.02"),
    )  # fmt: skip
    await venue.amend(grown)
    found = await venue.get_order(LINEAR, "BTCUSDT", "am-1")
    assert found is not None and (found.qty, found.price) == (Decimal("0.020"), Decimal("59100"))
    assert len(await held(sim, "am-1")) == 1


async def test_amend_of_a_filled_order_is_order_closed(
    venue: BinanceVenue, sim: SimProcess
) -> None:
    await venue.place(bid("am-2"))
    await trade(sim, "59000", "0.010")
    late = AmendOrder(
        category=LINEAR, symbol="BTCUSDT", client_order_id=ClientOrderId("am-2"), side=Side.BUY,
        price=Decimal("58000"),
    )  # fmt: skip
    with pytest.raises(OrderClosed) as caught:
        await venue.amend(late)
    assert caught.value.order is not None
    assert caught.value.order.status is VenueOrderStatus.FILLED


async def test_batch_of_seven_goes_in_two_chunks_with_one_bad_item(
    venue: BinanceVenue, sim: SimProcess
) -> None:
    orders = [bid(f"b-{i}", str(58000 + i * 10)) for i in range(7)]
    orders[3] = bid("b-3", "58030", reduce_only=True)  # no position to reduce: refused
    results = await venue.place_batch(orders)
    assert [r.client_order_id for r in results] == [f"b-{i}" for i in range(7)]
    assert [r.ok for r in results] == [True, True, True, False, True, True, True]
    assert results[3].error_kind is BatchErrorKind.REJECTED and results[3].code == -2022
    assert len(calls(venue).codes(BATCH_ORDERS)) == 2  # 5 + 2
    live = {o["orderLinkId"] for o in await sim.orders() if o["orderStatus"] == "New"}
    assert live == {f"b-{i}" for i in range(7)} - {"b-3"}

    cancels = [by_coid(f"b-{i}") for i in range(7)] + [by_coid("b-unknown")]
    cancelled = await venue.cancel_batch(cancels)
    assert [r.ok for r in cancelled] == [True, True, True, False, True, True, True, False]
    assert cancelled[3].code == -2011 and cancelled[7].code == -2011
    assert len(calls(venue).codes(BATCH_ORDERS)) == 2 + 1  # 8 ids of one symbol: one call
    assert await venue.open_orders(LINEAR) == []


async def test_cancel_all_reports_what_was_open(venue: BinanceVenue, sim: SimProcess) -> None:
    for i in range(3):
        await venue.place(bid(f"ca-{i}", str(58000 + i)))
    acks = await venue.cancel_all(LINEAR, "BTCUSDT")
    assert sorted(a.client_order_id or "" for a in acks) == ["ca-0", "ca-1", "ca-2"]
    assert await venue.open_orders(LINEAR) == []
    await venue.place(bid("ca-3"))
    assert [a.client_order_id for a in await venue.cancel_all(LINEAR)] == ["ca-3"]
    assert await venue.cancel_all(LINEAR) == []


# -- fills, positions, market data --------------------------------------------------------------


async def test_fill_shows_in_executions_with_its_fee_and_in_positions(
    venue: BinanceVenue, sim: SimProcess
) -> None:
    since = venue.rest.clock.now_ms() - 1000
    ack = await venue.place(bid("fill-1"))
    exec_ids = await trade(sim, "59000", "0.010")
    [fill] = await venue.executions(LINEAR, "BTCUSDT", since)
    assert [fill.exec_id] == exec_ids
    assert (fill.venue_order_id, fill.side) == (ack.venue_order_id, Side.BUY)
    assert (fill.price, fill.qty) == (Decimal("59000"), Decimal("0.010"))
    assert fill.fee > 0 and fill.fee_currency == "USDT" and fill.is_maker
    assert fill.fee_rate == (await venue.fee_rates(LINEAR, "BTCUSDT")).maker
    assert await venue.executions(LINEAR, None, since) == [fill]  # account-wide
    [position] = [p for p in await venue.positions(LINEAR) if p.symbol == "BTCUSDT"]
    assert (position.side, position.size, position.avg_price) == (
        Side.BUY,
        Decimal("0.010"),
        Decimal("59000"),
    )
    [done] = await venue.order_history(LINEAR, "BTCUSDT", start_ms=since)
    assert done.status is VenueOrderStatus.FILLED and done.cum_exec_qty == Decimal("0.010")


async def test_tickers_follow_the_mid(venue: BinanceVenue, sim: SimProcess) -> None:
    await sim.control("mid", {"symbol": "BTCUSDT", "price": "61000"})
    [ticker] = await venue.tickers(LINEAR, "BTCUSDT")
    assert ticker.bid is not None and ticker.ask is not None and ticker.mark is not None
    assert ticker.bid < Decimal(61000) < ticker.ask
    everything = await venue.tickers(LINEAR)
    assert {"BTCUSDT", "ETHUSDT"} <= {t.symbol for t in everything}
    assert all(t.mark is not None for t in everything)
    book = await venue.order_book(LINEAR, "BTCUSDT", depth=3)
    assert 1 <= len(book.bids) <= 3 and 1 <= len(book.asks) <= 3
    assert book.bids[0][0] == ticker.bid and book.asks[0][0] == ticker.ask
    assert [p for p, _ in book.bids] == sorted((p for p, _ in book.bids), reverse=True)
    fees = await venue.fee_rates(LINEAR, "BTCUSDT")
    assert fees.symbol == "BTCUSDT" and 0 <= fees.maker <= fees.taker < Decimal("0.01")


# -- ambiguity, faults and limits -------------------------------------------------------------


@pytest.mark.parametrize("mode", ["close", "hang"])
async def test_timeout_after_processing_is_a_recovered_ack(
    venue: BinanceVenue, sim: SimProcess, mode: str
) -> None:
    await sim.control(
        "faults", {"dropResponseNext": 1, "dropMode": mode, "hangMs": 2000, "paths": [ORDER]}
    )
    ack = await venue.place(bid(f"amb-{mode}"))
    assert ack.recovered and ack.attempts == 1
    assert ack.order is not None and ack.order.status is VenueOrderStatus.NEW
    [order] = await held(sim, f"amb-{mode}")  # never a second order
    assert order["orderId"] == ack.venue_order_id
    assert calls(venue).codes(ORDER) == [TRANSPORT_ERROR, 0]  # the lookup, never a resend


async def test_unknown_error_5xx_after_processing_is_a_recovered_ack(
    venue: BinanceVenue, sim: SimProcess
) -> None:
    await sim.control("faults", {"http5xxAfterNext": 1, "paths": [ORDER]})
    ack = await venue.place(bid("five-after"))
    assert ack.recovered and len(await held(sim, "five-after")) == 1
    assert calls(venue).codes(ORDER) == [-503, 0]


async def test_failed_5xx_is_not_sent(venue: BinanceVenue, sim: SimProcess) -> None:
    await sim.control("faults", {"http5xxNext": 1, "paths": [ORDER]})
    with pytest.raises(VenueUnavailable) as caught:
        await venue.place(bid("five-before"))
    assert caught.value.sent is False and await held(sim, "five-before") == []


async def test_rate_limit_headroom_is_read_from_the_headers(
    venue: BinanceVenue, sim: SimProcess
) -> None:
    await sim.control(
        "limits", {"weightPerMinute": 100_000, "ordersPer10s": 40, "ordersPerMinute": 1000}
    )
    await venue.instruments(LINEAR)  # exchangeInfo's rateLimits: the limits headroom is against
    for i in range(3):
        await venue.place(bid(f"rl-{i}", str(58000 + i)))
    status = venue.rest.rate_limits[ORDER]
    used = venue.rest.usage[(ORDERS, 10_000)]
    assert status.limit == 40 and status.remaining == 40 - used and 1 <= used <= 3
    assert status.reset_ms is not None and status.reset_ms % 10_000 == 0
    await venue.open_orders(LINEAR, "BTCUSDT")
    query = venue.rest.rate_limits["/fapi/v1/openOrders"]
    assert query.limit == 100_000
    assert query.remaining == 100_000 - venue.rest.usage[(WEIGHT, 60_000)]


async def test_429_is_rate_limited_with_no_headroom_left(sim: SimProcess) -> None:
    async with BinanceVenue(config(sim, max_rate_limit_wait_s=0.0)) as v:
        await v.instruments(LINEAR)
        await sim.control("faults", {"rateLimitNext": 1, "paths": [ORDER]})
        with pytest.raises(RateLimited) as caught:
            await v.place(bid("rl-429"))
        assert "-1003" in str(caught.value)
        assert v.rest.rate_limits[ORDER].remaining == 0
        assert await held(sim, "rl-429") == []
        # within the allowed wait (Retry-After: 1 s) the call is simply sent again
    async with BinanceVenue(config(sim, max_rate_limit_wait_s=2.0)) as v:
        await v.instruments(LINEAR)
        await sim.control("faults", {"rateLimitNext": 1, "paths": [ORDER]})
        assert not (await v.place(bid("rl-wait"))).recovered
        assert len(await held(sim, "rl-wait")) == 1


async def test_418_bans_every_call_until_it_expires(sim: SimProcess) -> None:
    async with BinanceVenue(config(sim)) as v:
        await sim.control("faults", {"ipBanNext": 1})
        with pytest.raises(IpBanned):
            await v.open_orders(LINEAR)
        with pytest.raises(IpBanned):  # refused without calling the venue
            await v.open_orders(LINEAR)
        assert v.rest.banned_for_s > 100


async def test_1021_resyncs_the_clock_and_retries_once(sim: SimProcess) -> None:
    async with BinanceVenue(config(sim), on_request=Calls()) as v:
        await sim.control("faults", {"clockOffsetMs": 30_000})
        try:
            assert await v.open_orders(LINEAR) == []
            assert 29_000 < v.rest.clock.offset_ms < 31_000
            assert calls(v).codes("/fapi/v1/openOrders") == [1021, 0]
        finally:
            await sim.control("faults", {"clockOffsetMs": 0})


# -- the user-data stream -------------------------------------------------------------------------


@pytest.fixture
async def stream_venue(sim: SimProcess) -> AsyncIterator[BinanceVenue]:
    # A slow first reconnect leaves room to trade while the stream is down.
    async with BinanceVenue(config(sim, ws_reconnect_min_s=1.0)) as v:
        await v.instruments(LINEAR)
        yield v


async def test_stream_delivers_a_fill_and_recovers_it_after_a_reconnect(
    stream_venue: BinanceVenue, sim: SimProcess
) -> None:
    venue = stream_venue
    async with BinancePrivateStream(venue) as stream:
        first = await collect(stream, lambda ev: len(ev) >= 1)
        assert isinstance(first[0], PrivateSnapshot) and first[0].connection == 0
        for i in range(3):
            await venue.place(bid(f"ws-{i}", str(59000 - i * 10)))
        live = await trade(sim, "59000", "0.010")  # ws-0 filled
        events = await collect(stream, lambda ev: {e.exec_id for e in fills(ev)} >= set(live))
        [pushed] = [e for e in fills(events) if e.exec_id in live]
        assert pushed.client_order_id == "ws-0" and pushed.fee > 0 and pushed.is_maker
        filled = [e for e in events if isinstance(e, VenueOrder) and e.client_order_id == "ws-0"]
        assert filled[-1].status is VenueOrderStatus.FILLED

        await sim.control("ws/drop", {"channel": "private"})
        await until(lambda: not stream.connected.is_set())
        missed = await trade(sim, "58980", "0.020")  # ws-1, ws-2 filled while away
        assert len(missed) == 2 and not stream.connected.is_set()

        events = await caught_up(stream, events, live, missed)

    assert sum(e.qty for e in fills(events)) == Decimal("0.030")


async def test_stream_takes_a_new_listen_key_when_it_expires(
    stream_venue: BinanceVenue, sim: SimProcess
) -> None:
    venue = stream_venue
    async with BinancePrivateStream(venue) as stream:
        await collect(stream, lambda ev: len(ev) >= 1)
        old_key = stream.listen_key
        await sim.control("listen-keys/expire")
        await until(lambda: stream.reconnects == 1 and stream.connected.is_set())
        assert stream.listen_key is not None and stream.listen_key != old_key
        await venue.place(bid("exp-1"))
        fresh = await trade(sim, "59000", "0.010")
        events = await collect(stream, lambda ev: {e.exec_id for e in fills(ev)} >= set(fresh))
        assert [e.exec_id for e in fills(events)] == fresh
        await stream.renew_listen_key()
        assert stream.key_renewals == 1


async def test_dcp_countdown_is_renewed_while_the_stream_is_up_and_fires_once_it_is_gone(
    stream_venue: BinanceVenue, sim: SimProcess
) -> None:
    venue = stream_venue
    await venue.place(bid("dcp-0"))
    async with BinancePrivateStream(venue) as stream:
        await collect(stream, lambda ev: len(ev) >= 1)
        await venue.set_dcp_window(3)
        assert venue.dcp_symbols == {"BTCUSDT"}
        await venue.place(bid("dcp-1", "58000"))
        await asyncio.sleep(4.0)  # past the window: the stream renews it every second
        live = {o.client_order_id for o in await venue.open_orders(LINEAR)}
        assert live == {"dcp-0", "dcp-1"}
    deadline = time.monotonic() + 6.0  # no heartbeat any more: the venue cancels
    while await venue.open_orders(LINEAR):
        assert time.monotonic() < deadline, "the countdown did not fire"
        await asyncio.sleep(0.2)
    assert {o["orderStatus"] for o in await sim.orders()} == {"Cancelled"}
