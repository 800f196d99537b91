"""Access control of the gateway (MMX_GATEWAY_AUTH=required) against real Redis: API keys
with roles, 401 / 403 answers that never echo a key, and an audit trail naming the key's
holder."""

from __future__ import annotations

import json
import logging
import time
from collections.abc import AsyncIterator, Iterator
from dataclasses import dataclass
from typing import Any

import httpx
import pytest
import redis.asyncio as aioredis
from fastapi import FastAPI

from libs.common import topology
from libs.common.api_keys import (
    ApiKeyRecord,
    IssuedKey,
    OperatorAction,
    RedisApiKeyStore,
    Role,
    hash_secret,
    issue_key,
)
from libs.common.domain.ids import DEFAULT_ACCOUNT
from libs.common.messages import FreezeTrading, SetRiskLimits, UnfreezeTrading
from libs.common.secrets import SecretNotFound
from services.gateway.app import create_app
from tests.integration.gateway.conftest import gateway_settings, messages

pytestmark = pytest.mark.integration

ORDER = {
    "symbol": "BTCUSDT",
    "side": "Buy",
    "orderType": "Limit",
    "qty": "0.010",
    "price": "65000.5",
    "clientOrderId": "auth-0001",
}
OPEN_PATHS = (
    "/health",
    "/ready",
    "/metrics",
    "/docs",
    "/redoc",
    "/openapi.json",
    "/asyncapi",
    "/asyncapi.json",
)


@dataclass
class Keys:
    """One issued key per role, stored in Redis as `mmx keys create` would."""

    viewer: IssuedKey
    trader: IssuedKey
    operator: IssuedKey

    def headers(self, role: str) -> dict[str, str]:
        return {"X-API-Key": getattr(self, role).key}


async def store_key(redis: aioredis.Redis, role: Role, name: str) -> IssuedKey:
    issued = issue_key()
    record = ApiKeyRecord.issue(issued, role, name, now_ns=time.time_ns())
    assert await RedisApiKeyStore(redis).create(record)
    return issued


@pytest.fixture
async def keys(redis: aioredis.Redis) -> Keys:
    return Keys(
        viewer=await store_key(redis, Role.VIEWER, "grafana"),
        trader=await store_key(redis, Role.TRADER, "strat-1"),
        operator=await store_key(redis, Role.OPERATOR, "ops-alice"),
    )


async def running(app: FastAPI) -> AsyncIterator[httpx.AsyncClient]:
    async with app.router.lifespan_context(app):
        transport = httpx.ASGITransport(app=app)
        async with httpx.AsyncClient(transport=transport, base_url="http://gateway") as http:
            yield http


@pytest.fixture
async def guarded(redis: aioredis.Redis, redis_url: str) -> AsyncIterator[httpx.AsyncClient]:
    """A client of a gateway that requires API keys."""
    async for http in running(create_app(gateway_settings(redis_url, auth="required"))):
        yield http


class ServerLogs:
    """Every log line of the process except the test's own HTTP client (httpx logs URLs)."""

    def __init__(self, caplog: pytest.LogCaptureFixture) -> None:
        self._caplog = caplog

    @property
    def text(self) -> str:
        records = self._caplog.records
        return "\n".join(r.getMessage() for r in records if not r.name.startswith("httpx"))


@pytest.fixture
def logged(caplog: pytest.LogCaptureFixture) -> Iterator[ServerLogs]:
    caplog.set_level(logging.DEBUG)
    yield ServerLogs(caplog)


def assert_not_echoed(secret: str, response: httpx.Response, logs: str) -> None:
    assert secret not in response.text
    assert secret not in json.dumps(dict(response.headers))
    assert secret not in logs


