"""Trading over real HTTP: Bybit-shaped results, controls that move the market, DCP config."""

from __future__ import annotations

from typing import Any

from prometheus_client.parser import text_string_to_metric_families

from tests.simulator import SimClient, SimProcess

LINEAR = {"category": "linear", "symbol": "BTCUSDT"}


def limit(side: str, qty: str, price: str, **extra: Any) -> dict[str, Any]:
    return {**LINEAR, "side": side, "orderType": "Limit", "qty": qty, "price": price, **extra}


async def test_create_amend_cancel_round_trip(venue_sim: SimProcess, sim_client: SimClient) -> None:
    created = await sim_client.post(
        "/v5/order/create", limit("Buy", "0.01", "59000", orderLinkId="rt-1")
    )
    ids = created.body["result"]
    assert ids["orderLinkId"] == "rt-1" and len(ids["orderId"]) == 36
    amended = await sim_client.post(
        "/v5/order/amend", {**LINEAR, "orderLinkId": "rt-1", "price": "59100", "qty": "0.02"}
    )
    assert amended.body["result"] == ids
    [item] = (await sim_client.get("/v5/order/realtime", {**LINEAR, "orderLinkId": "rt-1"})).body[
        "result"
    ]["list"]
    assert (item["price"], item["qty"], item["orderStatus"]) == ("59100.0", "0.020", "New")
    assert all(isinstance(item[k], str) for k in ("price", "qty", "leavesQty", "cumExecQty"))
    cancelled = await sim_client.post("/v5/order/cancel", {**LINEAR, "orderId": ids["orderId"]})
    assert cancelled.body["result"] == ids
    again = await sim_client.post("/v5/order/cancel", {**LINEAR, "orderId": ids["orderId"]})
    assert (again.body["retCode"], again.body["retMsg"]) == (
        110001,
        "order not exists or too late to cancel",
    )
    [held] = await venue_sim.orders()
    assert held["orderStatus"] == "Cancelled" and held["category"] == "linear"


async def test_batch_of_more_than_20_is_refused(sim_client: SimClient) -> None:
    request = [
        {"symbol": "BTCUSDT", "side": "Buy", "orderType": "Limit", "qty": "0.001", "price": "50000"}
    ] * 21
    reply = await sim_client.post(
        "/v5/order/create-batch", {"category": "linear", "request": request}
    )
    assert reply.body["retCode"] == 10001
    spot = [{**r, "qty": "0.0002"} for r in request[:11]]
    reply = await sim_client.post("/v5/order/create-batch", {"category": "spot", "request": spot})
    assert reply.body["retCode"] == 10001


async def test_batch_amend_and_cancel_report_per_item(sim_client: SimClient) -> None:
    request = [
        {
            "symbol": "BTCUSDT",
            "side": "Buy",
            "orderType": "Limit",
            "qty": "0.001",
            "price": "50000",
            "orderLinkId": f"b-{i}",
        }
        for i in range(3)
    ]
    created = await sim_client.post(
        "/v5/order/create-batch", {"category": "linear", "request": request}
    )
    assert [i["orderLinkId"] for i in created.body["result"]["list"]] == ["b-0", "b-1", "b-2"]
    assert all(i["createAt"] for i in created.body["result"]["list"])
    amend = [
        {"symbol": "BTCUSDT", "orderLinkId": "b-0", "price": "50001"},
        {"symbol": "BTCUSDT", "orderLinkId": "nope", "price": "1"},
    ]
    amended = await sim_client.post(
        "/v5/order/amend-batch", {"category": "linear", "request": amend}
    )
    assert [i["code"] for i in amended.body["retExtInfo"]["list"]] == [0, 110001]
    assert amended.body["result"]["list"][1] == {
        "category": "linear",
        "symbol": "BTCUSDT",
        "orderId": "",
        "orderLinkId": "nope",
    }
    cancel = [{"symbol": "BTCUSDT", "orderLinkId": f"b-{i}"} for i in range(3)]
    cancelled = await sim_client.post(
        "/v5/order/cancel-batch", {"category": "linear", "request": cancel}
    )
    assert [i["code"] for i in cancelled.body["retExtInfo"]["list"]] == [0, 0, 0]


async def test_sim_trade_fills_partially_and_executions_are_bybit_shaped(
    venue_sim: SimProcess, sim_client: SimClient
) -> None:
    await sim_client.post("/v5/order/create", limit("Sell", "0.010", "60010", orderLinkId="mk-1"))
    result = await venue_sim.control(
        "trade", {"symbol": "BTCUSDT", "price": "60010", "qty": "0.004"}
    )
    [fill] = result["fills"]
    assert (fill["execQty"], fill["execPrice"], fill["isMaker"], fill["leavesQty"]) == (
        "0.004",
        "60010.0",
        True,
        "0.006",
    )
    execs = (await sim_client.get("/v5/execution/list", {**LINEAR, "orderLinkId": "mk-1"})).body
    [item] = execs["result"]["list"]
    assert item["execId"] == fill["execId"]
    assert item["feeRate"] == "0.0002" and item["execType"] == "Trade"
    [order] = await venue_sim.orders()
    assert order["orderStatus"] == "PartiallyFilled" and order["cumExecQty"] == "0.004"
    pos = (await sim_client.get("/v5/position/list", LINEAR)).body["result"]["list"][0]
    assert (pos["side"], pos["size"], pos["avgPrice"]) == ("Sell", "0.004", "60010")


