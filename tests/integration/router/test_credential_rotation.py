"""Credential rotation: the venue refuses the router's key, the router refreshes it ONCE from
Secrets Manager (moto in server mode) and recovers, or freezes with reason `auth`.

The simulator accepts two key pairs (MMX_SIM_KEYS); the router starts with a third, "old"
pair it does not accept. Another instance holds the reconcile and private-stream leases, so
that the first signed request of the router is the order the test sends.
"""

from __future__ import annotations

import contextlib
import json
import logging
from collections.abc import Iterator
from typing import Any

import pytest
import redis.asyncio as aioredis

from libs.common.domain.orders import OrderStatus
from libs.common.domain.risk_checks import TradingState
from libs.common.secrets import SecretNotFound
from libs.common.stores import RedisLeaseStore, RedisRiskStateStore
from libs.common.venue import BybitVenue
from services.router.credentials import CredentialKeeper
from services.router.private_stream import PRIVATE_STREAM_LEASE
from services.router.reconcile import RECONCILE_LEASE
from tests.integration.router.conftest import (
    Desk,
    Router,
    StartRouter,
    bid,
    venue_config,
    wait_until,
)
from tests.integration.secrets.conftest import (
    REGION,
    MotoServer,
    admin,
    aws_env,
    moto,
    moto_server,
)
from tests.simulator import SimProcess

pytestmark = pytest.mark.integration
SHARED_FIXTURES = (moto_server, moto, admin, aws_env)
"""The moto server fixtures of tests/integration/secrets, used here as they are."""

ENV = "staging"
SECRET_ID = f"{ENV}/bybit/api"
OLD = ("rot-old-key-0001", "rot-old-secret-4f1c9a7e")
GOOD_A = ("rot-key-a-0001", "rot-secret-a-93be27d1")
GOOD_B = ("rot-key-b-0002", "rot-secret-b-5ad0c6e4")
OTHER_BAD = ("rot-bad-key-0003", "rot-bad-secret-0d8e1b22")
EVERY_SECRET_VALUE = (OLD[1], GOOD_A[1], GOOD_B[1], OTHER_BAD[1])


@pytest.fixture(scope="module")
def two_key_sim() -> Iterator[SimProcess]:
    """A simulator accepting GOOD_A and GOOD_B, not OLD nor OTHER_BAD: two keys of one
    account (UID), as a rotation is on the venue."""
    keys = ",".join(f"{k}:{s}:100100100" for k, s in (GOOD_A, GOOD_B))
    sim = SimProcess(api_key=GOOD_A[0], api_secret=GOOD_A[1], env={"MMX_SIM_KEYS": keys})
    sim.start()
    try:
        yield sim
    finally:
        sim.stop()


@pytest.fixture
async def sim(two_key_sim: SimProcess) -> SimProcess:
    await two_key_sim.control("reset", {"marketFrozen": True})
    return two_key_sim


def pair(key: str, secret: str) -> str:
    return json.dumps({"api_key": key, "api_secret": secret})


@contextlib.contextmanager
def quiet_admin() -> Iterator[None]:
    """The test's own boto client logs its request bodies (the values it writes) at DEBUG:
    quiet it while it writes, so that the logs searched for values are the router's."""
    botocore = logging.getLogger("botocore")
    level = botocore.level
    botocore.setLevel(logging.INFO)
    try:
        yield
    finally:
        botocore.setLevel(level)


def rotate(admin: Any, key_pair: tuple[str, str]) -> None:
    """Put a new value of the secret, as an operator rotating the key would."""
    with quiet_admin():
        admin.put_secret_value(SecretId=SECRET_ID, SecretString=pair(*key_pair))


@pytest.fixture
def secret(admin: Any, moto: MotoServer, monkeypatch: pytest.MonkeyPatch) -> Any:
    """`staging/bybit/api` holding the OLD pair; the router reads it (MMX_SECRETS_ENV)."""
    with quiet_admin():
        admin.create_secret(Name=SECRET_ID, SecretString=pair(*OLD))
    monkeypatch.setenv("MMX_SECRETS_ENV", ENV)
    monkeypatch.setenv("SECRETS_ENDPOINT_URL", moto.url)
    monkeypatch.setenv("SECRETS_REGION", REGION)
    monkeypatch.setenv("MMX_ROUTER_CREDENTIAL_REFRESH_COOLDOWN_S", "60")
    return admin


@pytest.fixture
async def leases_elsewhere(redis: aioredis.Redis) -> None:
    """Another router instance holds reconciliation and the private stream."""
    leases = RedisLeaseStore(redis)
    for name in (RECONCILE_LEASE, PRIVATE_STREAM_LEASE):
        assert await leases.acquire(name, "another-router", 60_000)


@pytest.fixture
def logged(caplog: pytest.LogCaptureFixture) -> pytest.LogCaptureFixture:
    caplog.set_level(logging.DEBUG)
    return caplog


async def start(start_router: StartRouter, sim: SimProcess, **venue: Any) -> Router:
    return await start_router(venue=venue_config(sim, **venue))


def adapter(router: Router) -> BybitVenue:
    venue: BybitVenue = router.runtime.state["venue"]
    return venue


