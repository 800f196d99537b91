"""The deprecated-but-deployed `binance-futures-connector` (`binance.um_futures.UMFutures` and
its `UMFuturesWebsocketClient`), unchanged, against the simulator's Binance personality.

The connector is pointed at the simulator by its `base_url` / `stream_url` arguments only.
It sends everything in the query string, encodes `batchOrders` as a Python list repr turned
into JSON *with spaces*, reads `/fapi/v3` account endpoints, and insists on `code` and `msg`
in every 4xx body. Also here: the raw stream paths other clients use (`/ws/<listenKey>`,
`/private/ws?listenKey=`, `/stream?streams=`), over plain aiohttp.
"""

from __future__ import annotations

import json
import threading
import time
from collections.abc import Callable
from decimal import Decimal
from typing import Any

import aiohttp
import pytest
from binance.error import ClientError, ServerError
from binance.um_futures import UMFutures
from binance.websocket.um_futures.websocket_client import UMFuturesWebsocketClient

from tests.binance_client import BinanceClient
from tests.simulator import SimProcess

BTC = "BTCUSDT"


@pytest.fixture
def sim(binance_sim_process: SimProcess) -> SimProcess:
    binance_sim_process.control_sync("reset", {"marketFrozen": True})
    return binance_sim_process


@pytest.fixture
def um(sim: SimProcess) -> UMFutures:
    return UMFutures(key=sim.api_key, secret=sim.api_secret, base_url=sim.base_url)


def client_error(call: Callable[[], Any]) -> ClientError:
    with pytest.raises(ClientError) as raised:
        call()
    return raised.value


def wait_for(predicate: Callable[[], bool], timeout_s: float = 5.0) -> None:
    deadline = time.monotonic() + timeout_s
    while not predicate():
        assert time.monotonic() < deadline, "timed out waiting for a stream message"
        time.sleep(0.02)


def test_market_data(sim: SimProcess, um: UMFutures) -> None:
    assert um.ping() == {}
    assert [s["symbol"] for s in um.exchange_info()["symbols"]] == ["BTCUSDT", "ETHUSDT", "SOLUSDT"]
    depth = um.depth(BTC, limit=5)
    assert (depth["bids"][0][0], depth["asks"][0][0]) == ("59999.9", "60000.1")
    assert um.book_ticker(BTC)["askPrice"] == "60000.1"
    assert um.ticker_price(BTC)["price"] == "60000"  # /fapi/v2/ticker/price
    sim.control_sync("mid", {"symbol": BTC, "price": "60500"})
    assert um.mark_price(BTC)["markPrice"] == "60500"
    assert um.klines(BTC, "1m", limit=1)[0][4] == "60000"  # no print since the reset


def test_place_query_modify_cancel(um: UMFutures) -> None:
    placed = um.new_order(
        symbol=BTC, side="BUY", type="LIMIT", timeInForce="GTC", quantity=0.002, price=59000,
        newClientOrderId="old-1",
    )  # fmt: skip
    assert (placed["status"], placed["clientOrderId"], placed["origQty"]) == (
        "NEW",
        "old-1",
        "0.002",
    )
    queried = um.query_order(BTC, origClientOrderId="old-1")
    assert queried["orderId"] == placed["orderId"] and isinstance(queried["orderId"], int)
    assert um.get_open_orders(BTC, orderId=placed["orderId"])["status"] == "NEW"  # /openOrder
    assert [o["orderId"] for o in um.get_orders(symbol=BTC)] == [placed["orderId"]]  # /openOrders
    modified = um.modify_order(BTC, "BUY", 0.003, 59100.0, orderId=placed["orderId"])
    assert (modified["price"], modified["origQty"]) == ("59100.0", "0.003")
    cancelled = um.cancel_order(BTC, orderId=placed["orderId"])
    assert cancelled["status"] == "CANCELED"
    error = client_error(lambda: um.cancel_order(BTC, orderId=placed["orderId"]))
    assert (error.status_code, error.error_code, error.error_message) == (
        400,
        -2011,
        "Unknown order sent.",
    )
    assert error.header["Content-Type"].startswith("application/json")
    assert int(error.header["X-MBX-USED-WEIGHT-1M"]) > 0
    error = client_error(lambda: um.query_order(BTC, orderId=1))
    assert (error.error_code, error.error_message) == (-2013, "Order does not exist.")
    assert [o["status"] for o in um.get_all_orders(BTC)] == ["CANCELED"]