async def test_v1_routes_refuse_a_call_without_a_key_while_health_and_docs_stay_open(
    guarded: httpx.AsyncClient,
) -> None:
    refused = await guarded.get("/v1/orders")
    opened = {path: (await guarded.get(path)).status_code for path in OPEN_PATHS}

    assert refused.status_code == 401
    assert refused.headers["WWW-Authenticate"] == 'APIKey, Bearer realm="mmx"'
    assert refused.json() == {
        "error": "an API key is required: send it in the X-API-Key header or Authorization: Bearer",
        "details": [],
    }
    assert opened == dict.fromkeys(OPEN_PATHS, 200)


async def test_a_key_in_the_query_string_is_refused_on_http_and_says_why(
    guarded: httpx.AsyncClient, keys: Keys, logged: ServerLogs
) -> None:
    response = await guarded.get("/v1/orders", params={"apiKey": keys.viewer.key})

    assert response.status_code == 401
    assert "?apiKey= is for the WebSocket only: URLs end up in logs" in response.json()["error"]
    assert_not_echoed(keys.viewer.secret, response, logged.text)


@pytest.mark.parametrize(
    ("presented", "error"),
    [
        ("hunter2-not-a-key", "not an mmx API key (17 characters were sent)"),
        (f"mmx_0123456789ab_{'A' * 43}", "unknown API key: no key has this id"),
        ("WRONG_SECRET", "API key not accepted: its secret does not match its id"),
        ("REVOKED", "this API key was revoked: ask an operator for a new one"),
    ],
)
async def test_a_key_that_is_not_accepted_answers_401_without_echoing_it(
    guarded: httpx.AsyncClient,
    redis: aioredis.Redis,
    keys: Keys,
    logged: ServerLogs,
    presented: str,
    error: str,
) -> None:
    if presented == "WRONG_SECRET":
        presented = f"mmx_{keys.trader.key_id}_{issue_key().secret}"
    if presented == "REVOKED":
        presented = keys.trader.key
        await RedisApiKeyStore(redis).revoke(keys.trader.key_id, now_ns=time.time_ns())

    response = await guarded.post("/v1/orders", json=ORDER, headers={"X-API-Key": presented})

    assert response.status_code == 401
    assert response.json()["error"].startswith(error)
    assert_not_echoed(presented, response, logged.text)
    # mmx_<hex id>_<secret>: the secret is all after the second "_" (it may contain "_");
    # a malformed key has no "_" and is checked whole.
    assert_not_echoed(presented.split("_", 2)[-1], response, logged.text)
    assert await redis.xlen(topology.ORDERS_REQUESTS.of(DEFAULT_ACCOUNT).name) == 0


ROUTES: list[tuple[str, str, dict[str, Any], Role]] = [
    ("GET", "/v1/orders", {}, Role.VIEWER),
    ("GET", "/v1/positions", {}, Role.VIEWER),
    ("GET", "/v1/risk", {}, Role.VIEWER),
    ("POST", "/v1/orders", {"json": ORDER}, Role.TRADER),
    ("POST", "/v1/orders/batch", {"json": {"orders": [ORDER]}}, Role.TRADER),
    ("DELETE", "/v1/orders/auth-0001", {}, Role.TRADER),
    ("POST", "/v1/risk/edge", {"json": {"symbol": "BTCUSDT", "edgeBps": "5"}}, Role.TRADER),
    ("POST", "/v1/risk/simulate", {"json": ORDER}, Role.TRADER),
    ("DELETE", "/v1/orders", {"params": {"symbol": "BTCUSDT"}}, Role.OPERATOR),
    ("PUT", "/v1/risk/limits", {"json": {"maxOrdersPerSecond": 7}}, Role.OPERATOR),
    ("POST", "/v1/risk/freeze", {"json": {"reason": "drill"}}, Role.OPERATOR),
    ("POST", "/v1/risk/unfreeze", {"json": {"reason": "done", "force": True}}, Role.OPERATOR),
]


