"""`GET /sim/receipts`: when each order reached the simulator and when each fill was made (ns)."""

from __future__ import annotations

import time
from typing import Any

from tests.simulator import SimClient, SimProcess


def limit(side: str, price: str, link: str, **extra: Any) -> dict[str, Any]:
    return {
        "symbol": "BTCUSDT",
        "side": side,
        "orderType": "Limit",
        "qty": "0.001",
        "price": price,
        "orderLinkId": link,
        **extra,
    }


async def receipts(sim: SimProcess, since_ns: int | None = None) -> dict[str, Any]:
    path = "receipts" if since_ns is None else f"receipts?sinceNs={since_ns}"
    result: dict[str, Any] = await sim.control(path, method="GET")
    return result


async def test_orders_carry_their_receipt_time_and_fills_their_exec_time(
    venue_sim: SimProcess, sim_client: SimClient
) -> None:
    before = time.time_ns()
    single = await sim_client.post(
        "/v5/order/create", {"category": "linear", **limit("Buy", "59000", "rc-1")}
    )
    assert single.body["retCode"] == 0
    middle = time.time_ns()
    batch = [limit("Buy", "59000", "rc-2"), limit("Buy", "60000.1", "rc-3")]  # rc-3 fills
    reply = await sim_client.post(
        "/v5/order/create-batch", {"category": "linear", "request": batch}
    )
    assert [i["code"] for i in reply.body["retExtInfo"]["list"]] == [0, 0]
    refused = await sim_client.post(
        "/v5/order/create", {"category": "linear", **limit("Buy", "59000", "rc-1")}
    )
    assert refused.body["retCode"] != 0  # a duplicate orderLinkId: no order, no receipt
    after = time.time_ns()

    got = await receipts(venue_sim)
    by_link = {o["orderLinkId"]: o for o in got["orders"]}
    assert sorted(by_link) == ["rc-1", "rc-2", "rc-3"]
    assert before <= by_link["rc-1"]["receivedNs"] <= middle
    assert middle <= by_link["rc-2"]["receivedNs"] == by_link["rc-3"]["receivedNs"] <= after
    assert by_link["rc-1"]["orderId"] == single.body["result"]["orderId"]
    assert (by_link["rc-1"]["symbol"], by_link["rc-1"]["category"]) == ("BTCUSDT", "linear")
    [fill] = got["executions"]
    assert fill["orderLinkId"] == "rc-3" and fill["orderId"] == by_link["rc-3"]["orderId"]
    assert by_link["rc-3"]["receivedNs"] <= fill["execNs"] <= after
    assert all(isinstance(o["receivedNs"], int) for o in got["orders"])


async def test_since_filters_and_reset_forgets(
    venue_sim: SimProcess, sim_client: SimClient
) -> None:
    await sim_client.post("/v5/order/create", {"category": "linear", **limit("Buy", "59000", "a")})
    cut = time.time_ns()
    await sim_client.post("/v5/order/create", {"category": "linear", **limit("Buy", "59000", "b")})
    await venue_sim.control("mid", {"symbol": "BTCUSDT", "price": "58000"})  # both fill
    later = await receipts(venue_sim, cut)
    assert [o["orderLinkId"] for o in later["orders"]] == ["b"]
    assert sorted(e["orderLinkId"] for e in later["executions"]) == ["a", "b"]
    assert all(e["execNs"] >= cut for e in later["executions"])
    await venue_sim.control("reset", {"marketFrozen": True})
    assert await receipts(venue_sim) == {"orders": [], "executions": []}
    async with sim_client.session.get(f"{venue_sim.base_url}/sim/receipts?sinceNs=x") as resp:
        assert resp.status == 400
