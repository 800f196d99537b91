"""`GET /v1/console/overview` shows the venue's rate-limit headroom per endpoint and the latest
reconciliation per symbol, as the router and the positions service write them to Redis."""

from __future__ import annotations

import time
from collections.abc import AsyncIterator
from decimal import Decimal

import httpx
import pytest
import redis.asyncio as aioredis

from libs.common import topology
from libs.common.api_keys import ApiKeyRecord, RedisApiKeyStore, Role, issue_key
from libs.common.domain.ids import Symbol
from services.gateway.app import create_app
from services.gateway.console.views import HEADROOM_STALE_MS
from services.gateway.settings import GatewaySettings
from services.positions import reconcile as positions_reconcile
from services.router import reconcile as router_reconcile
from services.router.gate import group_of
from services.router.headroom import Headroom, HeadroomBoard

BTC, ETH = Symbol("BTCUSDT"), Symbol("ETHUSDT")


@pytest.fixture
async def viewer(redis: aioredis.Redis, redis_url: str) -> AsyncIterator[httpx.AsyncClient]:
    """The gateway app with its lifespan, and a viewer's key on every request."""
    app = create_app(GatewaySettings(redis_url=redis_url, port=0))
    issued = issue_key()
    record = ApiKeyRecord.issue(issued, Role.VIEWER, "desk", now_ns=time.time_ns())
    await RedisApiKeyStore(redis).create(record)
    async with app.router.lifespan_context(app):
        transport = httpx.ASGITransport(app=app)
        headers = {"X-API-Key": issued.key}
        async with httpx.AsyncClient(
            transport=transport, base_url="http://gateway", headers=headers
        ) as http:
            yield http


async def _overview(http: httpx.AsyncClient) -> dict[str, object]:
    answer = await http.get("/v1/console/overview")
    assert answer.status_code == 200, answer.text
    body: dict[str, object] = answer.json()
    return body


async def test_overview_shows_headroom_per_endpoint_with_used_share_and_stale_answers(
    viewer: httpx.AsyncClient, redis: aioredis.Redis
) -> None:
    now_ms = time.time_ns() // 1_000_000
    board = HeadroomBoard(redis, group_of=group_of)
    await board.write(
        {
            "/v5/order/create": Headroom("trade", 10, 2, now_ms + 800, now_ms),
            "/v5/order/realtime": Headroom("query", 50, 50, None, now_ms - HEADROOM_STALE_MS - 1),
            "/v5/order/create-batch": Headroom("batch", 0, 0, now_ms + 1000, now_ms),
        }
    )

    body = await _overview(viewer)

    assert body["rateLimitHeadroom"] == [
        {
            "endpoint": "/v5/order/create-batch",
            "group": "batch",
            "limit": 0,
            "remaining": 0,
            "used": "1.0000",  # the venue's "0 of 0" after a 10006: nothing left
            "resetTime": now_ms + 1000,
            "updatedTime": now_ms,
            "stale": False,
        },
        {
            "endpoint": "/v5/order/realtime",
            "group": "query",
            "limit": 50,
            "remaining": 50,
            "used": "0.0000",
            "resetTime": None,
            "updatedTime": now_ms - HEADROOM_STALE_MS - 1,
            "stale": True,
        },
        {
            "endpoint": "/v5/order/create",
            "group": "trade",
            "limit": 10,
            "remaining": 2,
            "used": "0.8000",
            "resetTime": now_ms + 800,
            "updatedTime": now_ms,
            "stale": False,
        },
    ]
    assert 0 < await redis.pttl(topology.VENUE_HEADROOM_KEY) <= 60_000


async def test_overview_pairs_position_and_order_drift_per_symbol_with_fixed_places(
    viewer: httpx.AsyncClient, redis: aioredis.Redis
) -> None:
    sides = {BTC: (Decimal("-0.25"), Decimal(0)), ETH: (Decimal("1.5"), Decimal("1.5"))}
    await positions_reconcile.write_drift(redis, sides, checked_ms=1_000)
    orders = {BTC: router_reconcile.Drift(adopted=1, settled=1, fills=2)}
    await router_reconcile.write_drift(redis, orders, checked_ms=2_000)

    body = await _overview(viewer)

    assert body["reconciliation"] == [
        {
            "symbol": "BTCUSDT",
            "engineQty": "-0.25000000",
            "venueQty": "0.00000000",
            "qtyDrift": "0.25000000",
            "positionsCheckedTime": 1_000,
            "openOrdersDrift": 2,
            "executionsDrift": 2,
            "ordersCheckedTime": 2_000,
        },
        {
            "symbol": "ETHUSDT",
            "engineQty": "1.50000000",
            "venueQty": "1.50000000",
            "qtyDrift": "0.00000000",
            "positionsCheckedTime": 1_000,
            "openOrdersDrift": None,
            "executionsDrift": None,
            "ordersCheckedTime": None,
        },
    ]


async def test_each_reconciliation_pass_replaces_the_previous_one(redis: aioredis.Redis) -> None:
    await positions_reconcile.write_drift(redis, {BTC: (Decimal(1), Decimal(1))}, checked_ms=1)
    await positions_reconcile.write_drift(redis, {ETH: (Decimal(0), Decimal(2))}, checked_ms=2)

    fields = await redis.hkeys(topology.POSITION_DRIFT_KEY)

    assert fields == [b"ETHUSDT"]


async def test_overview_without_headroom_or_drift_has_empty_lists(
    viewer: httpx.AsyncClient,
) -> None:
    body = await _overview(viewer)

    assert (body["rateLimitHeadroom"], body["reconciliation"]) == ([], [])
