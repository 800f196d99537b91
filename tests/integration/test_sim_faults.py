"""Fault injection over real HTTP: latency, 5xx, forced 10006 / 403, dropped responses."""

from __future__ import annotations

import asyncio
import time

import aiohttp
import pytest

from tests.simulator import SimClient, SimProcess

ORDER = {
    "category": "linear",
    "symbol": "BTCUSDT",
    "side": "Buy",
    "orderType": "Limit",
    "qty": "0.001",
    "price": "50000",
}
WALLET = ("/v5/account/wallet-balance", {"accountType": "UNIFIED"})


async def test_latency_delays_private_calls_only(
    venue_sim: SimProcess, sim_client: SimClient
) -> None:
    await venue_sim.control("faults", {"latencyMs": 300})
    started = time.monotonic()
    assert (await sim_client.get(*WALLET)).body["retCode"] == 0
    assert time.monotonic() - started >= 0.3
    started = time.monotonic()
    await sim_client.get("/v5/market/time")
    assert time.monotonic() - started < 0.3


async def test_http5xx_next_answers_503_without_executing(
    venue_sim: SimProcess, sim_client: SimClient
) -> None:
    await venue_sim.control("faults", {"http5xxNext": 1})
    first = await sim_client.post("/v5/order/create", {**ORDER, "orderLinkId": "f5-1"})
    assert first.status == 503
    assert await venue_sim.orders() == []
    second = await sim_client.post("/v5/order/create", {**ORDER, "orderLinkId": "f5-1"})
    assert second.body["retCode"] == 0


async def test_rate_limit_next_and_ip_ban_next(
    venue_sim: SimProcess, sim_client: SimClient
) -> None:
    await venue_sim.control("faults", {"rateLimitNext": 2, "ipBanNext": 1})
    banned = await sim_client.get(*WALLET)
    assert banned.status == 403
    limited = [await sim_client.post("/v5/order/create", ORDER) for _ in range(2)]
    assert [r.body["retCode"] for r in limited] == [10006, 10006]
    assert "X-Bapi-Limit-Reset-Timestamp" in limited[0].headers
    assert (await sim_client.post("/v5/order/create", ORDER)).body["retCode"] == 0
    health = await venue_sim.control("health", method="GET")
    assert health["faults"]["fired"] == {"ipBanNext": 1, "rateLimitNext": 2}


async def test_paths_restrict_which_calls_the_counters_hit(
    venue_sim: SimProcess, sim_client: SimClient
) -> None:
    await venue_sim.control("faults", {"http5xxNext": 1, "paths": ["/v5/order/cancel"]})
    assert (await sim_client.get(*WALLET)).status == 200
    assert (await sim_client.post("/v5/order/create", ORDER)).status == 200
    cancel = {"category": "linear", "symbol": "BTCUSDT", "orderLinkId": "x"}
    assert (await sim_client.post("/v5/order/cancel", cancel)).status == 503


async def test_drop_response_executes_then_closes_the_connection(
    venue_sim: SimProcess, sim_client: SimClient
) -> None:
    await venue_sim.control("faults", {"dropResponseNext": 1})
    with pytest.raises(aiohttp.ServerDisconnectedError):
        await sim_client.post("/v5/order/create", {**ORDER, "orderLinkId": "dropped-1"})
    [order] = await venue_sim.orders()
    assert order["orderLinkId"] == "dropped-1" and order["orderStatus"] == "New"
    retry = await sim_client.post("/v5/order/create", {**ORDER, "orderLinkId": "dropped-1"})
    assert retry.body["retCode"] == 110072
    lookup = await sim_client.get(
        "/v5/order/realtime", {"category": "linear", "orderLinkId": "dropped-1"}
    )
    assert lookup.body["result"]["list"][0]["orderLinkId"] == "dropped-1"


async def test_drop_mode_hang_holds_the_request_open(
    venue_sim: SimProcess, sim_client: SimClient
) -> None:
    await venue_sim.control("faults", {"dropResponseNext": 1, "dropMode": "hang", "hangMs": 2000})
    with pytest.raises(asyncio.TimeoutError):
        async with asyncio.timeout(0.5):
            await sim_client.post("/v5/order/create", {**ORDER, "orderLinkId": "hung-1"})
    assert [o["orderLinkId"] for o in await venue_sim.orders()] == ["hung-1"]


async def test_clock_offset_makes_client_timestamps_stale(
    venue_sim: SimProcess, sim_client: SimClient
) -> None:
    await venue_sim.control("faults", {"clockOffsetMs": 60_000})
    assert (await sim_client.get(*WALLET)).body["retCode"] == 10002
    server = await sim_client.get("/v5/market/time")
    assert int(server.body["result"]["timeSecond"]) * 1000 > time.time() * 1000 + 55_000


async def test_clear_resets_every_fault(venue_sim: SimProcess) -> None:
    await venue_sim.control("faults", {"latencyMs": 5, "http5xxNext": 3, "paths": ["/x"]})
    state = await venue_sim.control("faults", {"clear": True, "rateLimitNext": 1})
    assert state["latencyMs"] == 0 and state["http5xxNext"] == 0 and state["paths"] is None
    assert state["rateLimitNext"] == 1


async def test_invalid_control_body_is_400(venue_sim: SimProcess) -> None:
    with pytest.raises(RuntimeError, match="400"):
        await venue_sim.control("faults", {"latencyMs": -1})
    with pytest.raises(RuntimeError, match="400"):
        await venue_sim.control("faults", {"noSuchFault": 1})
