"""Funding settlement over real HTTP and WebSocket: `POST /sim/funding` settles at once, the
`Funding` execution is listed and pushed the way Bybit reports it, the wallet pays or
receives it, bad input is refused, and a restarted simulator keeps it."""

from __future__ import annotations

import asyncio
import json
from collections.abc import AsyncIterator
from decimal import Decimal
from pathlib import Path
from typing import Any

import aiohttp
import pytest

from tests.simulator import SimClient, SimProcess

pytestmark = pytest.mark.integration
BTC_MID, ETH_MID = Decimal(60000), Decimal(3000)
BTC = {"symbol": "BTCUSDT"}


async def _open(client: SimClient, symbol: str, side: str, qty: str) -> None:
    body = {"category": "linear", "symbol": symbol, "side": side, "orderType": "Market"}
    reply = await client.post("/v5/order/create", {**body, "qty": qty})
    assert reply.body["retCode"] == 0, reply.body


async def _long_btc_short_eth(sim: SimProcess, client: SimClient) -> None:
    """Long 0.010 BTCUSDT and short 0.10 ETHUSDT, marks at 60000 and 3000."""
    await sim.control("mid", {"symbol": "BTCUSDT", "price": str(BTC_MID)})
    await sim.control("mid", {"symbol": "ETHUSDT", "price": str(ETH_MID)})
    await _open(client, "BTCUSDT", "Buy", "0.010")
    await _open(client, "ETHUSDT", "Sell", "0.10")


async def _usdt_balance(client: SimClient) -> Decimal:
    reply = await client.get("/v5/account/wallet-balance", {"accountType": "UNIFIED"})
    [usdt] = [c for c in reply.body["result"]["list"][0]["coin"] if c["coin"] == "USDT"]
    return Decimal(usdt["walletBalance"])


async def _executions(client: SimClient, **params: str) -> list[dict[str, Any]]:
    reply = await client.get("/v5/execution/list", {"category": "linear", **params})
    assert reply.body["retCode"] == 0, reply.body
    items: list[dict[str, Any]] = reply.body["result"]["list"]
    return items


async def test_funding_is_listed_as_bybit_funding_executions_and_moves_the_wallet(
    venue_sim: SimProcess, sim_client: SimClient
) -> None:
    await _long_btc_short_eth(venue_sim, sim_client)
    balance = await _usdt_balance(sim_client)

    long_pays = await venue_sim.control("funding", {"symbol": "BTCUSDT", "rate": "0.0001"})
    short_receives = await venue_sim.control("funding", {"symbol": "ETHUSDT", "rate": "0.0001"})

    [btc] = long_pays["executions"]
    [eth] = short_receives["executions"]
    # a long pays at a positive rate: 0.010 * 60000 * 0.0001; a short receives 0.10 * 3000 * ...
    assert (btc["execType"], btc["side"], btc["execQty"], btc["execFee"]) == (
        "Funding",
        "Buy",
        "0.010",
        "0.06",
    )
    assert (eth["execType"], eth["side"], eth["execQty"], eth["execFee"]) == (
        "Funding",
        "Sell",
        "0.10",
        "-0.03",
    )
    listed = await _executions(sim_client, execType="Funding")
    assert [e["execId"] for e in listed] == [eth["execId"], btc["execId"]]  # newest first
    [listed_btc] = [e for e in listed if e["symbol"] == "BTCUSDT"]
    ws_only = ("category", "execPnl", "isLeverage")
    assert listed_btc == {k: v for k, v in btc.items() if k not in ws_only}
    assert (listed_btc["orderId"], listed_btc["orderLinkId"]) == ("", "")
    assert (listed_btc["feeRate"], listed_btc["feeCurrency"]) == ("0.0001", "USDT")
    assert (listed_btc["execPrice"], listed_btc["markPrice"]) == ("60000", "60000")
    assert (listed_btc["execValue"], listed_btc["leavesQty"]) == ("600", "0")
    assert btc["execPnl"] == "-0.06" and eth["execPnl"] == "0.03"

    trades = await _executions(sim_client, execType="Trade")
    assert {e["execType"] for e in trades} == {"Trade"} and len(trades) == 2
    assert not {btc["execId"], eth["execId"]} & {e["execId"] for e in trades}
    assert len(await _executions(sim_client)) == 4

    assert await _usdt_balance(sim_client) == balance - Decimal("0.06") + Decimal("0.03")
    position = await sim_client.get("/v5/position/list", {"category": "linear", **BTC})
    [row] = position.body["result"]["list"]
    trade_fee = Decimal(trades[-1]["execFee"])  # the BTC buy, the older trade
    assert Decimal(row["curRealisedPnl"]) == -trade_fee - Decimal("0.06")


