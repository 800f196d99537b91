"""`REDIS_URL` in its Sentinel form: what `redis+sentinel://` URLs mean, which are refused and
how the refusal says what to fix, and the client a service builds from one (no connection:
the failover itself is in tests/integration/test_redis_sentinel.py)."""

from __future__ import annotations

from typing import Any

import pytest
from pydantic_settings import SettingsConfigDict
from redis.asyncio import BlockingConnectionPool
from redis.asyncio.sentinel import SentinelConnectionPool

from libs.common.redis_connect import redis_from_url
from libs.common.redis_url import (
    SENTINEL_URL_FORM,
    SentinelUrl,
    is_sentinel_url,
    parse_sentinel_url,
)
from libs.common.service import ServiceSettings, redis_client

SECRET = "s3cret-p@ss"


class ToySettings(ServiceSettings):
    model_config = SettingsConfigDict(env_prefix="MMX_TOY_", extra="ignore", frozen=True)

    port: int = 9999


@pytest.mark.parametrize(
    ("url", "expected"),
    [
        (
            "redis+sentinel://127.0.0.1:26379,127.0.0.1:26380/mymaster/0",
            SentinelUrl(sentinels=(("127.0.0.1", 26379), ("127.0.0.1", 26380)), service="mymaster"),
        ),
        (
            "redis+sentinel://sentinel-a/mymaster",
            SentinelUrl(sentinels=(("sentinel-a", 26379),), service="mymaster"),
        ),
        (
            "REDIS+SENTINEL://[::1]:26390,[fe80::1]/cache/5/",
            SentinelUrl(sentinels=(("::1", 26390), ("fe80::1", 26379)), service="cache", db=5),
        ),
        (
            "redis+sentinel://mmx:s3cret-p%40ss@s1:26379/mymaster/3",
            SentinelUrl(
                sentinels=(("s1", 26379),),
                service="mymaster",
                db=3,
                username="mmx",
                password=SECRET,
            ),
        ),
        (
            "redis+sentinel://:s3cret-p@ss@s1/mymaster",
            SentinelUrl(sentinels=(("s1", 26379),), service="mymaster", password=SECRET),
        ),
        (
            "redis+sentinel://s1/my%20master?sentinel_username=watch&sentinel_password=pw"
            "&socket_timeout=0.5&socket_connect_timeout=2",
            SentinelUrl(
                sentinels=(("s1", 26379),),
                service="my master",
                sentinel_username="watch",
                sentinel_password="pw",
                socket_timeout=0.5,
                socket_connect_timeout=2.0,
            ),
        ),
    ],
)
def test_a_sentinel_url_names_the_sentinels_the_service_the_db_and_the_credentials(
    url: str, expected: SentinelUrl
) -> None:
    assert is_sentinel_url(url)
    assert parse_sentinel_url(url) == expected


@pytest.mark.parametrize(
    "url", ["redis://127.0.0.1:6379/0", "rediss://h:6380/0", "unix:///tmp/redis.sock", "h:1"]
)
def test_the_other_redis_urls_are_not_sentinel_urls(url: str) -> None:
    assert not is_sentinel_url(url)


