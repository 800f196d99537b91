"""Load shedding and the waiting Redis pool, through a real gateway server over real HTTP.

Requests are held in flight deterministically: with no risk service running, a
`?wait=true&waitMs=...` place waits for an outcome that never comes and holds its admission
slots for `waitMs`, its Pending record already written. The Redis pool is kept busy with
`CLIENT PAUSE WRITE`: every record write then holds its connection until the pause ends.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Iterator
from typing import Any

import httpx
import pytest
import redis.asyncio as aioredis
from fastapi import FastAPI
from prometheus_client.parser import text_string_to_metric_families
from redis.asyncio import BlockingConnectionPool

from libs.common import topology
from libs.common.domain.ids import DEFAULT_ACCOUNT, ClientOrderId
from libs.common.messages import CancelAllOrders, CancelOrder, PlaceOrder
from libs.common.service import ServiceRuntime
from services.gateway.admission import STATE_KEY, Admission, ShedRoute
from tests.integration.gateway.conftest import (
    LiveGateway,
    eventually,
    gateway_settings,
    messages,
)
from tests.integration.gateway.conftest import order as order_body

pytestmark = pytest.mark.integration

HOLD_MS = 2_000


def order(cid: str) -> dict[str, Any]:
    return order_body(clientOrderId=cid)


class ServerGateway(LiveGateway):
    """A live gateway whose runtime (pool, admission gate) the test can look at."""

    def __init__(self, redis_url: str, **overrides: Any) -> None:
        super().__init__(gateway_settings(redis_url, **overrides))
        app = self.server.config.app
        assert isinstance(app, FastAPI)
        self.app = app

    @property
    def runtime(self) -> ServiceRuntime:
        runtime: ServiceRuntime = self.app.state.runtime
        return runtime

    @property
    def admission(self) -> Admission:
        gate: Admission = self.runtime.state[STATE_KEY]
        return gate


@pytest.fixture
def serve(redis: aioredis.Redis, redis_url: str) -> Iterator[Any]:
    """Start `ServerGateway(**overrides)` on the test's Redis; every one is stopped after."""
    started: list[ServerGateway] = []

    def start(**overrides: Any) -> ServerGateway:
        server = ServerGateway(redis_url=redis_url, **overrides)
        server.start()
        started.append(server)
        return server

    yield start
    for server in started:
        server.stop()


async def recorded(redis: aioredis.Redis, cid: str) -> bool:
    return bool(await redis.exists(topology.keys_of(DEFAULT_ACCOUNT).order(ClientOrderId(cid))))


async def shed_metric(http: httpx.AsyncClient) -> dict[str, float]:
    """`gateway_requests_shed_total` per route, read from the gateway's own `/metrics`."""
    response = await http.get("/metrics")
    assert response.status_code == 200, response.text
    return {
        sample.labels["route"]: sample.value
        for family in text_string_to_metric_families(response.text)
        for sample in family.samples
        if sample.name == "gateway_requests_shed_total"
    }


def assert_shed(response: httpx.Response) -> None:
    assert response.status_code == 429, response.text
    retry_after = response.headers["Retry-After"]
    assert retry_after.isdigit() and int(retry_after) >= 1
    body = response.json()
    assert set(body) == {"error", "details"}
    assert "orders in flight" in body["error"] and "nothing was written" in body["error"]
    assert body["details"][0]["reason"] == "max_inflight_orders"


async def test_past_max_inflight_orders_places_and_amends_get_429_and_write_nothing(
    serve: Any, redis: aioredis.Redis
) -> None:
    gateway = serve(max_inflight_orders=4, batch_max_orders=4)
    held = {"wait": "true", "waitMs": str(HOLD_MS)}
    async with httpx.AsyncClient(base_url=gateway.url, timeout=10) as http:
        holders = [
            asyncio.create_task(http.post("/v1/orders", json=order("hold-1"), params=held)),
            asyncio.create_task(http.post("/v1/orders", json=order("hold-2"), params=held)),
            asyncio.create_task(
                http.post(
                    "/v1/orders/batch",
                    json={"orders": [order("hold-3"), order("hold-4")]},
                    params=held,
                )
            ),
        ]
        holding = ("hold-1", "hold-2", "hold-3", "hold-4")

        async def all_held() -> bool:
            return all([await recorded(redis, cid) for cid in holding])

        await eventually(all_held)  # 4 orders written, waiting for outcomes: the gate is full

        single = await http.post("/v1/orders", json=order("shed-1"))
        batch = await http.post(
            "/v1/orders/batch", json={"orders": [order("shed-2"), order("shed-3")]}
        )
        amend = await http.patch("/v1/orders/hold-1", json={"price": "65001"})
        cancel = await http.delete("/v1/orders/hold-2")
        cancel_all = await http.delete("/v1/orders", params={"symbol": "BTCUSDT"})
        placed = await asyncio.gather(*holders)

        for refused in (single, batch, amend):
            assert_shed(refused)
        assert cancel.status_code == 202, cancel.text  # cancels are never shed
        assert cancel_all.status_code == 202, cancel_all.text
        assert [response.status_code for response in placed] == [202, 202, 202]
        for cid in ("shed-1", "shed-2", "shed-3"):
            assert not await recorded(redis, cid), f"a shed request wrote the record of {cid}"
        commands = await messages(redis, topology.ORDERS_REQUESTS.of(DEFAULT_ACCOUNT))
        assert sorted(c.client_order_id for c in commands if isinstance(c, PlaceOrder)) == list(
            holding
        )
        others = [c for c in commands if not isinstance(c, PlaceOrder)]
        assert len(others) == 2  # and no AmendOrder
        assert isinstance(others[0], CancelOrder) and isinstance(others[1], CancelAllOrders)
        assert gateway.admission.shed == {
            ShedRoute.PLACE: 1,
            ShedRoute.PLACE_BATCH: 1,
            ShedRoute.AMEND: 1,
        }
        # once per refused request (the batch of two included), never for a cancel
        assert await shed_metric(http) == {"place": 1, "place_batch": 1, "amend": 1}

        assert gateway.admission.inflight == 0
        retried = await http.post("/v1/orders", json=order("shed-1"))  # the slots came back
        assert retried.status_code == 202, retried.text
        assert await recorded(redis, "shed-1")