async def test_sim_mid_fills_crossed_orders_and_moves_the_touch(
    venue_sim: SimProcess, sim_client: SimClient
) -> None:
    await sim_client.post("/v5/order/create", limit("Buy", "0.01", "59500"))
    moved = await venue_sim.control("mid", {"symbol": "BTCUSDT", "price": "59400"})
    assert (moved["bid"], moved["ask"]) == ("59399.9", "59400.1")
    assert [f["execPrice"] for f in moved["fills"]] == ["59500.0"]
    ticker = (await sim_client.get("/v5/market/tickers", LINEAR)).body["result"]["list"][0]
    assert ticker["bid1Price"] == "59399.9" and ticker["markPrice"] == "59400"


async def test_public_market_endpoints(sim_client: SimClient) -> None:
    info = (await sim_client.get("/v5/market/instruments-info", {"category": "linear"})).body[
        "result"
    ]
    btc = next(i for i in info["list"] if i["symbol"] == "BTCUSDT")
    assert btc["priceFilter"]["tickSize"] == "0.1"
    assert btc["lotSizeFilter"] == {
        "maxOrderQty": "1190",
        "minOrderQty": "0.001",
        "qtyStep": "0.001",
        "postOnlyMaxOrderQty": "1190",
        "maxMktOrderQty": "500",
        "minNotionalValue": "5",
    }
    spot = (
        await sim_client.get(
            "/v5/market/instruments-info", {"category": "spot", "symbol": "ETHUSDT"}
        )
    ).body
    assert spot["result"]["list"][0]["lotSizeFilter"]["minOrderAmt"] == "5"
    book = (await sim_client.get("/v5/market/orderbook", {**LINEAR, "limit": "5"})).body["result"]
    assert book["s"] == "BTCUSDT" and len(book["b"]) == 5 and book["a"][0][0] == "60000.1"
    clock = (await sim_client.get("/v5/market/time")).body["result"]
    assert int(clock["timeNano"]) // 1_000_000_000 == int(clock["timeSecond"])


async def test_dcp_window_is_validated(sim_client: SimClient) -> None:
    ok = await sim_client.post(
        "/v5/order/disconnected-cancel-all", {"product": "DERIVATIVES", "timeWindow": 40}
    )
    assert (ok.body["retCode"], ok.body["retMsg"]) == (0, "success")
    info = (await sim_client.get("/v5/account/query-dcp-info")).body["result"]["dcpInfos"]
    assert {"product": "DERIVATIVES", "dcpStatus": "ON", "timeWindow": "40"} in info
    bad = await sim_client.post("/v5/order/disconnected-cancel-all", {"timeWindow": 2})
    assert bad.body["retCode"] == 10001


async def test_account_endpoints(sim_client: SimClient) -> None:
    info = (await sim_client.get("/v5/account/info")).body["result"]
    assert info["marginMode"] == "REGULAR_MARGIN"
    api = (await sim_client.get("/v5/user/query-api")).body["result"]
    assert api["apiKey"] == sim_client.api_key and api["readOnly"] == 0
    fees = (await sim_client.get("/v5/account/fee-rate", {**LINEAR})).body["result"]["list"]
    assert fees == [
        {"symbol": "BTCUSDT", "baseCoin": "", "takerFeeRate": "0.00055", "makerFeeRate": "0.0002"}
    ]


async def test_metrics_exposition_parses_and_counts_orders_and_ret_codes(
    venue_sim: SimProcess, sim_client: SimClient
) -> None:
    await sim_client.post("/v5/order/create", limit("Buy", "0.01", "59000", orderLinkId="m-1"))
    await sim_client.post("/v5/order/create", limit("Buy", "0.01", "59000", orderLinkId="m-1"))

    async with sim_client.session.get(f"{venue_sim.base_url}/metrics") as resp:
        assert resp.status == 200
        text = await resp.text()

    samples = {
        (s.name, tuple(sorted(s.labels.items()))): s.value
        for family in text_string_to_metric_families(text)
        for s in family.samples
    }
    assert samples[("venue_sim_orders", ())] == 1
    assert samples[("venue_sim_open_orders", ())] == 1
    assert samples[("venue_sim_responses_total", (("ret_code", "0"),))] >= 1
    assert samples[("venue_sim_responses_total", (("ret_code", "110072"),))] == 1
