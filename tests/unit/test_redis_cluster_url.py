"""`REDIS_URL` in its Redis Cluster form: what `redis+cluster://` and `rediss+cluster://` URLs
mean, which are refused and how the refusal says what to fix without showing the password,
and the client a service builds from one (no connection: the cluster itself is in
tests/integration/test_redis_cluster_rig.py)."""

from __future__ import annotations

import pytest
from pydantic_settings import SettingsConfigDict
from redis.asyncio import Redis
from redis.asyncio.cluster import RedisCluster
from redis.asyncio.connection import Connection, SSLConnection

from libs.common.redis_connect import decodes_responses, redis_from_url
from libs.common.redis_url import (
    CLUSTER_SCHEME,
    CLUSTER_URL_FORM,
    ClusterUrl,
    is_cluster_url,
    is_sentinel_url,
    parse_cluster_url,
    parse_sentinel_url,
)
from libs.common.service import ServiceSettings, redis_client

SECRET = "s3cret-p@ss/word"
ENCODED = "s3cret-p%40ss%2Fword"


class ToySettings(ServiceSettings):
    model_config = SettingsConfigDict(env_prefix="MMX_TOY_", extra="ignore", frozen=True)

    port: int = 9999


@pytest.mark.parametrize(
    ("url", "expected"),
    [
        (
            "redis+cluster://127.0.0.1:7000,127.0.0.1:7001",
            ClusterUrl(nodes=(("127.0.0.1", 7000), ("127.0.0.1", 7001))),
        ),
        ("redis+cluster://node-a", ClusterUrl(nodes=(("node-a", 6379),))),
        ("redis+cluster://node-a/", ClusterUrl(nodes=(("node-a", 6379),))),
        ("redis+cluster://node-a:7000/0", ClusterUrl(nodes=(("node-a", 7000),))),
        ("REDIS+CLUSTER://node-a/0/", ClusterUrl(nodes=(("node-a", 6379),))),
        (
            "redis+cluster://[::1]:7000,[fe80::1],10.0.0.3",
            ClusterUrl(nodes=(("::1", 7000), ("fe80::1", 6379), ("10.0.0.3", 6379))),
        ),
        (
            f"redis+cluster://mmx:{ENCODED}@n1:7000,n2:7001/0",
            ClusterUrl(nodes=(("n1", 7000), ("n2", 7001)), username="mmx", password=SECRET),
        ),
        ("redis+cluster://:pw@n1", ClusterUrl(nodes=(("n1", 6379),), password="pw")),
        ("redis+cluster://app@n1", ClusterUrl(nodes=(("n1", 6379),), username="app")),
        ("rediss+cluster://n1:6380", ClusterUrl(nodes=(("n1", 6380),), ssl=True)),
        (
            "redis+cluster://n1?socket_timeout=0.5&socket_connect_timeout=2",
            ClusterUrl(nodes=(("n1", 6379),), socket_timeout=0.5, socket_connect_timeout=2.0),
        ),
    ],
)
def test_a_cluster_url_names_the_startup_nodes_the_credentials_tls_and_the_timeouts(
    url: str, expected: ClusterUrl
) -> None:
    assert is_cluster_url(url)
    assert not is_sentinel_url(url)
    assert parse_cluster_url(url) == expected


@pytest.mark.parametrize(
    "url",
    ["redis://127.0.0.1:6379/0", "rediss://h:6380/0", "redis+sentinel://s1/mymaster", "h:1"],
)
def test_the_other_redis_urls_are_not_cluster_urls(url: str) -> None:
    assert not is_cluster_url(url)


@pytest.mark.parametrize(
    ("url", "what"),
    [
        ("redis://n1:7000", "the scheme is redis://: expected redis+cluster://"),
        ("cluster://n1:7000", "the scheme is cluster://"),
        ("redis+sentinel://n1/mymaster", "the scheme is redis+sentinel://"),
        ("n1:7000", "the scheme is no scheme"),
        ("redis+cluster://", "names no node host"),
        ("redis+cluster:///0", "names no node host"),
        ("redis+cluster://:pw@/0", "names no node host"),
        ("redis+cluster://n1:port", "'n1:port' has no valid port"),
        ("redis+cluster://n1:0", "'n1:0' has no valid port"),
        ("redis+cluster://n1:70000", "'n1:70000' has no valid port"),
        ("redis+cluster://n1:", "'n1:' has no valid port"),
        ("redis+cluster://n1:7000,,n2:7001", "has no host (an empty item"),
        ("redis+cluster://n1:7000,:7001", "':7001' has no host"),
        ("redis+cluster://[::1]x", "is not [IPv6]:port"),
        ("redis+cluster://[::1", "cannot be split into its parts"),
        ("redis+cluster://n1/1", "it names database 1: a Redis Cluster has only database 0"),
        ("redis+cluster://n1/15/", "it names database 15"),
        ("redis+cluster://n1/zero", "its path '/zero' is not empty or /0"),
        ("redis+cluster://n1/0/x", "its path '/0/x' is not empty or /0"),
        ("redis+cluster://n1//", "its path '//' is not empty or /0"),
        ("redis+cluster://n1?ssl=true", "the option 'ssl' is not one of socket_timeout, "),
        ("redis+cluster://n1?sentinel_password=x", "the option 'sentinel_password' is not"),
        ("redis+cluster://n1?socket_timeout=1&socket_timeout=2", "is given twice"),
        ("redis+cluster://n1?socket_timeout=0", "socket_timeout='0' is not a number"),
        ("redis+cluster://n1?socket_connect_timeout=inf", "above 0"),
        ("redis+cluster://n1#x", "#fragment"),
    ],
)
def test_a_malformed_cluster_url_is_refused_naming_the_fault_and_the_expected_form(
    url: str, what: str
) -> None:
    with pytest.raises(ValueError) as refused:
        parse_cluster_url(url)

    message = str(refused.value)
    assert message.startswith("bad Redis Cluster URL: ")
    assert what in message
    assert message.endswith(f"expected {CLUSTER_URL_FORM}")


