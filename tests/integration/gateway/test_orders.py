"""The order routes of the gateway against real Redis: records, commands, outcomes."""

from __future__ import annotations

import asyncio
from decimal import Decimal
from typing import Any

import httpx
import pytest
import redis.asyncio as aioredis

from libs.common import topology
from libs.common.domain.enums import OrderType, Side
from libs.common.domain.ids import DEFAULT_ACCOUNT, ClientOrderId, Symbol, VenueOrderId
from libs.common.domain.orders import Order, OrderEventKind, apply_ack, apply_event
from libs.common.messages import (
    AmendOrder,
    CancelAllOrders,
    CancelOrder,
    OrderAcknowledged,
    OrderDenied,
    PlaceOrder,
)
from libs.common.stores import RedisOrderStore
from tests.integration.gateway.conftest import (
    eventually,
    messages,
    order,
    publish,
    requests_len,
)

pytestmark = pytest.mark.integration

BTC = Symbol("BTCUSDT")


async def order_keys(redis: aioredis.Redis) -> list[bytes]:
    return [
        k
        async for k in redis.scan_iter(
            match=topology.keys_of(DEFAULT_ACCOUNT).order(ClientOrderId("*"))
        )
    ]


async def test_place_writes_a_pending_record_then_publishes_place_order(
    client: httpx.AsyncClient, redis: aioredis.Redis
) -> None:
    response = await client.post("/v1/orders", json=order())

    assert response.status_code == 202, response.text
    body = response.json()
    assert body["created"] is True
    assert body["outcome"] == "pending"
    assert body["order"]["status"] == "Pending"
    assert body["order"]["qty"] == "0.010"
    stored = await RedisOrderStore(redis).get(ClientOrderId("strat1-0001"))
    assert stored is not None
    assert (stored.status, stored.qty, stored.price) == (
        "Pending",
        Decimal("0.010"),
        Decimal("65000.5"),
    )
    (command,) = await messages(redis, topology.ORDERS_REQUESTS.of(DEFAULT_ACCOUNT))
    assert isinstance(command, PlaceOrder)
    assert command.client_order_id == "strat1-0001"
    assert (command.side, command.order_type, command.qty) == (
        Side.BUY,
        OrderType.LIMIT,
        Decimal("0.010"),
    )


async def test_place_same_client_order_id_twice_keeps_one_record_and_one_command(
    client: httpx.AsyncClient, redis: aioredis.Redis
) -> None:
    first = await client.post("/v1/orders", json=order())
    second = await client.post("/v1/orders", json=order(qty="0.01", price=65000.50))

    assert first.status_code == 202
    assert second.status_code == 200  # the same terms, written another way: a retry
    assert (second.json()["created"], second.json()["outcome"]) == (False, "pending")
    assert second.json()["order"] == first.json()["order"]
    assert len(await order_keys(redis)) == 1
    assert await requests_len(redis) == 1


async def test_place_concurrent_duplicates_publish_once(
    client: httpx.AsyncClient, redis: aioredis.Redis
) -> None:
    replies = await asyncio.gather(*(client.post("/v1/orders", json=order()) for _ in range(10)))

    assert sorted(r.json()["created"] for r in replies) == [False] * 9 + [True]
    assert await requests_len(redis) == 1


async def test_place_without_client_order_id_generates_one(
    client: httpx.AsyncClient, redis: aioredis.Redis
) -> None:
    body = order()
    del body["clientOrderId"]

    response = await client.post("/v1/orders", json=body)

    generated = response.json()["order"]["clientOrderId"]
    assert generated.startswith("gw-") and len(generated) <= 36
    (command,) = await messages(redis, topology.ORDERS_REQUESTS.of(DEFAULT_ACCOUNT))
    assert isinstance(command, PlaceOrder) and command.client_order_id == generated


async def test_place_accepts_exact_json_numbers(
    client: httpx.AsyncClient, redis: aioredis.Redis
) -> None:
    content = (
        b'{"symbol":"BTCUSDT","side":"Sell","orderType":"Limit","qty":0.1,'
        b'"price":65000.10,"clientOrderId":"num-1"}'
    )
    response = await client.post(
        "/v1/orders", content=content, headers={"content-type": "application/json"}
    )

    assert response.status_code == 202, response.text
    assert (response.json()["order"]["qty"], response.json()["order"]["price"]) == (
        "0.1",
        "65000.10",
    )
    stored = await RedisOrderStore(redis).get(ClientOrderId("num-1"))
    assert stored is not None and stored.price == Decimal("65000.10")