def test_batch_orders_sent_with_spaces(sim: SimProcess, um: UMFutures) -> None:
    placed = um.new_batch_order(
        batchOrders=[
            {"symbol": BTC, "side": "BUY", "type": "LIMIT", "quantity": "0.001",
             "timeInForce": "GTC", "price": "59000", "newClientOrderId": "sp-1"},
            {"symbol": BTC, "side": "SELL", "type": "LIMIT", "quantity": 0.001,
             "timeInForce": "GTC", "price": 61000, "newClientOrderId": "sp-2"},
            {"symbol": BTC, "side": "SELL", "type": "MARKET", "quantity": "0.001"},
        ]
    )  # fmt: skip
    assert [o.get("clientOrderId") for o in placed[:2]] == ["sp-1", "sp-2"]
    assert placed[2]["type"] == "MARKET" and placed[2]["status"] == "NEW"  # ACK
    assert um.get_account_trades(BTC)[0]["price"] == "59999.9"
    cancelled = um.cancel_batch_order(BTC, [placed[0]["orderId"], 999], None)
    assert cancelled[0]["status"] == "CANCELED"
    assert cancelled[1] == {"code": -2011, "msg": "Unknown order sent."}
    [by_link] = um.cancel_batch_order(BTC, None, ["sp-2"])
    assert by_link["clientOrderId"] == "sp-2"
    assert um.cancel_open_orders(BTC) == {
        "code": 200,
        "msg": "The operation of cancel all open order is done.",
    }


def test_account_balance_and_position_risk(um: UMFutures) -> None:
    um.new_order(symbol=BTC, side="SELL", type="MARKET", quantity=0.002)  # at 59999.9
    fee = Decimal("59999.9") * Decimal("0.002") * Decimal("0.0005")
    account = um.account()  # /fapi/v3/account
    assert Decimal(account["totalWalletBalance"]) == 100_000 - fee
    assert [(p["symbol"], p["positionAmt"]) for p in account["positions"]] == [(BTC, "-0.002")]
    [usdt] = um.balance()  # /fapi/v3/balance
    assert (usdt["asset"], Decimal(usdt["balance"])) == ("USDT", 100_000 - fee)
    [position] = um.get_position_risk(symbol=BTC)  # /fapi/v3/positionRisk
    assert (position["positionAmt"], position["entryPrice"], position["positionSide"]) == (
        "-0.002",
        "59999.9",
        "BOTH",
    )
    assert um.change_leverage(BTC, 5)["leverage"] == 5
    assert um.change_margin_type("ETHUSDT", "ISOLATED") == {"code": 200, "msg": "success"}
    rates = um.commission_rate(BTC)
    assert (rates["makerCommissionRate"], rates["takerCommissionRate"]) == ("0.0002", "0.0005")
    assert um.countdown_cancel_order(BTC, 60_000) == {"symbol": BTC, "countdownTime": "60000"}


def test_listen_key_and_user_stream(sim: SimProcess, um: UMFutures) -> None:
    key = um.new_listen_key()["listenKey"]
    messages: list[dict[str, Any]] = []
    lock = threading.Lock()

    def on_message(_: Any, raw: str) -> None:
        with lock:
            messages.append(json.loads(raw))

    stream = UMFuturesWebsocketClient(stream_url=sim.ws_url, on_message=on_message)
    try:
        stream.user_data(listen_key=key, id=1)
        wait_for(lambda: {"result": None, "id": 1} in messages)
        placed = um.new_order(
            symbol=BTC, side="SELL", type="LIMIT", timeInForce="GTC", quantity=0.001,
            price=60010, newClientOrderId="us-1",
        )  # fmt: skip
        sim.control_sync("mid", {"symbol": BTC, "price": "60020"})
        wait_for(lambda: any(m.get("e") == "ACCOUNT_UPDATE" for m in messages))
        orders = [m["o"] for m in messages if m.get("e") == "ORDER_TRADE_UPDATE"]
        assert [(o["x"], o["X"], o["i"], o["c"]) for o in orders] == [
            ("NEW", "NEW", placed["orderId"], "us-1"),
            ("TRADE", "FILLED", placed["orderId"], "us-1"),
        ]
        assert (orders[1]["L"], orders[1]["l"], orders[1]["m"], orders[1]["n"]) == (
            "60010.0",
            "0.001",
            True,
            "0.012002",
        )
        [account] = [m for m in messages if m.get("e") == "ACCOUNT_UPDATE"]
        assert account["a"]["P"][0]["pa"] == "-0.001"
        assert um.renew_listen_key(key) == {"listenKey": key}
        assert um.close_listen_key(key) == {}
        error = client_error(lambda: um.renew_listen_key(key))
        assert (error.error_code, error.error_message) == (-1125, "This listenKey does not exist.")
    finally:
        stream.stop()


