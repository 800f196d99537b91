"""An oversized body is refused with 413 before anything parses it, over real HTTP."""

from __future__ import annotations

from collections.abc import AsyncIterator

import httpx
import pytest
import redis.asyncio as aioredis

from libs.common import topology
from libs.common.domain.ids import DEFAULT_ACCOUNT
from tests.integration.gateway.conftest import LiveGateway

pytestmark = pytest.mark.integration
LIMIT = 256 * 1024


def order(i: int) -> dict[str, str]:
    return {
        "symbol": "BTCUSDT",
        "side": "Buy",
        "orderType": "Limit",
        "qty": "0.001",
        "price": "59000",
        "clientOrderId": f"big-{i}",
    }


async def test_a_body_declared_past_the_limit_is_refused_with_413_and_nothing_written(
    live_gateway: LiveGateway, redis: aioredis.Redis
) -> None:
    padding = "x" * (LIMIT + 1)
    async with httpx.AsyncClient(base_url=live_gateway.url) as http:
        reply = await http.post("/v1/orders", json={**order(0), "note": padding})
    assert reply.status_code == 413
    assert "expected at most 262144 bytes" in reply.json()["error"]
    assert await redis.xlen(topology.ORDERS_REQUESTS.of(DEFAULT_ACCOUNT).name) == 0


async def test_a_chunked_body_past_the_limit_is_refused_and_a_small_one_goes_through(
    live_gateway: LiveGateway,
) -> None:
    async def chunks(total: int) -> AsyncIterator[bytes]:
        sent = 0
        while sent < total:
            piece = b" " * min(64 * 1024, total - sent)
            sent += len(piece)
            yield piece

    async with httpx.AsyncClient(base_url=live_gateway.url) as http:
        big = await http.post(
            "/v1/orders", content=chunks(LIMIT + 10), headers={"content-type": "application/json"}
        )

        async def small() -> AsyncIterator[bytes]:
            yield httpx.Request("POST", "/", json=order(1)).content

        ok = await http.post(
            "/v1/orders", content=small(), headers={"content-type": "application/json"}
        )
    assert big.status_code == 413
    assert ok.status_code != 413 and ok.status_code < 500, ok.text