async def test_place_market_order_without_price(client: httpx.AsyncClient) -> None:
    body = order(orderType="Market", timeInForce="IOC")
    del body["price"]

    response = await client.post("/v1/orders", json=body)

    assert response.status_code == 202, response.text
    assert response.json()["order"]["price"] is None


BAD_ORDERS = [
    pytest.param({"symbol": None}, "symbol", id="missing-symbol"),
    pytest.param({"qty": "-1"}, "qty", id="negative-qty"),
    pytest.param({"qty": "0"}, "qty", id="zero-qty"),
    pytest.param({"qty": "abc"}, "qty", id="qty-not-a-number"),
    pytest.param({"side": "buy"}, "side", id="bad-side"),
    pytest.param({"orderType": "Stop"}, "orderType", id="bad-order-type"),
    pytest.param({"timeInForce": "GTD"}, "timeInForce", id="bad-time-in-force"),
    pytest.param({"clientOrderId": "has space"}, "clientOrderId", id="bad-id-chars"),
    pytest.param({"clientOrderId": "x" * 37}, "clientOrderId", id="id-too-long"),
    pytest.param({"symbol": "btc-usdt"}, "symbol", id="bad-symbol"),
    pytest.param({"price": None}, "Limit order needs a price", id="limit-without-price"),
    pytest.param({"orderType": "Market"}, "Market order takes no price", id="market-with-price"),
    pytest.param({"reduce_only": True}, "reduce_only", id="unknown-field"),
    pytest.param({"reduceOnly": "yes"}, "reduceOnly", id="bool-as-string"),
    pytest.param({"qty": "0.0000000000000000001"}, "decimal places", id="too-precise"),
]


@pytest.mark.parametrize(("change", "mentions"), BAD_ORDERS)
async def test_place_bad_order_is_422_with_a_message_and_writes_nothing(
    client: httpx.AsyncClient, redis: aioredis.Redis, change: dict[str, Any], mentions: str
) -> None:
    body = order(**change)

    response = await client.post("/v1/orders", json=body)

    assert response.status_code == 422, response.text
    error = response.json()
    assert mentions in error["error"]
    assert error["details"] and all(d["message"] for d in error["details"])
    assert await order_keys(redis) == []
    assert await requests_len(redis) == 0


@pytest.mark.parametrize(
    ("content", "mentions"),
    [
        (b'{"symbol": "BTCUSDT",', "invalid JSON"),
        (b'{"qty": NaN}', "NaN is not a number"),
        (b"[1, 2]", "expected a JSON object"),
        (b"", "a JSON body is required"),
    ],
)
async def test_place_malformed_json_is_422_and_writes_nothing(
    client: httpx.AsyncClient, redis: aioredis.Redis, content: bytes, mentions: str
) -> None:
    response = await client.post(
        "/v1/orders", content=content, headers={"content-type": "application/json"}
    )

    assert response.status_code == 422, response.text
    assert mentions in response.json()["error"]
    assert await requests_len(redis) == 0


@pytest.mark.parametrize(
    ("method", "path"),
    [("POST", "/v1/orders"), ("PATCH", "/v1/orders/strat1-0001"), ("POST", "/v1/risk/freeze")],
)
async def test_a_body_that_is_not_utf8_is_a_422_invalid_json_not_a_bare_400(
    client: httpx.AsyncClient, redis: aioredis.Redis, method: str, path: str
) -> None:
    response = await client.request(
        method,
        path,
        content=b'{"reason": "\xff\xfe"}',
        headers={"content-type": "application/json"},
    )

    assert response.status_code == 422, response.text
    error = response.json()
    assert error["error"].startswith("invalid request: body: invalid JSON: not UTF-8 text")
    assert error["details"][0]["type"] == "json_invalid"
    assert await requests_len(redis) == 0


async def test_a_body_nested_too_deeply_to_parse_is_a_422_invalid_json_not_a_bare_400(
    client: httpx.AsyncClient, redis: aioredis.Redis
) -> None:
    deep = b"[" * 50_000 + b"]" * 50_000  # within the body limit, past the parser's recursion

    response = await client.post(
        "/v1/orders", content=deep, headers={"content-type": "application/json"}
    )

    assert response.status_code == 422, response.text
    assert "invalid JSON: nested too deeply to parse" in response.json()["error"]
    assert await requests_len(redis) == 0