def test_server_errors_carry_binance_text(sim: SimProcess, um: UMFutures) -> None:
    sim.control_sync("faults", {"http5xxAfterNext": 1})
    with pytest.raises(ServerError) as unknown:
        um.new_order(symbol=BTC, side="BUY", type="MARKET", quantity=0.001)
    assert unknown.value.status_code == 503
    assert "Unknown error, please check your request or try again later." in unknown.value.message
    assert um.get_position_risk(symbol=BTC)[0]["positionAmt"] == "0.001"  # it was done
    sim.control_sync("faults", {"http5xxNext": 1})
    with pytest.raises(ServerError) as failed:
        um.new_order(symbol=BTC, side="BUY", type="MARKET", quantity=0.001)
    assert "Service Unavailable." in failed.value.message
    assert um.get_position_risk(symbol=BTC)[0]["positionAmt"] == "0.001"  # it was not


# -- raw stream paths -------------------------------------------------------------------------


async def _next_json(ws: aiohttp.ClientWebSocketResponse, timeout_s: float = 5.0) -> Any:
    return json.loads(await ws.receive_str(timeout=timeout_s))


async def test_user_data_on_the_listen_key_paths(sim: SimProcess) -> None:
    async with aiohttp.ClientSession() as session:
        client = BinanceClient(sim, session)
        key = (await client.keyed("POST", "/fapi/v1/listenKey")).body["listenKey"]
        raw = await session.ws_connect(f"{sim.ws_url}/ws/{key}")
        routed = await session.ws_connect(
            f"{sim.ws_url}/private/ws?listenKey={key}&events=ACCOUNT_UPDATE"
        )
        combined = await session.ws_connect(f"{sim.ws_url}/stream?streams={key}/btcusdt@bookTicker")
        placed = await client.signed(
            "POST",
            "/fapi/v1/order",
            {"symbol": BTC, "side": "BUY", "type": "MARKET", "quantity": "0.001"},
            in_body=True,  # a form body this time
        )
        assert placed.status == 200 and placed.headers["X-MBX-ORDER-COUNT-10S"] == "1"
        kinds = [(await _next_json(raw))["o"]["x"] for _ in range(2)]
        assert kinds == ["NEW", "TRADE"] and (await _next_json(raw))["e"] == "ACCOUNT_UPDATE"
        assert (await _next_json(routed))["e"] == "ACCOUNT_UPDATE"  # the events filter
        framed = [await _next_json(combined) for _ in range(4)]
        by_stream = {m["stream"] for m in framed}
        assert by_stream == {key, "btcusdt@bookTicker"}
        bad = await session.get(f"{sim.ws_url.replace('ws', 'http', 1)}/ws/not-a-key")
        assert bad.status == 400 and (await bad.json())["code"] == -1125
        for ws in (raw, routed, combined):
            await ws.close()


async def test_subscribe_protocol(sim: SimProcess) -> None:
    async with (
        aiohttp.ClientSession() as session,
        session.ws_connect(f"{sim.ws_url}/ws") as ws,
    ):
        await ws.send_json({"method": "SUBSCRIBE", "params": ["btcusdt@depth5@100ms"], "id": 1})
        assert await _next_json(ws) == {"result": None, "id": 1}
        snapshot = await _next_json(ws)
        assert snapshot["e"] == "depthUpdate" and len(snapshot["b"]) == 5
        await ws.send_json({"method": "LIST_SUBSCRIPTIONS", "id": 2})
        assert await _next_json(ws) == {"result": ["btcusdt@depth5@100ms"], "id": 2}
        await ws.send_json({"method": "SUBSCRIBE", "params": ["nope@bookTicker"], "id": 3})
        refused = await _next_json(ws)
        assert refused["id"] == 3 and refused["error"]["code"] == 2
        await ws.send_json({"method": "UNSUBSCRIBE", "params": ["btcusdt@depth5@100ms"], "id": 4})
        assert await _next_json(ws) == {"result": None, "id": 4}
        health = await sim.control("health", method="GET")
        assert health["connections"] == {"private": 0, "public": 1}
        assert (await sim.control("ws/drop", {"channel": "public"})) == {"closed": 1}