async def test_the_shed_routes_document_429_with_retry_after_in_the_openapi(serve: Any) -> None:
    gateway = serve()
    async with httpx.AsyncClient(base_url=gateway.url) as http:
        paths = (await http.get("/openapi.json")).json()["paths"]

    for path, method in [("/v1/orders", "post"), ("/v1/orders/batch", "post"),
                         ("/v1/orders/{clientOrderId}", "patch")]:  # fmt: skip
        response = paths[path][method]["responses"]["429"]
        assert response["headers"]["Retry-After"]["schema"] == {"type": "integer", "minimum": 1}
        schema = response["content"]["application/json"]["schema"]
        assert schema == {"$ref": "#/components/schemas/ErrorBody"}
    assert "429" not in paths["/v1/orders/{clientOrderId}"]["delete"]["responses"]
    assert "429" not in paths["/v1/orders"]["delete"]["responses"]


async def pause_writes(redis: aioredis.Redis, pause_s: float) -> float:
    """Make Redis hold every write (Lua scripts included) for `pause_s`: each request's record
    write then keeps its pool connection busy. Returns a time (monotonic) before which no
    write can have been done: the pause starts after it is asked for."""
    asked = time.monotonic()
    await redis.client_pause(int(pause_s * 1000), all=False)  # CLIENT PAUSE ms WRITE
    return asked + pause_s


async def timed_post(http: httpx.AsyncClient, cid: str) -> tuple[httpx.Response, float]:
    response = await http.post("/v1/orders", json=order(cid))
    return response, time.monotonic()


async def test_more_requests_than_connections_wait_for_the_pool_instead_of_503(
    serve: Any, redis: aioredis.Redis
) -> None:
    gateway = serve(redis_pool_size=4, redis_pool_timeout_s=5, max_inflight_orders=64)
    pool = gateway.runtime.redis.connection_pool
    assert isinstance(pool, BlockingConnectionPool) and pool.max_connections == 4
    cids = [f"pool-{n:02d}" for n in range(30)]

    async with httpx.AsyncClient(base_url=gateway.url, timeout=10) as http:
        writable_from = await pause_writes(redis, 1.0)
        answers = await asyncio.gather(*(timed_post(http, cid) for cid in cids))

    assert [response.status_code for response, _ in answers] == [202] * len(cids), [
        response.text for response, _ in answers if response.status_code != 202
    ]
    assert all(done >= writable_from for _, done in answers)  # each waited, none failed
    assert all([await recorded(redis, cid) for cid in cids])
    assert gateway.admission.shed == {}
    async with httpx.AsyncClient(base_url=gateway.url, timeout=10) as http:
        assert await shed_metric(http) == {"place": 0, "place_batch": 0, "amend": 0}


async def test_a_request_that_waits_past_the_pool_timeout_gets_503_and_writes_nothing(
    serve: Any, redis: aioredis.Redis
) -> None:
    gateway = serve(redis_pool_size=2, redis_pool_timeout_s=0.2)
    cids = [f"late-{n}" for n in range(6)]

    async with httpx.AsyncClient(base_url=gateway.url, timeout=10) as http:
        await pause_writes(redis, 1.5)
        answers = await asyncio.gather(*(http.post("/v1/orders", json=order(c)) for c in cids))

    statuses = [response.status_code for response in answers]
    assert set(statuses) <= {202, 503} and 503 in statuses, statuses
    for cid, response in zip(cids, answers, strict=True):
        if response.status_code == 503:  # refused while recording it: nothing written
            assert "retry with the same clientorderids" in response.json()["error"].lower()
        assert await recorded(redis, cid) is (response.status_code == 202)


async def test_while_risk_is_behind_past_the_backlog_bound_places_get_429_and_write_nothing(
    serve: Any, redis: aioredis.Redis
) -> None:
    gateway = serve(max_engine_backlog=5, backlog_poll_s=0.05)  # it declares the groups
    for n in range(8):  # commands nobody handles: risk is 8 behind
        await redis.xadd(
            topology.ORDERS_REQUESTS.of(DEFAULT_ACCOUNT).name, {"__data__": f"queued-{n}"}
        )
    await eventually(lambda: gateway.admission.backlog == 8)

    async with httpx.AsyncClient(base_url=gateway.url, timeout=10) as http:
        refused = await http.post("/v1/orders", json=order("bk-1"))
        cancel = await http.delete("/v1/orders", params={"symbol": "BTCUSDT"})
        await redis.delete(topology.ORDERS_REQUESTS.of(DEFAULT_ACCOUNT).name)  # caught up
        await eventually(lambda: gateway.admission.backlog == 0)
        accepted = await http.post("/v1/orders", json=order("bk-1"))

    assert refused.status_code == 429, refused.text
    assert refused.headers["Retry-After"] == "1"
    assert refused.json()["details"][0]["reason"] == "max_engine_backlog"
    assert cancel.status_code == 202  # cancels are never refused
    assert (accepted.status_code, accepted.json()["created"]) == (202, True)