async def test_place_with_wait_answers_accepted_when_the_router_acknowledges(
    client: httpx.AsyncClient, redis: aioredis.Redis
) -> None:
    store = RedisOrderStore(redis)

    async def act_as_router() -> None:
        await eventually(lambda: redis.xlen(topology.ORDERS_REQUESTS.of(DEFAULT_ACCOUNT).name))
        cid = ClientOrderId("strat1-0001")
        await store.update(cid, lambda o: apply_ack(o, VenueOrderId("v-1"), ts_ns=2))
        await publish(
            redis,
            topology.ORDERS_EVENTS.of(DEFAULT_ACCOUNT),
            OrderAcknowledged(
                client_order_id=cid, symbol=BTC, ts_event_ns=1, venue_order_id=VenueOrderId("v-1")
            ),
        )

    router = asyncio.create_task(act_as_router())
    response = await client.post("/v1/orders", params={"wait": "true"}, json=order())
    await router

    assert response.status_code == 200, response.text
    body = response.json()
    assert (body["outcome"], body["reason"]) == ("accepted", None)
    assert (body["order"]["status"], body["order"]["venueOrderId"]) == ("New", "v-1")


async def test_place_with_wait_answers_denied_with_the_risk_reason(
    client: httpx.AsyncClient, redis: aioredis.Redis
) -> None:
    async def act_as_risk() -> None:
        await eventually(lambda: redis.xlen(topology.ORDERS_REQUESTS.of(DEFAULT_ACCOUNT).name))
        denied = OrderDenied(
            client_order_id=ClientOrderId("strat1-0001"),
            symbol=BTC,
            ts_event_ns=1,
            reason="order notional BTCUSDT 650.01 USD is above the limit 500 USD",
        )
        await publish(redis, topology.ORDERS_EVENTS.of(DEFAULT_ACCOUNT), denied)

    risk = asyncio.create_task(act_as_risk())
    response = await client.post("/v1/orders?wait=true&waitMs=5000", json=order())
    await risk

    assert response.status_code == 200
    assert response.json()["outcome"] == "denied"
    assert "above the limit" in response.json()["reason"]


async def test_place_with_wait_times_out_as_202_pending(client: httpx.AsyncClient) -> None:
    response = await client.post("/v1/orders?wait=true&waitMs=50", json=order())

    assert response.status_code == 202
    assert response.json()["outcome"] == "pending"


async def test_place_with_wait_longer_than_allowed_is_422(client: httpx.AsyncClient) -> None:
    response = await client.post("/v1/orders?wait=true&waitMs=20000", json=order())

    assert response.status_code == 422
    assert "waitMs" in response.json()["error"]


async def test_batch_places_each_order_in_one_request(
    client: httpx.AsyncClient, redis: aioredis.Redis
) -> None:
    await client.post("/v1/orders", json=order(clientOrderId="b-1"))
    orders = [order(clientOrderId=f"b-{i}") for i in (1, 2, 3)]

    response = await client.post("/v1/orders/batch", json={"orders": orders})

    assert response.status_code == 202, response.text
    results = response.json()["results"]
    assert [r["order"]["clientOrderId"] for r in results] == ["b-1", "b-2", "b-3"]
    assert [r["created"] for r in results] == [False, True, True]
    commands = await messages(redis, topology.ORDERS_REQUESTS.of(DEFAULT_ACCOUNT))
    assert [c.client_order_id for c in commands if isinstance(c, PlaceOrder)] == [
        "b-1",
        "b-2",
        "b-3",
    ]


async def test_batch_with_one_bad_order_is_422_and_writes_nothing(
    client: httpx.AsyncClient, redis: aioredis.Redis
) -> None:
    orders = [order(clientOrderId="b-1"), order(clientOrderId="b-2", side="Hold")]

    response = await client.post("/v1/orders/batch", json={"orders": orders})

    assert response.status_code == 422
    assert "orders.1.side" in response.json()["error"]
    assert await order_keys(redis) == []


async def test_batch_naming_a_client_order_id_twice_is_422(
    client: httpx.AsyncClient, redis: aioredis.Redis
) -> None:
    orders = [order(clientOrderId="b-1"), order(clientOrderId="b-1")]

    response = await client.post("/v1/orders/batch", json={"orders": orders})

    assert response.status_code == 422
    assert "b-1 appears more than once" in response.json()["error"]
    assert await order_keys(redis) == []


async def _acked(redis: aioredis.Redis, cid: str) -> Order:
    return await RedisOrderStore(redis).update(
        ClientOrderId(cid), lambda o: apply_ack(o, VenueOrderId(f"v-{cid}"), ts_ns=o.created_ts_ns)
    )


