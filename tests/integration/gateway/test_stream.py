"""The WebSocket `/v1/stream` of a live gateway: events published on Redis reach clients."""

from __future__ import annotations

from collections.abc import AsyncIterator
from decimal import Decimal
from typing import Any

import aiohttp
import pytest
import redis.asyncio as aioredis

from libs.common import topology
from libs.common.domain.ids import DEFAULT_ACCOUNT, ClientOrderId, Symbol, VenueOrderId
from libs.common.messages import OrderAcknowledged, PositionUpdated
from tests.integration.gateway.conftest import LiveGateway, publish

pytestmark = pytest.mark.integration


@pytest.fixture
async def http() -> AsyncIterator[aiohttp.ClientSession]:
    async with aiohttp.ClientSession() as session:
        yield session


def ws_url(gateway: LiveGateway, query: str = "") -> str:
    return gateway.url.replace("http://", "ws://") + "/v1/stream" + query


def acknowledged(cid: str, symbol: str) -> OrderAcknowledged:
    return OrderAcknowledged(
        client_order_id=ClientOrderId(cid),
        symbol=Symbol(symbol),
        ts_event_ns=5,
        venue_order_id=VenueOrderId(f"v-{cid}"),
    )


async def receive(ws: aiohttp.ClientWebSocketResponse) -> dict[str, Any]:
    message: dict[str, Any] = await ws.receive_json(timeout=5)
    return message


async def test_stream_starts_with_the_trading_state_then_pushes_order_events(
    live_gateway: LiveGateway, redis: aioredis.Redis, http: aiohttp.ClientSession
) -> None:
    async with http.ws_connect(ws_url(live_gateway)) as ws:
        hello = await receive(ws)
        await publish(
            redis, topology.ORDERS_EVENTS.of(DEFAULT_ACCOUNT), acknowledged("c-1", "BTCUSDT")
        )
        event = await receive(ws)

    assert hello["type"] == "TradingState"
    assert (hello["data"]["state"], hello["data"]["epoch"]) == ("ACTIVE", 0)
    assert event == {
        "type": "OrderAcknowledged",
        "data": {
            "clientOrderId": "c-1",
            "symbol": "BTCUSDT",
            "tsEventNs": 5,
            "account": "default",
            "venue": "bybit",
            "venueOrderId": "v-c-1",
        },
    }


async def test_stream_pushes_positions_and_freezes_to_every_client(
    live_gateway: LiveGateway, redis: aioredis.Redis, http: aiohttp.ClientSession
) -> None:
    update = PositionUpdated(
        symbol=Symbol("ETHUSDT"),
        qty=Decimal("-2"),
        avg_entry_price=Decimal(3000),
        realized_pnl=Decimal(0),
        fees_paid=Decimal("0.5"),
        ts_event_ns=7,
    )
    async with (
        http.ws_connect(ws_url(live_gateway)) as one,
        http.ws_connect(ws_url(live_gateway)) as two,
    ):
        await receive(one), await receive(two)
        await publish(redis, topology.POSITIONS_UPDATES, update)
        async with http.post(f"{live_gateway.url}/v1/risk/freeze", json={"reason": "drill"}):
            pass
        seen = [[await receive(ws), await receive(ws)] for ws in (one, two)]

    for position, freeze in seen:
        assert position["type"] == "PositionUpdated"
        assert (position["data"]["qty"], position["data"]["feesPaid"]) == ("-2", "0.5")
        assert freeze["type"] == "TradingStateChanged"
        assert (freeze["data"]["state"], freeze["data"]["epoch"]) == ("FROZEN", 1)


async def test_stream_with_symbols_only_pushes_those_symbols(
    live_gateway: LiveGateway, redis: aioredis.Redis, http: aiohttp.ClientSession
) -> None:
    async with http.ws_connect(ws_url(live_gateway, "?symbols=ETHUSDT,SOLUSDT")) as ws:
        await receive(ws)
        await publish(
            redis, topology.ORDERS_EVENTS.of(DEFAULT_ACCOUNT), acknowledged("btc-1", "BTCUSDT")
        )
        await publish(
            redis, topology.ORDERS_EVENTS.of(DEFAULT_ACCOUNT), acknowledged("eth-1", "ETHUSDT")
        )
        event = await receive(ws)

    assert event["data"]["clientOrderId"] == "eth-1"


async def test_stream_with_a_bad_symbol_is_refused(
    live_gateway: LiveGateway, http: aiohttp.ClientSession
) -> None:
    with pytest.raises(aiohttp.WSServerHandshakeError) as refused:
        async with http.ws_connect(ws_url(live_gateway, "?symbols=btc-usdt")):
            pass

    assert refused.value.status == 403