@pytest.mark.parametrize(
    ("url", "what"),
    [
        ("rediss+sentinel://s1:26379/mymaster", "TLS to Sentinel is not supported"),
        ("sentinel://s1:26379/mymaster", "expected redis+sentinel://"),
        ("redis+sentinel:///mymaster", "names no sentinel host"),
        ("redis+sentinel://s1:26379", "names no service"),
        ("redis+sentinel://s1:26379/", "names no service"),
        ("redis+sentinel://s1:26379//0", "names no service"),
        ("redis+sentinel://s1:26379/mymaster/zero", "the database 'zero' is not a number"),
        ("redis+sentinel://s1:26379/mymaster/-1", "the database '-1' is not a number"),
        ("redis+sentinel://s1:26379/mymaster/0/x", "has more than /service/db"),
        ("redis+sentinel://s1:port/mymaster", "'s1:port' has no valid port"),
        ("redis+sentinel://s1:70000/mymaster", "'s1:70000' has no valid port"),
        ("redis+sentinel://s1:/mymaster", "'s1:' has no valid port"),
        ("redis+sentinel://s1:26379,,s2:26379/mymaster", "has no host"),
        ("redis+sentinel://s1:26379,:26380/mymaster", "':26380' has no host"),
        ("redis+sentinel://[::1]x/mymaster", "is not [IPv6]:port"),
        ("redis+sentinel://s1/mymaster?ssl=true", "the option 'ssl' is not one of"),
        ("redis+sentinel://s1/mymaster?socket_timeout=0", "socket_timeout='0' is not a number"),
        ("redis+sentinel://s1/mymaster?socket_timeout=nan", "above 0"),
        ("redis+sentinel://s1/mymaster?socket_timeout=1&socket_timeout=2", "is given twice"),
        ("redis+sentinel://s1/mymaster#primary", "#fragment"),
    ],
)
def test_a_malformed_sentinel_url_is_refused_naming_the_fault_and_the_expected_form(
    url: str, what: str
) -> None:
    with pytest.raises(ValueError) as refused:
        parse_sentinel_url(url)

    message = str(refused.value)
    assert message.startswith("bad Redis Sentinel URL: ")
    assert what in message
    assert message.endswith(f"expected {SENTINEL_URL_FORM}")


def test_a_refusal_never_shows_the_password() -> None:
    with pytest.raises(ValueError) as refused:
        parse_sentinel_url(f"redis+sentinel://mmx:{SECRET}@s1:26379/mymaster/nope")

    assert SECRET not in str(refused.value)
    assert SECRET not in repr(parse_sentinel_url(f"redis+sentinel://mmx:{SECRET}@s1/mymaster"))


def pool_kwargs(pool: Any) -> dict[str, Any]:
    return {k: pool.connection_kwargs.get(k) for k in ("username", "password", "db")}


async def test_a_sentinel_url_gives_a_waiting_sentinel_pool_sized_by_the_settings() -> None:
    url = f"redis+sentinel://mmx:{SECRET.replace('@', '%40')}@s1:26379,s2:26380/mymaster/2"
    client = redis_client(ToySettings(redis_url=url, redis_pool_size=7, redis_pool_timeout_s=2.5))
    try:
        pool = client.connection_pool
        assert isinstance(pool, SentinelConnectionPool)
        assert isinstance(pool, BlockingConnectionPool)
        assert (pool.service_name, pool.is_master) == ("mymaster", True)
        assert (pool.max_connections, pool.timeout) == (7, 2.5)
        assert pool.connection_kwargs["decode_responses"] is False
        assert pool_kwargs(pool) == {"username": "mmx", "password": SECRET, "db": 2}
        sentinels = pool.sentinel_manager.sentinels
        assert [s.connection_pool.connection_kwargs["port"] for s in sentinels] == [26379, 26380]
        assert all(s.connection_pool.connection_kwargs.get("password") is None for s in sentinels)
    finally:
        await client.aclose()


async def test_the_sentinels_get_their_own_credentials_and_both_get_the_timeouts() -> None:
    client = redis_from_url(
        "redis+sentinel://:pw@s1/mymaster?sentinel_password=spw&socket_connect_timeout=1.5"
    )
    try:
        pool = client.connection_pool
        (sentinel,) = pool.sentinel_manager.sentinels  # type: ignore[attr-defined]
        assert sentinel.connection_pool.connection_kwargs["password"] == "spw"
        assert sentinel.connection_pool.connection_kwargs["socket_connect_timeout"] == 1.5
        assert pool.connection_kwargs["password"] == "pw"
        assert pool.connection_kwargs["socket_connect_timeout"] == 1.5
    finally:
        await client.aclose()


@pytest.mark.parametrize("query", ["max_connections=10", "timeout=3"])
def test_a_sentinel_url_that_would_override_the_pool_settings_is_refused(query: str) -> None:
    settings = ToySettings(redis_url=f"redis+sentinel://:{SECRET}@s1/mymaster?{query}")

    with pytest.raises(ValueError, match="MMX_TOY_REDIS_POOL_SIZE") as refused:
        redis_client(settings)

    assert SECRET not in str(refused.value)


def test_a_malformed_sentinel_url_fails_when_the_client_is_built() -> None:
    with pytest.raises(ValueError, match="names no service"):
        redis_client(ToySettings(redis_url="redis+sentinel://s1:26379"))