async def test_amend_of_a_working_order_publishes_amend_order(
    client: httpx.AsyncClient, redis: aioredis.Redis
) -> None:
    await client.post("/v1/orders", json=order())
    await _acked(redis, "strat1-0001")

    response = await client.patch("/v1/orders/strat1-0001", json={"price": "64000"})

    assert response.status_code == 202, response.text
    assert response.json()["command"] == "AmendOrder"
    amend = (await messages(redis, topology.ORDERS_REQUESTS.of(DEFAULT_ACCOUNT)))[-1]
    assert isinstance(amend, AmendOrder)
    assert (amend.price, amend.qty, amend.symbol) == (Decimal(64000), None, BTC)


async def test_amend_of_an_ended_order_is_409(
    client: httpx.AsyncClient, redis: aioredis.Redis
) -> None:
    await client.post("/v1/orders", json=order())
    await RedisOrderStore(redis).update(
        ClientOrderId("strat1-0001"), lambda o: apply_event(o, OrderEventKind.REJECTED, ts_ns=1)
    )

    response = await client.patch("/v1/orders/strat1-0001", json={"qty": "1"})

    assert response.status_code == 409
    assert "Rejected" in response.json()["error"]
    assert await requests_len(redis) == 1  # only the place


async def test_amend_of_an_unacknowledged_order_is_409(client: httpx.AsyncClient) -> None:
    await client.post("/v1/orders", json=order())

    response = await client.patch("/v1/orders/strat1-0001", json={"qty": "1"})

    assert response.status_code == 409
    assert "Pending" in response.json()["error"]


async def test_amend_without_changes_is_422(client: httpx.AsyncClient) -> None:
    response = await client.patch("/v1/orders/strat1-0001", json={})

    assert response.status_code == 422
    assert "needs a new qty or a new price" in response.json()["error"]


async def test_amend_cancel_and_get_of_an_unknown_order_are_404(client: httpx.AsyncClient) -> None:
    replies = [
        await client.patch("/v1/orders/nope", json={"qty": "1"}),
        await client.delete("/v1/orders/nope"),
        await client.get("/v1/orders/nope"),
    ]

    assert [r.status_code for r in replies] == [404, 404, 404]
    assert all("order nope is unknown" in r.json()["error"] for r in replies)


async def test_cancel_publishes_cancel_order(
    client: httpx.AsyncClient, redis: aioredis.Redis
) -> None:
    await client.post("/v1/orders", json=order())

    response = await client.delete("/v1/orders/strat1-0001")

    assert response.status_code == 202
    cancel = (await messages(redis, topology.ORDERS_REQUESTS.of(DEFAULT_ACCOUNT)))[-1]
    assert isinstance(cancel, CancelOrder) and cancel.client_order_id == "strat1-0001"


async def test_cancel_of_an_ended_order_is_409(
    client: httpx.AsyncClient, redis: aioredis.Redis
) -> None:
    await client.post("/v1/orders", json=order())
    await RedisOrderStore(redis).update(
        ClientOrderId("strat1-0001"), lambda o: apply_event(o, OrderEventKind.REJECTED, ts_ns=1)
    )

    response = await client.delete("/v1/orders/strat1-0001")

    assert response.status_code == 409
    assert "nothing to cancel" in response.json()["error"]


async def test_cancel_all_publishes_cancel_all_orders(
    client: httpx.AsyncClient, redis: aioredis.Redis
) -> None:
    await client.post("/v1/orders", json=order())

    response = await client.delete("/v1/orders", params={"symbol": "BTCUSDT"})

    assert response.status_code == 202
    assert response.json()["openOrders"] == 1
    cancel_all = (await messages(redis, topology.ORDERS_REQUESTS.of(DEFAULT_ACCOUNT)))[-1]
    assert isinstance(cancel_all, CancelAllOrders) and cancel_all.symbol == BTC


async def test_cancel_all_without_symbol_is_422(client: httpx.AsyncClient) -> None:
    response = await client.delete("/v1/orders")

    assert response.status_code == 422
    assert "symbol" in response.json()["error"]


async def test_get_order_and_open_orders(client: httpx.AsyncClient) -> None:
    await client.post("/v1/orders", json=order(clientOrderId="a-1"))
    await client.post("/v1/orders", json=order(clientOrderId="a-2", symbol="ETHUSDT"))

    one = await client.get("/v1/orders/a-1")
    btc = await client.get("/v1/orders", params={"symbol": "BTCUSDT"})
    every = await client.get("/v1/orders")

    assert one.status_code == 200 and one.json()["clientOrderId"] == "a-1"
    assert [o["clientOrderId"] for o in btc.json()["orders"]] == ["a-1"]
    assert sorted(o["clientOrderId"] for o in every.json()["orders"]) == ["a-1", "a-2"]


