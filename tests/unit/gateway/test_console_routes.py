"""`/v1/console/*` over the real app and Redis: who the key is, and the overview, for any role;
nothing without a key."""

from __future__ import annotations

import time
from collections.abc import AsyncIterator

import httpx
import pytest
import redis.asyncio as aioredis

from libs.common import topology
from libs.common.api_keys import ApiKeyRecord, RedisApiKeyStore, Role, issue_key
from libs.common.domain.ids import DEFAULT_ACCOUNT
from services.gateway.app import create_app
from services.gateway.settings import GatewaySettings


@pytest.fixture
async def guarded(redis: aioredis.Redis, redis_url: str) -> AsyncIterator[httpx.AsyncClient]:
    settings = GatewaySettings(redis_url=redis_url, port=0, unfreeze_cooldown_s=42.5)
    app = create_app(settings)
    async with app.router.lifespan_context(app):
        transport = httpx.ASGITransport(app=app)
        async with httpx.AsyncClient(transport=transport, base_url="http://gateway") as http:
            yield http


async def _key(redis: aioredis.Redis, role: Role, name: str) -> tuple[str, str]:
    issued = issue_key()
    await RedisApiKeyStore(redis).create(
        ApiKeyRecord.issue(issued, role, name, now_ns=time.time_ns())
    )
    return issued.key, issued.key_id


@pytest.mark.parametrize("role", list(Role))
async def test_me_names_the_key_holder_its_role_and_accounts_for_every_role(
    guarded: httpx.AsyncClient, redis: aioredis.Redis, role: Role
) -> None:
    key, key_id = await _key(redis, role, "desk-ann")

    answer = await guarded.get("/v1/console/me", headers={"X-API-Key": key})

    assert answer.status_code == 200, answer.text
    assert answer.json() == {
        "actor": f"desk-ann [{key_id}]",
        "role": role.value,
        "accounts": ["default"],
    }


async def test_overview_answers_a_viewer_and_refuses_a_call_without_a_key(
    guarded: httpx.AsyncClient, redis: aioredis.Redis
) -> None:
    key, _ = await _key(redis, Role.VIEWER, "grafana")
    await redis.hset(topology.EDGE_KEY, "BTCUSDT|reported", "5.005")

    answer = await guarded.get("/v1/console/overview", headers={"X-API-Key": key})
    refused = [(await guarded.get(f"/v1/console/{p}")).status_code for p in ("me", "overview")]

    assert answer.status_code == 200, answer.text
    body = answer.json()
    assert body["unfreezeCooldownS"] == "42.5"
    assert body["edge"] == [
        {"symbol": "BTCUSDT", "reported": "5.00", "measured": None, "measuredFills": None}
    ]
    streams = topology.all_streams([DEFAULT_ACCOUNT])
    assert [s["stream"] for s in body["streams"]] == [s.name for s in streams]
    assert refused == [401, 401]
