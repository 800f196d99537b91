"""An account's own limits through the gateway: set, read back, audited, and in force for
that account alone (the stricter of the desk's and its own)."""

from __future__ import annotations

from collections.abc import AsyncIterator
from decimal import Decimal

import httpx
import pytest
import redis.asyncio as aioredis
from fastapi import FastAPI

from libs.common import topology
from libs.common.messages import OperatorAction
from services.gateway.app import create_app
from tests.integration.gateway.conftest import gateway_settings, messages
from tests.integration.gateway.test_risk import put_mark

pytestmark = pytest.mark.integration

ORDER = {"symbol": "BTCUSDT", "side": "Buy", "orderType": "Limit", "price": "60000"}


@pytest.fixture
async def desk(
    redis: aioredis.Redis, redis_url: str, monkeypatch: pytest.MonkeyPatch
) -> AsyncIterator[httpx.AsyncClient]:
    monkeypatch.setenv("MMX_ACCOUNTS", "default,alpha")
    app: FastAPI = create_app(gateway_settings(redis_url))
    async with app.router.lifespan_context(app):
        transport = httpx.ASGITransport(app=app)
        async with httpx.AsyncClient(transport=transport, base_url="http://gateway") as http:
            yield http


async def test_an_accounts_limits_bind_it_alone_and_are_audited(
    desk: httpx.AsyncClient, redis: aioredis.Redis
) -> None:
    await put_mark(redis, 60_000)
    body = {
        "limits": {"maxOrderNotional": "1000"},
        "symbols": {"BTCUSDT": {"maxOpenOrdersPerSymbol": 3}},
    }
    put = await desk.put("/v1/risk/accounts/alpha/limits", json=body)
    assert put.status_code == 200, put.text
    stored = {
        "limits": {"maxOrderNotional": "1000"},
        "symbols": {"BTCUSDT": {"maxOpenOrdersPerSymbol": "3"}},
    }
    assert put.json() == {"account": "alpha"} | stored
    assert (await desk.get("/v1/risk/accounts/alpha/limits")).json() == {
        "account": "alpha"
    } | stored

    order = ORDER | {"qty": "0.03"}  # 1800 USD: within the desk's 5000, over alpha's 1000
    mine = (await desk.post("/v1/risk/simulate", json=order)).json()
    theirs = (await desk.post("/v1/risk/simulate", json=order | {"account": "alpha"})).json()
    assert mine == {"approved": True, "reason": None, "route": None}
    assert theirs["approved"] is False and "above the limit 1000 USD" in theirs["reason"]

    rows = (await desk.get("/v1/risk", params={"account": "alpha"})).json()["effectiveLimits"]
    btc = next(r for r in rows if r["symbol"] == "BTCUSDT")
    assert Decimal(btc["limits"]["max_order_notional"]) == 1000
    (audit,) = [m for m in await messages(redis, topology.AUDIT) if isinstance(m, OperatorAction)]
    assert (audit.action, audit.details["limits.max_order_notional"]) == (
        "set_account_limits",
        "1000",
    )


async def test_an_account_cannot_be_given_more_than_the_desk(
    desk: httpx.AsyncClient, redis: aioredis.Redis
) -> None:
    await put_mark(redis, 60_000)
    await desk.put("/v1/risk/accounts/alpha/limits", json={"limits": {"maxOrderNotional": "50000"}})
    order = ORDER | {"qty": "0.1", "account": "alpha"}  # 6000 USD: over the desk's 5000
    answer = (await desk.post("/v1/risk/simulate", json=order)).json()
    assert answer["approved"] is False and "above the limit 5000 USD" in answer["reason"]


async def test_bad_overrides_and_unknown_accounts_are_422(desk: httpx.AsyncClient) -> None:
    bad = await desk.put(
        "/v1/risk/accounts/alpha/limits", json={"limits": {"maxInventoryUsd": "-1"}}
    )
    unknown = await desk.put("/v1/risk/accounts/beta/limits", json={})
    soft = await desk.put(
        "/v1/risk/accounts/alpha/limits", json={"limits": {"dailyLossSoftLimit": "5000"}}
    )
    assert (bad.status_code, unknown.status_code, soft.status_code) == (422, 422, 422)
    assert "beta" in unknown.text and "soft daily loss" in soft.text