@pytest.mark.parametrize(("method", "path", "request_args", "needed"), ROUTES)
@pytest.mark.parametrize("role", list(Role))
async def test_each_route_admits_the_roles_that_grant_it_and_refuses_the_others_with_403(
    guarded: httpx.AsyncClient,
    keys: Keys,
    method: str,
    path: str,
    request_args: dict[str, Any],
    needed: Role,
    role: Role,
) -> None:
    response = await guarded.request(method, path, headers=keys.headers(role), **request_args)

    if role.grants(needed):
        assert response.status_code not in (401, 403), response.text
    else:
        assert response.status_code == 403, response.text
        key_id = getattr(keys, role).key_id
        assert response.json()["error"] == (
            f"forbidden: the key of {_holder(role)} [{key_id}] has role {role}; "
            f"{method} {path} needs {needed}"
        )


def _holder(role: Role) -> str:
    return {Role.VIEWER: "grafana", Role.TRADER: "strat-1", Role.OPERATOR: "ops-alice"}[role]


async def test_a_bearer_token_is_accepted_like_the_header(
    guarded: httpx.AsyncClient, keys: Keys
) -> None:
    bearer = {"Authorization": f"Bearer {keys.trader.key}"}

    response = await guarded.post("/v1/orders", json=ORDER, headers=bearer)

    assert response.status_code == 202, response.text


async def test_two_different_keys_in_one_request_are_refused(
    guarded: httpx.AsyncClient, keys: Keys, logged: ServerLogs
) -> None:
    headers = {"X-API-Key": keys.trader.key, "Authorization": f"Bearer {keys.operator.key}"}

    response = await guarded.post("/v1/risk/freeze", json={"reason": "x"}, headers=headers)

    assert response.status_code == 401
    assert response.json()["error"] == "two different API keys were sent: send exactly one"
    for key in (keys.trader, keys.operator):
        assert_not_echoed(key.secret, response, logged.text)


async def test_operator_actions_are_audited_with_the_key_holder_never_the_key(
    guarded: httpx.AsyncClient, redis: aioredis.Redis, keys: Keys
) -> None:
    # The unauthenticated actor header must not override who the key says is calling.
    headers = keys.headers("operator") | {"X-MMX-Actor": "mallory"}
    actor = f"ops-alice [{keys.operator.key_id}]"

    calls = [
        await guarded.put("/v1/risk/limits", json={"maxOrdersPerSecond": 7}, headers=headers),
        await guarded.post("/v1/risk/freeze", json={"reason": "venue drill"}, headers=headers),
        await guarded.post(
            "/v1/risk/unfreeze", json={"reason": "drill over", "force": True}, headers=headers
        ),
        await guarded.delete(
            "/v1/orders", params={"symbol": "BTCUSDT", "reason": "flatten"}, headers=headers
        ),
    ]

    assert [c.status_code for c in calls] == [200, 200, 200, 202]
    limits, frozen, resumed, cancel_all = await messages(redis, topology.AUDIT)
    assert isinstance(limits, SetRiskLimits)
    assert (limits.actor, limits.reason) == (actor, "max_orders_per_second")
    assert frozen == FreezeTrading(reason="venue drill", actor=actor)
    assert resumed == UnfreezeTrading(reason="drill over", actor=actor, force=True)
    assert cancel_all == OperatorAction(
        action="cancel_all",
        actor=actor,
        reason="flatten",
        details={
            "symbol": "BTCUSDT",
            "category": "linear",
            "account": "default",
            "venue": "all",
            "openOrders": "0",
        },
    )
    history = (await guarded.get("/v1/risk", headers=headers)).json()["freezeHistory"]
    assert [h["actor"] for h in history] == [actor, actor]
    audit: Any = await redis.xrange(topology.AUDIT.name)
    assert keys.operator.secret.encode() not in b"".join(f for _, e in audit for f in e.values())