async def test_funding_on_a_flat_position_settles_nothing(
    venue_sim: SimProcess, sim_client: SimClient
) -> None:
    balance = await _usdt_balance(sim_client)

    answer = await venue_sim.control("funding", {"symbol": "BTCUSDT", "rate": "0.0005"})

    assert answer == {"executions": []}
    assert await _executions(sim_client, execType="Funding") == []
    assert await _usdt_balance(sim_client) == balance


async def _recv(ws: aiohttp.ClientWebSocketResponse) -> dict[str, Any]:
    message: dict[str, Any] = await asyncio.wait_for(ws.receive_json(), 3.0)
    return message


async def test_funding_is_pushed_on_the_execution_and_wallet_topics_not_the_fast_one(
    venue_sim: SimProcess, sim_client: SimClient
) -> None:
    await _long_btc_short_eth(venue_sim, sim_client)
    async with sim_client.session.ws_connect(venue_sim.ws_private_url) as ws:
        await ws.send_json(sim_client.ws_auth())
        assert (await _recv(ws))["success"] is True
        await ws.send_json({"op": "subscribe", "args": ["execution", "execution.fast", "wallet"]})
        assert (await _recv(ws))["success"] is True

        answer = await venue_sim.control("funding", {"symbol": "BTCUSDT", "rate": "-0.0002"})

        topics: list[str] = []
        pushed: dict[str, Any] = {}
        while "wallet" not in topics:  # the wallet is pushed last, after any execution topic
            message = await _recv(ws)
            topics.append(message["topic"])
            pushed.setdefault(message["topic"], message)
    assert topics == ["execution", "wallet"]
    [item] = pushed["execution"]["data"]
    assert item == answer["executions"][0]
    # a long receives at a negative rate
    assert (item["execType"], item["category"], item["side"], item["execFee"]) == (
        "Funding",
        "linear",
        "Buy",
        "-0.12",
    )
    [wallet] = pushed["wallet"]["data"]
    [usdt] = [c for c in wallet["coin"] if c["coin"] == "USDT"]
    assert Decimal(usdt["walletBalance"]) == await _usdt_balance(sim_client)


@pytest.mark.parametrize(
    ("body", "message"),
    [
        ({"symbol": "NOPEUSDT", "rate": "0.0001"}, "'NOPEUSDT' is not a linear symbol"),
        ({"symbol": "BTCUSDT", "rate": "0.02"}, "less than or equal to 0.01"),
        ({"symbol": "BTCUSDT", "rate": "-0.0101"}, "greater than or equal to -0.01"),
        ({"symbol": "BTCUSDT", "rate": 0.0001}, "rate must be a decimal string"),
        ({"symbol": "BTCUSDT", "rate": "abc"}, "rate"),
        ({"symbol": "BTCUSDT"}, "rate"),
        (
            {"symbol": "BTCUSDT", "rate": "0.0001", "category": "spot"},
            "funding settles linear positions only, not spot",
        ),
    ],
)
async def test_bad_funding_requests_are_refused_with_a_reason(
    venue_sim: SimProcess, sim_client: SimClient, body: dict[str, Any], message: str
) -> None:
    await _long_btc_short_eth(venue_sim, sim_client)
    url = f"{venue_sim.base_url}/sim/funding"

    async with sim_client.session.post(url, data=json.dumps(body)) as resp:
        status, answer = resp.status, await resp.json(content_type=None)

    assert status == 400
    assert message in answer["error"]
    assert await _executions(sim_client, execType="Funding") == []


@pytest.fixture
async def session() -> AsyncIterator[aiohttp.ClientSession]:
    async with aiohttp.ClientSession() as http:
        yield http


async def test_a_restarted_simulator_keeps_funding_and_reads_state_from_before_funding(
    tmp_path: Path, session: aiohttp.ClientSession
) -> None:
    state_file = tmp_path / "state.json"
    env = {"MMX_SIM_STATE_PATH": str(state_file)}
    with SimProcess(env=env) as first:
        client = SimClient(first, session)
        await _long_btc_short_eth(first, client)
        await first.control("funding", {"symbol": "BTCUSDT", "rate": "0.0001"})
        before = await _executions(client)
        balance = await _usdt_balance(client)

    with SimProcess(env=env) as second:
        client = SimClient(second, session)
        assert await _executions(client) == before
        [funding] = await _executions(client, execType="Funding")
        assert (funding["execFee"], funding["orderId"]) == ("0.06", "")
        assert await _usdt_balance(client) == balance

    # the file as a simulator from before funding wrote it: no exec_type, no funding
    data = json.loads(state_file.read_text())
    data["executions"]["linear"] = [
        {k: v for k, v in e.items() if k != "exec_type"}
        for e in data["executions"]["linear"]
        if e["exec_type"] == "Trade"
    ]
    state_file.write_text(json.dumps(data))
    with SimProcess(env=env) as third:
        client = SimClient(third, session)
        trades = await _executions(client, execType="Trade")
        assert [e["execId"] for e in trades] == [e["execId"] for e in before[1:]]
        assert await _executions(client, execType="Funding") == []
