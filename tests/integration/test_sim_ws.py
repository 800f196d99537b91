"""WebSocket streams over real sockets: private auth and pushes, public books, drops, DCP."""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator
from typing import Any

import aiohttp
import pytest

from tests.simulator import SimClient, SimProcess

LINEAR = {"category": "linear", "symbol": "BTCUSDT"}
Ws = aiohttp.ClientWebSocketResponse


def limit(side: str, qty: str, price: str, **extra: Any) -> dict[str, Any]:
    return {**LINEAR, "side": side, "orderType": "Limit", "qty": qty, "price": price, **extra}


async def recv(ws: Ws, within: float = 3.0) -> dict[str, Any]:
    message: dict[str, Any] = await asyncio.wait_for(ws.receive_json(), within)
    return message


async def next_topic(ws: Ws, topic: str, within: float = 3.0) -> dict[str, Any]:
    """The next message of `topic`, skipping others."""
    deadline = time.monotonic() + within
    while True:
        message = await recv(ws, max(0.01, deadline - time.monotonic()))
        if message.get("topic") == topic:
            return message


@pytest.fixture
async def private_ws(venue_sim: SimProcess, sim_client: SimClient) -> AsyncIterator[Ws]:
    """An authenticated private connection subscribed to order, execution, position, wallet."""
    async with sim_client.session.ws_connect(venue_sim.ws_private_url) as ws:
        await ws.send_json(sim_client.ws_auth())
        assert (await recv(ws))["success"] is True
        await ws.send_json(
            {
                "op": "subscribe",
                "req_id": "s1",
                "args": ["order", "execution", "position", "wallet"],
            }
        )
        ack = await recv(ws)
        assert ack == {
            "success": True,
            "ret_msg": "",
            "op": "subscribe",
            "conn_id": ack["conn_id"],
            "req_id": "s1",
        }
        yield ws


async def test_auth_failures_and_subscribe_before_auth(
    venue_sim: SimProcess, sim_client: SimClient
) -> None:
    async with sim_client.session.ws_connect(venue_sim.ws_private_url) as ws:
        await ws.send_json({"op": "subscribe", "args": ["order"]})
        refused = await recv(ws)
        assert (refused["success"], refused["ret_msg"]) == (False, "Request not authorized")
        expired = sim_client.ws_auth(expires=int(time.time() * 1000) - 1000)
        await ws.send_json(expired)
        assert (await recv(ws))["success"] is False
        forged = SimClient(venue_sim, sim_client.session, api_secret="wrong").ws_auth()
        await ws.send_json(forged)
        assert (await recv(ws))["success"] is False
        await ws.send_json({**sim_client.ws_auth(), "req_id": "ok"})
        reply = await recv(ws)
        assert (reply["success"], reply["op"], reply["req_id"]) == (True, "auth", "ok")


async def test_private_ping_gets_bybit_pong(venue_sim: SimProcess, sim_client: SimClient) -> None:
    async with sim_client.session.ws_connect(venue_sim.ws_private_url) as ws:
        await ws.send_json({"op": "ping", "req_id": "p-1"})
        pong = await recv(ws)
        assert pong["op"] == "pong" and pong["req_id"] == "p-1" and pong["conn_id"]
        assert abs(int(pong["args"][0]) - time.time() * 1000) < 5000


async def test_order_lifecycle_is_pushed(
    venue_sim: SimProcess, sim_client: SimClient, private_ws: Ws
) -> None:
    created = await sim_client.post(
        "/v5/order/create", limit("Buy", "0.010", "59999.9", orderLinkId="ws-1")
    )
    order_id = created.body["result"]["orderId"]
    pushed = await next_topic(private_ws, "order")
    assert set(pushed) == {"id", "topic", "creationTime", "data"}
    [item] = pushed["data"]
    assert (item["orderId"], item["orderLinkId"], item["orderStatus"], item["category"]) == (
        order_id,
        "ws-1",
        "New",
        "linear",
    )
    position = await next_topic(private_ws, "position")  # pushed on every create, even unchanged
    assert position["data"][0]["size"] == "0" and "entryPrice" in position["data"][0]

    await venue_sim.control("trade", {"symbol": "BTCUSDT", "price": "59999.9", "qty": "0.004"})
    partial = await next_topic(private_ws, "order")
    assert partial["data"][0]["orderStatus"] == "PartiallyFilled"
    execution = (await next_topic(private_ws, "execution"))["data"][0]
    for field in (
        "execId",
        "execPrice",
        "execQty",
        "execFee",
        "feeRate",
        "execTime",
        "leavesQty",
        "orderLinkId",
        "orderId",
        "symbol",
        "side",
        "category",
    ):
        assert field in execution
    assert (execution["execQty"], execution["leavesQty"], execution["isMaker"]) == (
        "0.004",
        "0.006",
        True,
    )
    assert (await next_topic(private_ws, "position"))["data"][0]["size"] == "0.004"
    wallet = (await next_topic(private_ws, "wallet"))["data"][0]
    assert wallet["accountType"] == "UNIFIED"

    await sim_client.post("/v5/order/cancel", {**LINEAR, "orderLinkId": "ws-1"})
    cancelled = (await next_topic(private_ws, "order"))["data"][0]
    assert (cancelled["orderStatus"], cancelled["cumExecQty"], cancelled["cancelType"]) == (
        "Cancelled",
        "0.004",
        "CancelByUser",
    )


