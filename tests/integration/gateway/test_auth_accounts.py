"""API keys bound to accounts: a key reads and trades its accounts only; a desk-wide change
needs a key bound to every account; the desk's kill switch needs none."""

from __future__ import annotations

import time
from collections.abc import AsyncIterator

import httpx
import pytest
import redis.asyncio as aioredis

from libs.common.api_keys import ApiKeyRecord, RedisApiKeyStore, Role, issue_key
from services.gateway.app import create_app
from tests.integration.gateway.conftest import gateway_settings
from tests.integration.gateway.test_auth import running
from tests.integration.gateway.test_risk import put_mark

pytestmark = pytest.mark.integration

ORDER = {"symbol": "BTCUSDT", "side": "Buy", "orderType": "Limit", "qty": "0.01", "price": "59000"}


async def key(redis: aioredis.Redis, role: Role, name: str, *accounts: str) -> dict[str, str]:
    issued = issue_key()
    record = ApiKeyRecord.issue(issued, role, name, now_ns=time.time_ns(), accounts=accounts)
    assert await RedisApiKeyStore(redis).create(record)
    return {"X-API-Key": issued.key}


@pytest.fixture
async def guarded(
    redis: aioredis.Redis, redis_url: str, monkeypatch: pytest.MonkeyPatch
) -> AsyncIterator[httpx.AsyncClient]:
    monkeypatch.setenv("MMX_ACCOUNTS", "default,alpha")
    async for http in running(create_app(gateway_settings(redis_url, auth="required"))):
        yield http


async def test_a_key_reads_and_trades_only_the_accounts_it_is_bound_to(
    guarded: httpx.AsyncClient, redis: aioredis.Redis
) -> None:
    await put_mark(redis, 60_000)
    alpha = await key(redis, Role.TRADER, "strat-alpha", "alpha")

    placed = await guarded.post("/v1/orders", json=ORDER | {"account": "alpha"}, headers=alpha)
    elsewhere = await guarded.post("/v1/orders", json=ORDER, headers=alpha)
    batch = {"orders": [ORDER | {"account": "alpha", "clientOrderId": "b-1"}, ORDER]}
    mixed = await guarded.post("/v1/orders/batch", json=batch, headers=alpha)
    listed = await guarded.get("/v1/orders", params={"account": "alpha"}, headers=alpha)
    peeked = await guarded.get("/v1/positions", params={"account": "default"}, headers=alpha)

    assert placed.status_code == 202, placed.text
    assert (elsewhere.status_code, mixed.status_code, peeked.status_code) == (403, 403, 403)
    assert "not to default" in elsewhere.text and "strat-alpha" in elsewhere.text
    assert [o["account"] for o in listed.json()["orders"]] == ["alpha"]
    assert await redis.exists("mmx:{alpha}:order:b-1") == 0  # the mixed batch wrote nothing


async def test_desk_wide_changes_need_a_key_bound_to_every_account(
    guarded: httpx.AsyncClient, redis: aioredis.Redis
) -> None:
    alpha_ops = await key(redis, Role.OPERATOR, "ops-alpha", "alpha")
    desk_ops = await key(redis, Role.OPERATOR, "ops-desk", "*")
    both = await key(redis, Role.OPERATOR, "ops-both", "default", "alpha")
    limits = {"maxInventoryUsd": "2000"}

    assert (await guarded.put("/v1/risk/limits", json=limits, headers=alpha_ops)).status_code == 403
    assert (await guarded.put("/v1/risk/limits", json=limits, headers=desk_ops)).status_code == 200
    assert (await guarded.put("/v1/risk/limits", json=limits, headers=both)).status_code == 200

    kill = await guarded.post("/v1/risk/freeze", json={"reason": "drill"}, headers=alpha_ops)
    assert kill.status_code == 200, kill.text  # anyone may pull the kill switch
    resume = {"reason": "over", "force": True}
    assert (
        await guarded.post("/v1/risk/unfreeze", json=resume, headers=alpha_ops)
    ).status_code == 403
    assert (
        await guarded.post("/v1/risk/unfreeze", json=resume, headers=desk_ops)
    ).status_code == 200
    own = {"reason": "alpha only", "account": "alpha"}
    other = {"reason": "not mine", "account": "default"}
    assert (await guarded.post("/v1/risk/freeze", json=own, headers=alpha_ops)).status_code == 200
    assert (await guarded.post("/v1/risk/freeze", json=other, headers=alpha_ops)).status_code == 403
    limits_of_default = await guarded.put(
        "/v1/risk/accounts/default/limits", json={}, headers=alpha_ops
    )
    assert limits_of_default.status_code == 403
