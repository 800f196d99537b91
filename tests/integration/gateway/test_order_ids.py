"""A clientOrderId through the real gateway and Redis: Bybit's `orderLinkId` name for it, a
retry answered with the first outcome and reason, other terms (kept by the record) refused
with 409."""

from __future__ import annotations

import asyncio
import json
from decimal import Decimal
from functools import partial

import httpx
import pytest
import redis.asyncio as aioredis

from libs.common import topology
from libs.common.domain.ids import DEFAULT_ACCOUNT, ClientOrderId, Symbol
from libs.common.domain.orders import admit, reject, start_send
from libs.common.messages import OrderDenied, PlaceOrder
from libs.common.stores import RedisOrderStore
from tests.integration.gateway import conftest
from tests.integration.gateway.conftest import messages, publish, requests_len

pytestmark = pytest.mark.integration


order = partial(conftest.order, clientOrderId="id-1")


async def test_order_link_id_is_taken_as_the_client_order_id(
    client: httpx.AsyncClient, redis: aioredis.Redis
) -> None:
    single = await client.post("/v1/orders", json=order(clientOrderId=None, orderLinkId="bb-1"))
    both = await client.post("/v1/orders", json=order(clientOrderId="bb-2", orderLinkId="bb-2"))
    batch = await client.post(
        "/v1/orders/batch", json={"orders": [order(clientOrderId=None, orderLinkId="bb-3")]}
    )

    assert single.status_code == 202, single.text
    assert single.json()["order"]["clientOrderId"] == "bb-1"
    assert both.json()["order"]["clientOrderId"] == "bb-2"
    assert batch.json()["results"][0]["order"]["clientOrderId"] == "bb-3"
    store = RedisOrderStore(redis)
    assert [o and o.client_order_id for o in await store.get_many(
        [ClientOrderId("bb-1"), ClientOrderId("bb-2"), ClientOrderId("bb-3")]
    )] == ["bb-1", "bb-2", "bb-3"]  # fmt: skip


async def test_client_order_id_and_a_different_order_link_id_are_refused(
    client: httpx.AsyncClient, redis: aioredis.Redis
) -> None:
    response = await client.post("/v1/orders", json=order(orderLinkId="other-1"))

    assert response.status_code == 422
    assert "clientOrderId 'id-1' and orderLinkId 'other-1' differ" in response.json()["error"]
    assert await requests_len(redis) == 0


async def test_openapi_shows_order_link_id_on_the_order_body(client: httpx.AsyncClient) -> None:
    schema = (await client.get("/openapi.json")).json()["components"]["schemas"]["OrderBody"]

    assert {"clientOrderId", "orderLinkId"} <= set(schema["properties"])
    assert "Bybit's name of clientOrderId" in schema["properties"]["orderLinkId"]["description"]


async def test_same_id_with_other_terms_is_409_naming_them_and_places_nothing(
    client: httpx.AsyncClient, redis: aioredis.Redis
) -> None:
    first = await client.post("/v1/orders", json=order())
    other = await client.post("/v1/orders", json=order(qty="0.02", side="Sell"))
    as_bybit = await client.post(
        "/v1/orders", json=order(clientOrderId=None, orderLinkId="id-1", timeInForce="IOC")
    )

    assert first.status_code == 202
    assert other.status_code == 409, other.text
    error = other.json()["error"]
    assert "clientOrderId id-1 is taken by an order with other terms" in error
    assert "side Buy (this request: Sell), qty 0.01 (this request: 0.02)" in error
    assert other.json()["details"] == [
        {"clientOrderId": "id-1", "field": "side", "taken": "Buy", "requested": "Sell"},
        {"clientOrderId": "id-1", "field": "qty", "taken": "0.01", "requested": "0.02"},
    ]
    assert as_bybit.status_code == 409
    assert [d["field"] for d in as_bybit.json()["details"]] == ["timeInForce"]
    assert await requests_len(redis) == 1
    record = await RedisOrderStore(redis).get(ClientOrderId("id-1"))
    assert record is not None and (record.qty, record.side) == (Decimal("0.010"), "Buy")


async def test_a_batch_with_an_id_taken_by_other_terms_places_the_others_and_names_them(
    client: httpx.AsyncClient, redis: aioredis.Redis
) -> None:
    await client.post("/v1/orders", json=order())

    response = await client.post(
        "/v1/orders/batch",
        json={"orders": [order(clientOrderId="id-2"), order(price="64000")]},
    )
    retried = await client.post("/v1/orders/batch", json={"orders": [order(clientOrderId="id-2")]})

    assert response.status_code == 409, response.text
    assert response.json()["details"][0]["field"] == "price"
    assert "order(s) id-2 of this batch were placed" in response.json()["error"]
    # each order is written on its own: id-2 was placed, and a retry finds it
    assert (retried.status_code, retried.json()["results"][0]["created"]) == (200, False)
    record = await RedisOrderStore(redis).get(ClientOrderId("id-1"))
    assert record is not None and record.price == Decimal("65000.5")
    assert await requests_len(redis) == 2