async def test_a_revoked_key_is_refused_at_its_next_request(
    guarded: httpx.AsyncClient, redis: aioredis.Redis, keys: Keys
) -> None:
    before = await guarded.get("/v1/orders", headers=keys.headers("viewer"))
    await RedisApiKeyStore(redis).revoke(keys.viewer.key_id, now_ns=time.time_ns())

    after = await guarded.get("/v1/orders", headers=keys.headers("viewer"))

    assert (before.status_code, after.status_code) == (200, 401)


async def test_the_openapi_document_declares_both_key_schemes_and_the_auth_answers(
    guarded: httpx.AsyncClient,
) -> None:
    spec = (await guarded.get("/openapi.json")).json()

    schemes = spec["components"]["securitySchemes"]
    assert schemes["APIKeyHeader"] == {
        "type": "apiKey",
        "in": "header",
        "name": "X-API-Key",
        "description": "an mmx API key: mmx_<id>_<secret>",
    }
    assert schemes["HTTPBearer"]["scheme"] == "bearer"
    place = spec["paths"]["/v1/orders"]["post"]
    assert {"401", "403"} <= set(place["responses"])
    assert {"APIKeyHeader": []} in place["security"]


# -- Keys listed in the secret {env}/gateway/api-keys (mock mode reads the environment) ---------


def secret_entry(issued: IssuedKey, role: str, name: str) -> dict[str, str]:
    return {"id": issued.key_id, "hash": hash_secret(issued.secret), "role": role, "name": name}


@pytest.fixture
def secret_keys(monkeypatch: pytest.MonkeyPatch) -> IssuedKey:
    """A trader key listed in `dev/gateway/api-keys` (mock mode: an environment variable)."""
    issued = issue_key()
    monkeypatch.setenv("SECRETS_MOCK_MODE", "1")
    monkeypatch.setenv(
        "SECRETS_MOCK_DEV_GATEWAY_API_KEYS", json.dumps([secret_entry(issued, "trader", "s1")])
    )
    return issued


async def test_a_key_listed_in_the_secret_is_accepted_until_a_tombstone_blocks_it(
    redis: aioredis.Redis, redis_url: str, secret_keys: IssuedKey
) -> None:
    app = create_app(gateway_settings(redis_url, auth="required", secrets_env="dev"))
    headers = {"X-API-Key": secret_keys.key}
    async for http in running(app):
        accepted = await http.post("/v1/orders", json=ORDER, headers=headers)
        await RedisApiKeyStore(redis).revoke(
            secret_keys.key_id, now_ns=time.time_ns(), tombstone_name="tombstone"
        )
        blocked = await http.get("/v1/orders", headers=headers)

    assert accepted.status_code == 202, accepted.text
    assert accepted.json()["order"]["clientOrderId"] == "auth-0001"
    assert blocked.status_code == 401
    assert blocked.json()["error"] == "this API key was revoked: ask an operator for a new one"


async def test_a_gateway_told_to_read_a_missing_key_secret_does_not_start(
    redis: aioredis.Redis, redis_url: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("SECRETS_MOCK_MODE", "1")
    monkeypatch.delenv("SECRETS_MOCK_STAGING_GATEWAY_API_KEYS", raising=False)
    app = create_app(gateway_settings(redis_url, auth="required", secrets_env="staging"))

    with pytest.raises(SecretNotFound, match="SECRETS_MOCK_STAGING_GATEWAY_API_KEYS"):
        async with app.router.lifespan_context(app):
            pass


async def test_with_auth_disabled_every_caller_is_an_operator_named_by_its_header(
    redis: aioredis.Redis, redis_url: str
) -> None:
    app = create_app(gateway_settings(redis_url, auth="disabled"))
    async for http in running(app):
        response = await http.post(
            "/v1/risk/freeze", json={"reason": "dev"}, headers={"X-MMX-Actor": "dev-bob"}
        )

    assert response.status_code == 200
    assert await messages(redis, topology.AUDIT) == [FreezeTrading(reason="dev", actor="dev-bob")]
