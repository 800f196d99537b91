"""Every contract suite runs three times: against the fake (`[fake]`), against Redis
(`[redis]`) and against a Redis Cluster of 3 primaries and 3 replicas (`[cluster]`,
`tests/redis_cluster.py`), where a script or command whose keys cross hash slots fails.

A port's fixture gives two instances that share state, as two service instances would:
for Redis, stores over two separate clients (the second decodes responses, so both client
kinds are covered); for the fake, the same object twice.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable, Iterator
from typing import Any, cast

import pytest
import redis
import redis.asyncio as aioredis
from redis.asyncio.cluster import ClusterNode as AsyncNode
from redis.asyncio.cluster import RedisCluster as AsyncCluster
from redis.cluster import RedisCluster as SyncCluster

from libs.common.domain.ids import DEFAULT_ACCOUNT, VenueId
from libs.common.domain.orders import Order
from libs.common.redis_connect import redis_from_url
from libs.common.redis_url import parse_cluster_url
from libs.common.stores import (
    IdempotencyStore,
    InMemoryIdempotencyStore,
    InMemoryLeaseStore,
    InMemoryOrderStore,
    InMemoryPositionStore,
    InMemoryRateLimiter,
    InMemoryRiskStateStore,
    LeaseStore,
    OrderStore,
    PositionStore,
    RateLimit,
    RateLimiter,
    RedisIdempotencyStore,
    RedisLeaseStore,
    RedisOrderStore,
    RedisPositionStore,
    RedisRateLimiter,
    RedisRiskStateStore,
    RiskStateStore,
)
from libs.common.stores.exposure import LedgerState
from libs.common.topology import keys_of

Clients = tuple[aioredis.Redis, aioredis.Redis]


def _cluster(url: str, *, decode_responses: bool) -> aioredis.Redis:
    """An asyncio cluster client of `url` (`redis+cluster://`), as the engine builds it but
    decoding replies when asked."""
    parsed = parse_cluster_url(url)
    nodes = [AsyncNode(host, port) for host, port in parsed.nodes]
    return cast(
        aioredis.Redis, AsyncCluster(startup_nodes=nodes, decode_responses=decode_responses)
    )


def _plain(url: str) -> str:
    """`redis+cluster://h:p,...` as the `redis://h:p` of its first node (a cluster client
    finds the others)."""
    host, port = parse_cluster_url(url).nodes[0]
    return f"redis://{host}:{port}"


RATE_LIMITS = {"orders": RateLimit(limit=5, window_s=0.25), "other": RateLimit(2, 0.4)}
"""The buckets the rate limiter fixtures know."""


@pytest.fixture(
    params=[
        "fake",
        pytest.param("redis", marks=pytest.mark.integration),
        pytest.param("cluster", marks=pytest.mark.integration),
    ]
)
def backend(request: pytest.FixtureRequest) -> str:
    """Which implementation the suite runs against; `-m "not integration"` runs the fakes only."""
    return str(request.param)


@pytest.fixture
async def clients(backend: str, request: pytest.FixtureRequest) -> AsyncIterator[Clients | None]:
    """Two clients on the session's Redis db, flushed first (as the `redis` fixture does), or
    None for the fake. The first returns bytes, the second decodes responses."""
    if backend == "fake":
        yield None
        return
    if backend == "cluster":  # flushed by the fixture
        url: str = request.getfixturevalue("redis_cluster_url")
        first, second = redis_from_url(url), _cluster(url, decode_responses=True)
        for client in (first, second):  # the slot map now, not inside a test's timed steps
            await client.ping()
    else:  # the `redis_url` fixture only when needed: the fake runs need no server
        url = request.getfixturevalue("redis_url")
        first = aioredis.Redis.from_url(url)
        second = aioredis.Redis.from_url(url, decode_responses=True)
        await first.flushdb()
    try:
        yield first, second
    finally:
        await first.aclose()
        await second.aclose()


@pytest.fixture
def order_stores(clients: Clients | None) -> tuple[OrderStore, OrderStore]:
    if clients is None:
        fake = InMemoryOrderStore()
        return fake, fake
    return RedisOrderStore(clients[0]), RedisOrderStore(clients[1])


@pytest.fixture
def order_store(order_stores: tuple[OrderStore, OrderStore]) -> OrderStore:
    return order_stores[0]


@pytest.fixture
def foreign_write(
    order_store: OrderStore, backend: str, request: pytest.FixtureRequest
) -> Iterator[Callable[[Order], None]]:
    """Write a record bypassing compare-and-set, synchronously: a writer that always wins."""
    if isinstance(order_store, InMemoryOrderStore):
        yield order_store.force_put
        return
    client: Any = (
        SyncCluster.from_url(_plain(request.getfixturevalue("redis_cluster_url")))
        if backend == "cluster"
        else redis.Redis.from_url(request.getfixturevalue("redis_url"))
    )

    def write(order: Order) -> None:
        client.set(keys_of(DEFAULT_ACCOUNT).order(order.client_order_id), order.model_dump_json())

    try:
        yield write
    finally:
        client.close()


@pytest.fixture
def position_stores(clients: Clients | None) -> tuple[PositionStore, PositionStore]:
    if clients is None:
        fake = InMemoryPositionStore()
        return fake, fake
    return RedisPositionStore(clients[0]), RedisPositionStore(clients[1])


@pytest.fixture
def venue_position_stores(clients: Clients | None) -> tuple[PositionStore, PositionStore]:
    """The default account's position stores at Bybit and at Binance USDⓈ-M (one ledger)."""
    binance = VenueId("binance-usdm")
    if clients is None:
        ledger = LedgerState()
        return InMemoryPositionStore(ledger=ledger), InMemoryPositionStore(
            ledger=ledger, venue=binance
        )
    return RedisPositionStore(clients[0]), RedisPositionStore(clients[0], venue=binance)


@pytest.fixture
def risk_stores(clients: Clients | None) -> tuple[RiskStateStore, RiskStateStore]:
    if clients is None:
        fake = InMemoryRiskStateStore()
        return fake, fake
    return RedisRiskStateStore(clients[0]), RedisRiskStateStore(clients[1])


@pytest.fixture
def idempotency_stores(clients: Clients | None) -> tuple[IdempotencyStore, IdempotencyStore]:
    if clients is None:
        fake = InMemoryIdempotencyStore()
        return fake, fake
    return RedisIdempotencyStore(clients[0]), RedisIdempotencyStore(clients[1])


@pytest.fixture
def lease_stores(clients: Clients | None) -> tuple[LeaseStore, LeaseStore]:
    if clients is None:
        fake = InMemoryLeaseStore()
        return fake, fake
    return RedisLeaseStore(clients[0]), RedisLeaseStore(clients[1])


@pytest.fixture
def rate_limiters(clients: Clients | None) -> tuple[RateLimiter, RateLimiter]:
    if clients is None:
        fake = InMemoryRateLimiter(RATE_LIMITS)
        return fake, fake
    return RedisRateLimiter(clients[0], RATE_LIMITS), RedisRateLimiter(clients[1], RATE_LIMITS)