async def test_categorised_topic_only_gets_its_category(
    venue_sim: SimProcess, sim_client: SimClient
) -> None:
    async with sim_client.session.ws_connect(venue_sim.ws_private_url) as ws:
        await ws.send_json(sim_client.ws_auth())
        await recv(ws)
        await ws.send_json({"op": "subscribe", "args": ["order", "order.spot"]})
        assert (await recv(ws))["success"] is False
        await ws.send_json({"op": "subscribe", "args": ["order.spot"]})
        assert (await recv(ws))["success"] is True
        await sim_client.post("/v5/order/create", limit("Buy", "0.01", "59000"))
        await sim_client.post(
            "/v5/order/create", {**limit("Buy", "0.001", "59000"), "category": "spot"}
        )
        message = await recv(ws)
        assert message["topic"] == "order.spot"
        assert message["data"][0]["category"] == "spot"


async def test_drop_closes_private_connections(venue_sim: SimProcess, private_ws: Ws) -> None:
    dropped = await venue_sim.control("ws/drop", {"channel": "private"})
    assert dropped["closed"] >= 1
    message = await asyncio.wait_for(private_ws.receive(), 3)
    assert message.type in (
        aiohttp.WSMsgType.CLOSE,
        aiohttp.WSMsgType.CLOSED,
        aiohttp.WSMsgType.CLOSING,
    )


async def test_public_book_snapshot_then_delta_with_our_order(
    venue_sim: SimProcess, sim_client: SimClient
) -> None:
    async with sim_client.session.ws_connect(venue_sim.ws_public_url) as ws:
        await ws.send_json({"op": "ping", "req_id": "pp"})
        pong = await recv(ws)
        assert (pong["success"], pong["ret_msg"], pong["op"]) == (True, "pong", "ping")
        await ws.send_json(
            {
                "op": "subscribe",
                "req_id": "b",
                "args": ["orderbook.50.BTCUSDT", "publicTrade.BTCUSDT", "tickers.BTCUSDT"],
            }
        )
        assert (await recv(ws))["success"] is True
        snapshot = await next_topic(ws, "orderbook.50.BTCUSDT")
        assert snapshot["type"] == "snapshot" and len(snapshot["data"]["b"]) == 50
        assert snapshot["data"]["b"][0][0] == "59999.9" and snapshot["data"]["a"][0][0] == "60000.1"
        ticker = await next_topic(ws, "tickers.BTCUSDT")
        assert ticker["type"] == "snapshot" and ticker["data"]["bid1Price"] == "59999.9"

        await sim_client.post("/v5/order/create", limit("Buy", "1.000", "60000.0"))
        delta = await next_topic(ws, "orderbook.50.BTCUSDT")
        assert delta["type"] == "delta"
        assert ["60000.0", "1.000"] in delta["data"]["b"]
        assert delta["data"]["u"] == snapshot["data"]["u"] + 1

        await venue_sim.control(
            "trade", {"symbol": "BTCUSDT", "price": "60000", "qty": "0.3", "side": "Sell"}
        )
        trade = await next_topic(ws, "publicTrade.BTCUSDT")
        assert trade["data"][0]["p"] == "60000" and trade["data"][0]["S"] == "Sell"


async def test_public_rejects_unknown_topics(venue_sim: SimProcess, sim_client: SimClient) -> None:
    async with sim_client.session.ws_connect(venue_sim.ws_public_spot_url) as ws:
        await ws.send_json({"op": "subscribe", "args": ["orderbook.7.BTCUSDT"]})
        reply = await recv(ws)
        assert reply["success"] is False and "orderbook.7.BTCUSDT" in reply["ret_msg"]
        await ws.send_json({"op": "subscribe", "args": ["orderbook.1.ETHUSDT"]})
        assert (await recv(ws))["success"] is True
        snapshot = await recv(ws)
        assert snapshot["topic"] == "orderbook.1.ETHUSDT" and len(snapshot["data"]["a"]) == 1


async def test_dcp_cancels_everything_when_the_guarding_connection_dies(
    venue_sim: SimProcess, sim_client: SimClient
) -> None:
    await sim_client.post(
        "/v5/order/disconnected-cancel-all", {"product": "DERIVATIVES", "timeWindow": 3}
    )
    async with sim_client.session.ws_connect(venue_sim.ws_private_url) as guard:
        await guard.send_json(sim_client.ws_auth())
        await recv(guard)
        await guard.send_json({"op": "subscribe", "args": ["dcp"]})
        assert (await recv(guard))["success"] is True
        await sim_client.post(
            "/v5/order/create", limit("Buy", "0.01", "59000", orderLinkId="dcp-1")
        )
    await asyncio.sleep(1.5)
    assert [o["orderStatus"] for o in await venue_sim.orders()] == ["New"]
    await asyncio.sleep(2.5)
    [order] = await venue_sim.orders()
    assert (order["orderStatus"], order["cancelType"]) == ("Cancelled", "CancelByDCP")


async def test_dcp_does_not_fire_while_a_guard_reconnects_in_time(
    venue_sim: SimProcess, sim_client: SimClient
) -> None:
    await sim_client.post(
        "/v5/order/disconnected-cancel-all", {"product": "DERIVATIVES", "timeWindow": 3}
    )
    await sim_client.post("/v5/order/create", limit("Buy", "0.01", "59000"))
    for _ in range(2):
        async with sim_client.session.ws_connect(venue_sim.ws_private_url) as guard:
            await guard.send_json(sim_client.ws_auth())
            await recv(guard)
            await guard.send_json({"op": "subscribe", "args": ["dcp.future"]})
            await recv(guard)
            await asyncio.sleep(1)
        await asyncio.sleep(1)
    async with sim_client.session.ws_connect(venue_sim.ws_private_url) as guard:
        await guard.send_json(sim_client.ws_auth())
        await recv(guard)
        await guard.send_json({"op": "subscribe", "args": ["dcp.future"]})
        await recv(guard)
        await asyncio.sleep(1.5)
        assert [o["orderStatus"] for o in await venue_sim.orders()] == ["New"]
