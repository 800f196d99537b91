"""The services' Redis client: hiredis parsing, a pool that waits, and its settings.

`redis_client(settings)` must read the URL exactly as `Redis.from_url` does (scheme, user,
password, db, TLS query parameters) and take the pool's size and wait from the settings, which
refuse values out of range at start with the environment variable to fix in the message.
"""

from __future__ import annotations

from typing import Any

import pytest
import redis.utils
from pydantic import ValidationError
from pydantic_settings import SettingsConfigDict
from redis._parsers import _AsyncHiredisParser
from redis.asyncio import BlockingConnectionPool, Redis
from redis.asyncio.connection import SSLConnection

from libs.common.service import (
    REDIS_POOL_SIZE_MAX,
    REDIS_POOL_TIMEOUT_MAX_S,
    ServiceSettings,
    redis_client,
)
from services.gateway.settings import GatewaySettings

SECRET = "s3cret-pass"
TLS_URL = (
    f"rediss://mmx:{SECRET}@redis.example:6380/3"
    "?ssl_cert_reqs=required&ssl_ca_certs=/etc/mmx/ca.crt&ssl_certfile=/etc/mmx/c.crt"
)


class ToySettings(ServiceSettings):
    """A service of its own prefix, as each real service has."""

    model_config = SettingsConfigDict(env_prefix="MMX_TOY_", extra="ignore", frozen=True)

    port: int = 9999


def toy(**fields: Any) -> ToySettings:
    return ToySettings(**fields)


def connection_kwargs(client: Redis) -> dict[str, Any]:
    """What each new connection of `client` is made with, less redis-py's internal objects."""
    kwargs = client.connection_pool.connection_kwargs
    return {k: v for k, v in kwargs.items() if "maint" not in k and "registry" not in k}


def test_the_hiredis_parser_is_installed_and_used_by_service_connections() -> None:
    assert redis.utils.HIREDIS_AVAILABLE, "hiredis is missing: `pip install -e .` brings it"
    pool = redis_client(toy()).connection_pool

    connection = pool.make_connection()  # type: ignore[no-untyped-call]

    assert isinstance(connection._parser, _AsyncHiredisParser)


async def test_the_client_waits_on_a_blocking_pool_sized_by_the_settings() -> None:
    client = redis_client(toy(redis_pool_size=7, redis_pool_timeout_s=2.5))
    try:
        pool = client.connection_pool
        assert isinstance(pool, BlockingConnectionPool)
        assert (pool.max_connections, pool.timeout) == (7, 2.5)
        assert pool.connection_kwargs["decode_responses"] is False
    finally:
        await client.aclose()


async def test_the_defaults_are_64_connections_and_a_5_s_wait() -> None:
    client = redis_client(toy())
    try:
        pool = client.connection_pool
        assert isinstance(pool, BlockingConnectionPool)
        assert (pool.max_connections, pool.timeout) == (64, 5.0)
    finally:
        await client.aclose()


async def test_tls_user_password_and_db_are_read_from_the_url_as_redis_from_url_does() -> None:
    ours = redis_client(toy(redis_url=TLS_URL))
    theirs = Redis.from_url(TLS_URL, decode_responses=False)
    try:
        assert ours.connection_pool.connection_class is SSLConnection
        assert connection_kwargs(ours) == connection_kwargs(theirs)
        assert connection_kwargs(ours)["username"] == "mmx"
        assert connection_kwargs(ours)["ssl_ca_certs"] == "/etc/mmx/ca.crt"
        assert connection_kwargs(ours)["db"] == 3
    finally:
        await ours.aclose()
        await theirs.aclose()


@pytest.mark.parametrize("query", ["max_connections=10", "timeout=3"])
def test_a_url_that_would_override_the_pool_settings_is_refused_without_its_password(
    query: str,
) -> None:
    settings = toy(redis_url=f"redis://:{SECRET}@127.0.0.1:6379/0?{query}")

    with pytest.raises(ValueError, match="MMX_TOY_REDIS_POOL_SIZE") as refused:
        redis_client(settings)

    assert query.split("=")[0] in str(refused.value)
    assert SECRET not in str(refused.value)


@pytest.mark.parametrize("size", [0, -1, REDIS_POOL_SIZE_MAX + 1])
def test_a_pool_size_out_of_range_is_refused_naming_the_variable(size: int) -> None:
    with pytest.raises(ValidationError) as refused:
        toy(redis_pool_size=size)

    message = str(refused.value)
    assert f"MMX_TOY_REDIS_POOL_SIZE={size} is out of range" in message
    assert f"from 1 to {REDIS_POOL_SIZE_MAX}" in message


@pytest.mark.parametrize("timeout_s", [0.0, -1.0, float("nan"), REDIS_POOL_TIMEOUT_MAX_S + 1])
def test_a_pool_timeout_out_of_range_is_refused_naming_the_variable(timeout_s: float) -> None:
    with pytest.raises(ValidationError) as refused:
        toy(redis_pool_timeout_s=timeout_s)

    message = str(refused.value)
    assert "MMX_TOY_REDIS_POOL_TIMEOUT_S=" in message
    assert "above 0 and at most 60" in message


def test_pool_settings_come_from_each_service_prefix_in_the_environment(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv("MMX_GATEWAY_REDIS_POOL_SIZE", "12")
    monkeypatch.setenv("MMX_GATEWAY_REDIS_POOL_TIMEOUT_S", "0.5")
    monkeypatch.setenv("MMX_TOY_REDIS_POOL_SIZE", "3")

    gateway = GatewaySettings()

    assert (gateway.redis_pool_size, gateway.redis_pool_timeout_s) == (12, 0.5)
    assert toy().redis_pool_size == 3


def test_a_bad_pool_size_in_the_environment_fails_at_start_with_a_clear_message(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv("MMX_GATEWAY_REDIS_POOL_SIZE", "0")

    with pytest.raises(ValidationError, match=r"MMX_GATEWAY_REDIS_POOL_SIZE=0 is out of range"):
        GatewaySettings()


def test_a_non_number_pool_size_is_refused() -> None:
    with pytest.raises(ValidationError, match="redis_pool_size"):
        toy(redis_pool_size="many")