@pytest.mark.parametrize(
    "url",
    [
        f"redis+cluster://mmx:{SECRET}@n1:port",
        f"redis+cluster://mmx:{SECRET}@n1/3",
        f"redis+cluster://mmx:{SECRET}@n1?ssl=1",
        f"redis+cluster://mmx:{SECRET}@",
        f"rediss+sentinel://mmx:{SECRET}@n1",
        f"redis+cluster://mmx:{SECRET}@[::1",
        # an unencoded '/', '?' or '#' ends the host list inside the password
        "redis+cluster://mmx:Zq9/x7@n1:7000",
        "redis+cluster://mmx:Zq9?x7@n1:7000",
        "redis+cluster://mmx:Zq9#x7@n1:7000",
        "redis+cluster://mmx:Zq9?socket_timeout=1&x7@n1:7000",
    ],
)
def test_a_refusal_never_shows_the_password(url: str) -> None:
    with pytest.raises(ValueError) as refused:
        parse_cluster_url(url)

    message = str(refused.value)
    assert SECRET not in message
    assert "Zq9" not in message and "x7" not in message


def test_a_password_with_an_unencoded_separator_is_refused_saying_to_encode_it() -> None:
    with pytest.raises(ValueError, match="must be percent-encoded"):
        parse_cluster_url("redis+cluster://mmx:Zq9/x7@n1:7000")


def test_a_parsed_url_does_not_show_the_password() -> None:
    parsed = parse_cluster_url(f"redis+cluster://mmx:{ENCODED}@n1")

    assert SECRET not in repr(parsed)
    assert parsed.password == SECRET


async def test_a_cluster_url_gives_a_bytes_cluster_client_with_the_pool_size_per_node() -> None:
    client = redis_from_url(
        f"redis+cluster://mmx:{ENCODED}@n1:7000,[::1]:7001?socket_timeout=1.5", pool_size=7
    )
    try:
        assert isinstance(client, RedisCluster)
        startup = client.nodes_manager.startup_nodes.values()
        assert [(node.host, node.port) for node in startup] == [("n1", 7000), ("::1", 7001)]
        assert all(node.max_connections == 7 for node in startup)
        kwargs = client.connection_kwargs
        assert (kwargs["username"], kwargs["password"]) == ("mmx", SECRET)
        assert (kwargs["decode_responses"], kwargs["socket_timeout"]) == (False, 1.5)
        assert kwargs["connection_class"] is Connection
        assert client.nodes_manager.require_full_coverage is True
        assert decodes_responses(client) is False
    finally:
        await client.aclose()


async def test_a_tls_cluster_url_connects_every_node_over_tls() -> None:
    client = redis_from_url("rediss+cluster://n1:6380")
    try:
        assert isinstance(client, RedisCluster)
        assert client.connection_kwargs["connection_class"] is SSLConnection
    finally:
        await client.aclose()


async def test_decodes_responses_reads_both_kinds_of_client() -> None:
    clients = [
        Redis(decode_responses=True),
        Redis(),
        RedisCluster(host="n1", port=7000, decode_responses=True),
        RedisCluster(host="n1", port=7000),
    ]
    try:
        assert [decodes_responses(client) for client in clients] == [True, False, True, False]
    finally:
        for client in clients:
            await client.aclose()


async def test_a_service_builds_its_cluster_client_from_the_settings() -> None:
    settings = ToySettings(redis_url=f"{CLUSTER_SCHEME}://n1:7000,n2:7001", redis_pool_size=5)
    client = redis_client(settings)
    try:
        assert isinstance(client, RedisCluster)
        assert all(n.max_connections == 5 for n in client.nodes_manager.startup_nodes.values())
    finally:
        await client.aclose()


@pytest.mark.parametrize("query", ["max_connections=10", "timeout=3"])
def test_a_cluster_url_that_would_override_the_pool_settings_is_refused(query: str) -> None:
    settings = ToySettings(redis_url=f"redis+cluster://:{ENCODED}@n1:7000?{query}")

    with pytest.raises(ValueError, match="MMX_TOY_REDIS_POOL_SIZE") as refused:
        redis_client(settings)

    assert SECRET not in str(refused.value) and ENCODED not in str(refused.value)


def test_a_malformed_cluster_url_fails_when_the_client_is_built() -> None:
    with pytest.raises(ValueError, match="a Redis Cluster has only database 0"):
        redis_client(ToySettings(redis_url="redis+cluster://n1:7000/2"))


def test_the_sentinel_form_shares_the_refusal_of_an_unencoded_password() -> None:
    with pytest.raises(ValueError, match="must be percent-encoded") as refused:
        parse_sentinel_url("redis+sentinel://mmx:Zq9/x7@s1:26379/mymaster")

    assert str(refused.value).startswith("bad Redis Sentinel URL: ")
    assert "Zq9" not in str(refused.value) and "x7" not in str(refused.value)