async def test_openapi_lists_every_v1_path(client: httpx.AsyncClient) -> None:
    paths = (await client.get("/openapi.json")).json()["paths"]
    docs = await client.get("/docs")

    assert {p for p in paths if p.startswith("/v1")} == {
        "/v1/orders",
        "/v1/orders/batch",
        "/v1/orders/{clientOrderId}",
        "/v1/positions",
        "/v1/risk",
        "/v1/risk/limits",
        "/v1/risk/freeze",
        "/v1/risk/unfreeze",
        "/v1/risk/edge",
        "/v1/risk/simulate",
        "/v1/route/preview",
        "/v1/risk/accounts/{account}/limits",
        "/v1/console/me",
        "/v1/console/overview",
    }
    assert set(paths["/v1/orders"]) == {"get", "post", "delete"}
    assert set(paths["/v1/orders/{clientOrderId}"]) == {"get", "patch", "delete"}
    assert docs.status_code == 200 and "swagger" in docs.text.lower()


async def test_openapi_documents_the_200_of_a_place_or_batch_with_no_order_pending(
    client: httpx.AsyncClient,
) -> None:
    paths = (await client.get("/openapi.json")).json()["paths"]

    def ref(model: str) -> dict[str, str]:
        return {"$ref": f"#/components/schemas/{model}"}

    for path, models in [
        ("/v1/orders", [ref("PlaceResult"), ref("RoutedResult")]),  # RoutedResult: venue auto
        ("/v1/orders/batch", [ref("BatchResult")]),
    ]:
        responses = paths[path]["post"]["responses"]
        for status in ("200", "202"):
            schema = responses[status]["content"]["application/json"]["schema"]
            found = schema.get("anyOf", [schema])
            assert [{"$ref": s["$ref"]} for s in found] == models, (path, status)


async def test_unknown_route_is_a_json_404(client: httpx.AsyncClient) -> None:
    response = await client.get("/v1/nothing")

    assert response.status_code == 404
    assert response.json()["error"] == "Not Found"


async def test_place_when_the_command_cannot_be_sent_is_503_and_writes_no_record(
    client: httpx.AsyncClient, redis: aioredis.Redis
) -> None:
    stream = topology.ORDERS_REQUESTS.of(DEFAULT_ACCOUNT).name
    await redis.delete(stream)
    await redis.set(stream, "not a stream")  # every XADD now fails (WRONGTYPE)

    refused = await client.post("/v1/orders", json=order())
    assert await RedisOrderStore(redis).get(ClientOrderId("strat1-0001")) is None
    await redis.delete(stream)
    retried = await client.post("/v1/orders", json=order())

    assert refused.status_code == 503
    assert "nothing was written or sent for them" in refused.json()["error"]
    assert (retried.status_code, retried.json()["created"]) == (202, True)
    placed = await messages(redis, topology.ORDERS_REQUESTS.of(DEFAULT_ACCOUNT))
    assert [c.client_order_id for c in placed if isinstance(c, PlaceOrder)] == ["strat1-0001"]


async def test_batch_when_one_record_cannot_be_written_places_the_others_and_says_which(
    client: httpx.AsyncClient, redis: aioredis.Redis
) -> None:
    await redis.hset(
        topology.keys_of(DEFAULT_ACCOUNT).order(ClientOrderId("b-2")), "not", "an order"
    )
    orders = [order(clientOrderId=f"b-{i}") for i in (1, 2, 3)]

    response = await client.post("/v1/orders/batch", json={"orders": orders})

    assert response.status_code == 503
    error = response.json()["error"]
    assert "could not record order(s) b-2" in error
    assert "order(s) b-1, b-3 were placed" in error
    placed = await messages(redis, topology.ORDERS_REQUESTS.of(DEFAULT_ACCOUNT))
    assert [c.client_order_id for c in placed if isinstance(c, PlaceOrder)] == ["b-1", "b-3"]


async def test_a_category_the_engine_does_not_manage_is_refused_with_422(
    client: httpx.AsyncClient, redis: aioredis.Redis
) -> None:
    placed = await client.post("/v1/orders", json=order(category="spot"))
    cancel_all = await client.delete("/v1/orders", params={"symbol": "BTCUSDT", "category": "spot"})

    for response in (placed, cancel_all):
        assert response.status_code == 422, response.text
        assert "category spot is not managed by this engine: expected linear" in response.text
    assert await messages(redis, topology.ORDERS_REQUESTS.of(DEFAULT_ACCOUNT)) == []
