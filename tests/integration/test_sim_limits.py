"""Rate limits over real HTTP: UID limit headers and 10006, batch quotas, the IP ban."""

from __future__ import annotations

import asyncio
from typing import Any

from tests.simulator import SimClient, SimProcess

ORDER = {
    "category": "linear",
    "symbol": "BTCUSDT",
    "side": "Buy",
    "orderType": "Limit",
    "qty": "0.001",
    "price": "50000",
}


def order(i: int) -> dict[str, Any]:
    return {**ORDER, "orderLinkId": f"rl-{i}"}


async def test_every_private_response_carries_the_limit_headers(
    venue_sim: SimProcess, sim_client: SimClient
) -> None:
    await venue_sim.control("limits", {"tradePerSecond": 10})
    reply = await sim_client.post("/v5/order/create", order(0))
    assert reply.headers["X-Bapi-Limit"] == "10"
    assert reply.headers["X-Bapi-Limit-Status"] == "9"
    assert int(reply.headers["X-Bapi-Limit-Reset-Timestamp"]) > 0
    failed = await sim_client.post("/v5/order/create", {**order(1), "qty": "0.0001"})
    assert failed.body["retCode"] == 10001
    assert failed.headers["X-Bapi-Limit-Status"] == "8"


async def test_over_the_trade_limit_is_10006_with_a_reset_time(
    venue_sim: SimProcess, sim_client: SimClient
) -> None:
    await venue_sim.control("limits", {"tradePerSecond": 3})
    replies = [await sim_client.post("/v5/order/create", order(i)) for i in range(4)]
    assert [r.body["retCode"] for r in replies] == [0, 0, 0, 10006]
    limited = replies[-1]
    assert limited.body["retMsg"] == "Too many visits. Exceeded the API Rate Limit."
    assert limited.headers["X-Bapi-Limit-Status"] == "0"
    assert int(limited.headers["X-Bapi-Limit-Reset-Timestamp"]) > limited.body["time"]
    assert len(await venue_sim.orders()) == 3
    # queries have their own quota
    query = await sim_client.get("/v5/order/realtime", {"category": "linear", "symbol": "BTCUSDT"})
    assert query.body["retCode"] == 0
    await asyncio.sleep(1.05)
    assert (await sim_client.post("/v5/order/create", order(9))).body["retCode"] == 0


async def test_batch_is_charged_per_order_and_the_excess_fails_per_item(
    venue_sim: SimProcess, sim_client: SimClient
) -> None:
    await venue_sim.control("limits", {"tradePerSecond": 3})
    request = [{k: v for k, v in order(i).items() if k != "category"} for i in range(5)]
    reply = await sim_client.post(
        "/v5/order/create-batch", {"category": "linear", "request": request}
    )
    assert reply.body["retCode"] == 0
    codes = [item["code"] for item in reply.body["retExtInfo"]["list"]]
    assert codes == [0, 0, 0, 10006, 10006]
    assert [bool(item["orderId"]) for item in reply.body["result"]["list"]] == [True] * 3 + [
        False
    ] * 2
    again = await sim_client.post(
        "/v5/order/create-batch", {"category": "linear", "request": request}
    )
    assert again.body["retCode"] == 10006


async def test_spot_trade_limit_is_separate(venue_sim: SimProcess, sim_client: SimClient) -> None:
    await venue_sim.control("limits", {"tradePerSecond": 1, "spotTradePerSecond": 2})
    spot = {**ORDER, "category": "spot", "qty": "0.0002"}
    codes = [(await sim_client.post("/v5/order/create", spot)).body["retCode"] for _ in range(3)]
    assert codes == [0, 0, 10006]
    assert (await sim_client.post("/v5/order/create", order(1))).body["retCode"] == 0


async def test_ip_limit_breach_answers_403_until_the_ban_lifts(
    venue_sim: SimProcess, sim_client: SimClient
) -> None:
    await venue_sim.control("limits", {"ipPer5s": 5, "ipBanSeconds": 1})
    statuses = []
    for _ in range(7):
        reply = await sim_client.get("/v5/market/time")
        statuses.append(reply.status)
    assert statuses == [200] * 5 + [403, 403]
    banned = await sim_client.post("/v5/order/create", order(0))
    assert banned.status == 403 and banned.body is None
    await asyncio.sleep(1.1)
    assert (await sim_client.get("/v5/market/time")).status == 200


async def test_reset_restores_the_default_limits(venue_sim: SimProcess) -> None:
    await venue_sim.control("limits", {"tradePerSecond": 1})
    await venue_sim.control("reset")
    health = await venue_sim.control("health", method="GET")
    assert health["limits"]["tradePerSecond"] == 10
    assert health["limits"]["ipPer5s"] == 600