async def test_a_place_that_redis_failed_leaves_its_id_free_for_other_terms(
    client: httpx.AsyncClient, redis: aioredis.Redis
) -> None:
    stream = topology.ORDERS_REQUESTS.of(DEFAULT_ACCOUNT).name
    await redis.set(stream, "not a stream")  # the write of record and command fails (WRONGTYPE)
    failed = await client.post("/v1/orders", json=order())
    await redis.delete(stream)

    other = await client.post("/v1/orders", json=order(side="Sell", qty="0.02"))

    assert failed.status_code == 503, failed.text
    # the terms are kept only with the record: the failed place took nothing
    assert (other.status_code, other.json()["created"]) == (202, True), other.text
    placed = await messages(redis, topology.ORDERS_REQUESTS.of(DEFAULT_ACCOUNT))
    assert [(c.client_order_id, c.side, c.qty) for c in placed if isinstance(c, PlaceOrder)] == [
        ("id-1", "Sell", Decimal("0.02"))
    ]
    assert [k async for k in redis.scan_iter(match="*:idem:*")] == []


async def test_the_requested_terms_are_compared_after_the_router_rounded_the_record(
    client: httpx.AsyncClient, redis: aioredis.Redis
) -> None:
    await client.post("/v1/orders", json=order(qty="0.0104"))
    await RedisOrderStore(redis).update(  # as the router sends it, rounded to the qty step
        ClientOrderId("id-1"),
        partial(start_send, qty=Decimal("0.010"), price=Decimal("65000.5"), ts_ns=2),
    )

    retry = await client.post("/v1/orders", json=order(qty="0.01040"))
    as_rounded = await client.post("/v1/orders", json=order(qty="0.010"))

    assert (retry.status_code, retry.json()["created"]) == (200, False), retry.text
    assert retry.json()["order"]["qty"] == "0.010"
    assert as_rounded.status_code == 409, as_rounded.text
    assert as_rounded.json()["details"] == [
        {"clientOrderId": "id-1", "field": "qty", "taken": "0.0104", "requested": "0.01"}
    ]
    assert await requests_len(redis) == 1


async def test_retry_of_a_denied_order_answers_denied_with_the_reason(
    client: httpx.AsyncClient, redis: aioredis.Redis
) -> None:
    await client.post("/v1/orders", json=order())
    reason = "inventory: worst case 1200 USD above max_inventory_usd 1000 USD"
    await RedisOrderStore(redis).update(  # as risk denies: Rejected, never admitted
        ClientOrderId("id-1"), partial(reject, reason=reason, ts_ns=2)
    )

    retry = await client.post("/v1/orders", json=order())

    assert retry.status_code == 200, retry.text
    body = retry.json()
    assert (body["created"], body["outcome"], body["reason"]) == (False, "denied", reason)
    assert body["order"]["status"] == "Rejected"


async def test_retry_of_an_order_rejected_after_admission_answers_rejected_with_the_reason(
    client: httpx.AsyncClient, redis: aioredis.Redis
) -> None:
    await client.post("/v1/orders", json=order())
    store, cid = RedisOrderStore(redis), ClientOrderId("id-1")
    await store.update(cid, partial(admit, risk_price=Decimal("65000.5"), ts_ns=2))
    await store.update(cid, partial(reject, reason="venue 110007: insufficient balance", ts_ns=3))

    retry = (await client.post("/v1/orders", json=order())).json()

    assert (retry["outcome"], retry["reason"]) == ("rejected", "venue 110007: insufficient balance")


async def test_retry_with_wait_of_a_pending_order_answers_its_outcome_when_it_comes(
    client: httpx.AsyncClient, redis: aioredis.Redis
) -> None:
    await client.post("/v1/orders", json=order())
    store = RedisOrderStore(redis)

    async def deny_later() -> None:
        await asyncio.sleep(0.2)
        await store.update(ClientOrderId("id-1"), partial(reject, reason="no mark", ts_ns=2))
        denied = OrderDenied(
            client_order_id=ClientOrderId("id-1"),
            symbol=Symbol("BTCUSDT"),
            ts_event_ns=2,
            reason="no mark",
        )
        await publish(redis, topology.ORDERS_EVENTS.of(DEFAULT_ACCOUNT), denied)

    risk = asyncio.create_task(deny_later())
    retry = await client.post("/v1/orders", params={"wait": "true"}, json=order())
    await risk

    body = retry.json()
    assert (body["created"], body["outcome"], body["reason"]) == (False, "denied", "no mark")


async def test_a_record_from_before_requested_terms_is_compared_without_qty_and_price(
    client: httpx.AsyncClient, redis: aioredis.Redis
) -> None:
    await client.post("/v1/orders", json=order())
    key = topology.keys_of(DEFAULT_ACCOUNT).order(ClientOrderId("id-1"))
    record = json.loads(await redis.get(key))
    del record["requested_qty"], record["requested_price"]
    await redis.set(key, json.dumps(record))  # as written before the record kept them

    rounded = await client.post("/v1/orders", json=order(qty="0.0104"))  # as the router may
    other_side = await client.post("/v1/orders", json=order(side="Sell"))

    assert (rounded.status_code, rounded.json()["created"]) == (200, False), rounded.text
    assert other_side.status_code == 409, other_side.text
    assert [d["field"] for d in other_side.json()["details"]] == ["side"]
    assert await requests_len(redis) == 1