def keeper(router: Router) -> CredentialKeeper:
    found: CredentialKeeper = router.runtime.state["credentials"]
    return found


async def test_a_refused_key_is_refreshed_once_from_the_secret_and_trading_goes_on(
    start_router: StartRouter,
    desk: Desk,
    sim: SimProcess,
    secret: Any,
    moto: MotoServer,
    redis: aioredis.Redis,
    leases_elsewhere: None,
    logged: pytest.LogCaptureFixture,
) -> None:
    router = await start(start_router, sim)
    assert adapter(router).config.api_key == OLD[0]  # read from the secret at start
    rotate(secret, GOOD_B)

    await desk.approve(bid("rot-1"))

    await wait_until(lambda: desk.status_is("rot-1", OrderStatus.NEW), what="order New")
    (at_venue,) = await sim.orders()
    assert at_venue["orderLinkId"] == "rot-1"
    assert adapter(router).config.api_key == GOOD_B[0]
    assert keeper(router).refreshes == 1
    assert moto.requests("GetSecretValue", SECRET_ID) == 2  # at start, then the one refresh
    status = await RedisRiskStateStore(redis).trading_state()
    assert (status.state, status.epoch) == (TradingState.ACTIVE, 0)
    assert router.metric("freeze_triggered_total", reason="auth") == 0
    assert "refreshing them once" in logged.text
    assert not any(value in logged.text for value in EVERY_SECRET_VALUE)


async def test_a_refreshed_key_refused_too_freezes_with_reason_auth_without_refreshing_again(
    start_router: StartRouter,
    desk: Desk,
    sim: SimProcess,
    secret: Any,
    moto: MotoServer,
    redis: aioredis.Redis,
    leases_elsewhere: None,
    logged: pytest.LogCaptureFixture,
) -> None:
    router = await start(start_router, sim)
    rotate(secret, OTHER_BAD)
    risk = RedisRiskStateStore(redis)

    await desk.approve(bid("rot-2"))

    async def frozen() -> bool:
        return (await risk.trading_state()).state is TradingState.FROZEN

    await wait_until(frozen, what="trading FROZEN")
    status = await risk.trading_state()
    assert status.reason.startswith("auth: ")
    assert "refreshed credentials (staging/bybit/api version" in status.reason
    assert status.actor == "router:r1"
    await desk.approve(bid("rot-3"))
    await wait_until(lambda: desk.status_is("rot-3", OrderStatus.REJECTED), what="rot-3 refused")
    assert keeper(router).refreshes == 1
    assert moto.requests("GetSecretValue", SECRET_ID) == 2  # never a second refresh
    assert router.metric("freeze_triggered_total", reason="auth") == 1
    assert await sim.orders() == []
    assert not any(value in logged.text for value in EVERY_SECRET_VALUE)
    assert not any(value in status.reason for value in EVERY_SECRET_VALUE)


async def test_a_secret_that_cannot_be_read_at_refresh_freezes_with_reason_auth(
    start_router: StartRouter,
    desk: Desk,
    sim: SimProcess,
    secret: Any,
    redis: aioredis.Redis,
    leases_elsewhere: None,
) -> None:
    await start(start_router, sim)
    secret.delete_secret(SecretId=SECRET_ID, ForceDeleteWithoutRecovery=True)
    risk = RedisRiskStateStore(redis)

    await desk.approve(bid("rot-4"))

    async def frozen() -> bool:
        return (await risk.trading_state()).state is TradingState.FROZEN

    await wait_until(frozen, what="trading FROZEN")
    reason = (await risk.trading_state()).reason
    assert reason.startswith("auth: ")
    assert "refreshing the credentials failed: secret 'staging/bybit/api' was not found" in reason


async def test_without_a_secrets_env_the_refresh_rereads_the_environment(
    start_router: StartRouter,
    desk: Desk,
    sim: SimProcess,
    redis: aioredis.Redis,
    aws_env: None,
    leases_elsewhere: None,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.delenv("MMX_SECRETS_ENV", raising=False)
    router = await start(start_router, sim, api_key=OLD[0], api_secret=OLD[1])
    monkeypatch.setenv("MMX_API_KEY", GOOD_A[0])
    monkeypatch.setenv("MMX_API_SECRET", GOOD_A[1])

    await desk.approve(bid("rot-5"))

    await wait_until(lambda: desk.status_is("rot-5", OrderStatus.NEW), what="order New")
    assert adapter(router).config.api_key == GOOD_A[0]
    assert (await RedisRiskStateStore(redis).trading_state()).state is TradingState.ACTIVE


async def test_a_router_told_to_read_a_missing_secret_does_not_start(
    start_router: StartRouter, sim: SimProcess, moto: MotoServer, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("MMX_SECRETS_ENV", "nosuchenv")
    monkeypatch.setenv("SECRETS_ENDPOINT_URL", moto.url)
    monkeypatch.setenv("SECRETS_REGION", REGION)

    with pytest.raises(SecretNotFound, match="secret 'nosuchenv/bybit/api' was not found"):
        await start(start_router, sim)
