"""The simulator with a state file: stopped and started again, it holds the same orders,
fills, positions and balances, to the last digit, and keeps its queue priority."""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import aiohttp
import pytest

from tests.simulator import SimClient, SimProcess

pytestmark = pytest.mark.integration
LINEAR = {"category": "linear", "symbol": "BTCUSDT"}


def _limit(side: str, qty: str, price: str, link: str, **extra: Any) -> dict[str, Any]:
    return {**LINEAR, "side": side, "orderType": "Limit", "qty": qty, "price": price,
            "orderLinkId": link, **extra}  # fmt: skip


async def _place(client: SimClient, body: dict[str, Any]) -> None:
    reply = await client.post("/v5/order/create", body)
    assert reply.body["retCode"] == 0, reply.body


async def _everything(sim: SimProcess, client: SimClient) -> dict[str, Any]:
    """What a venue holds, as its own endpoints answer."""
    wallet = await client.get("/v5/account/wallet-balance", {"accountType": "UNIFIED"})
    return {
        "orders": await sim.orders(),
        "executions": (await sim.control("executions", method="GET"))["list"],
        "positions": (await sim.control("positions", method="GET"))["list"],
        "wallet": wallet.body["result"]["list"],
    }


@pytest.fixture
async def session() -> AsyncIterator[aiohttp.ClientSession]:
    async with aiohttp.ClientSession() as http:
        yield http


async def test_restarted_simulator_holds_the_same_orders_fills_positions_and_balances(
    tmp_path: Path, session: aiohttp.ClientSession
) -> None:
    state_file = tmp_path / "venue-sim" / "state.json"
    env = {"MMX_SIM_STATE_PATH": str(state_file)}
    with SimProcess(env=env) as first:
        client = SimClient(first, session)
        await first.control("mid", {"symbol": "BTCUSDT", "price": "60000"})
        await _place(client, _limit("Buy", "0.010", "59000", "bid-old"))
        await _place(client, _limit("Buy", "0.010", "59000", "bid-new"))
        await _place(client, _limit("Sell", "0.005", "61000", "ask"))
        await _place(client, {**LINEAR, "side": "Buy", "orderType": "Market", "qty": "0.003",
                              "orderLinkId": "taker"})  # fmt: skip
        # part of the oldest bid fills: a partial fill with an odd fee to round-trip
        await first.control(
            "trade", {"symbol": "BTCUSDT", "price": "59000", "qty": "0.004", "side": "Sell"}
        )
        before = await _everything(first, client)
    assert state_file.exists()

    with SimProcess(env=env) as second:
        client = SimClient(second, session)
        after = await _everything(second, client)
        assert after == before
        # the queue survived: the older bid still fills first
        await second.control(
            "trade", {"symbol": "BTCUSDT", "price": "59000", "qty": "0.006", "side": "Sell"}
        )
        by_link = {o["orderLinkId"]: o for o in await second.orders()}
        assert (by_link["bid-old"]["orderStatus"], by_link["bid-new"]["orderStatus"]) == (
            "Filled",
            "New",
        )
        # and new orders get new ids
        await _place(client, _limit("Buy", "0.010", "58000", "later"))
        ids = [o["orderId"] for o in await second.orders()]
        assert len(ids) == len(set(ids)) == len(before["orders"]) + 1


async def test_simulator_without_a_state_file_starts_empty_and_writes_one_on_exit(
    tmp_path: Path, session: aiohttp.ClientSession
) -> None:
    state_file = tmp_path / "state.json"
    env = {"MMX_SIM_STATE_PATH": str(state_file), "MMX_SIM_STATE_SAVE_INTERVAL_S": "3600"}
    with SimProcess(env=env) as sim:
        assert await sim.orders() == []
        await _place(SimClient(sim, session), _limit("Sell", "0.010", "70000", "kept"))
        assert not state_file.exists() or b"kept" not in state_file.read_bytes()
    assert b'"kept"' in state_file.read_bytes()


def test_simulator_refuses_a_state_file_it_cannot_read_and_says_what_to_do(
    tmp_path: Path,
) -> None:
    state_file = tmp_path / "state.json"
    state_file.write_text("{not json")
    sim = SimProcess(env={"MMX_SIM_STATE_PATH": str(state_file)})
    with pytest.raises(RuntimeError, match="venue-sim did not start") as raised:
        sim.start(timeout_s=10)
    assert f"{state_file} is not a simulator state file" in str(raised.value)
    assert "mmx up --fresh" in str(raised.value)
