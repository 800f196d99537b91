"""The engine's client on a real Redis Cluster (the `libs.common.redis_cluster` rig: 3 primaries,
3 replicas, `redis-server` children; `tests.redis_cluster` fixtures).

`redis_from_url` of a `redis+cluster://` URL round-trips keys on every shard; a command or
script whose keys span slots is refused (by the client before sending, and by the server
with CROSSSLOT when sent anyway: the rig is a real cluster), one whose keys share a hash tag
runs; the bus's client check accepts the bytes cluster client and refuses a decoding one.
Then a primary is SIGKILLed on a rig of the test's own: its replica is promoted, and the
same client object reads, from it, what was written (and replicated) before the kill.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Awaitable, Callable
from typing import TypeVar

import pytest
import redis
from redis.asyncio import Redis
from redis.asyncio.cluster import ClusterNode, RedisCluster
from redis.asyncio.retry import Retry
from redis.backoff import NoBackoff
from redis.exceptions import (
    ClusterCrossSlotError,
    ClusterDownError,
    RedisClusterException,
    RedisClusterUnreachableError,
)
from redis.exceptions import ConnectionError as RedisConnectionError
from redis.exceptions import TimeoutError as RedisTimeoutError

from libs.common.bus_loop import require_bytes_client
from libs.common.bus_types import BusConfigError
from libs.common.redis_cluster import RedisClusterRig
from libs.common.redis_connect import redis_from_url

pytestmark = [pytest.mark.integration, pytest.mark.timeout(60)]

T = TypeVar("T")

DURING_FAILOVER = (
    RedisConnectionError,
    RedisTimeoutError,
    ClusterDownError,
    RedisClusterUnreachableError,
)
"""What a command may fail with during a failover, as `redis_from_url` says: any other error
fails the test."""
KEYS = [f"order:{n}" for n in range(12)]
"""Enough keys to land on every one of the 3 shards."""


def as_cluster(client: Redis) -> RedisCluster:
    assert isinstance(client, RedisCluster)
    return client


async def retried(command: Callable[[], Awaitable[T]], failures: list[Exception]) -> T:
    """`command`'s result, retried every 100 ms (up to 15 s) while it fails as a command
    may during a failover, each failure appended to `failures`."""
    deadline = time.monotonic() + 15.0
    while True:
        try:
            return await command()
        except DURING_FAILOVER as error:
            failures.append(error)
            if time.monotonic() >= deadline:
                raise
            await asyncio.sleep(0.1)


async def errors_until(stop: asyncio.Event, command: Callable[[], Awaitable[object]]) -> list[str]:
    """The names of the errors `command` fails with, run every 50 ms until `stop` is set."""
    seen = []
    while not stop.is_set():
        try:
            await command()
        except Exception as error:  # each is named, for the test to judge
            seen.append(type(error).__name__)
        await asyncio.sleep(0.05)
    return seen


async def test_a_cluster_client_round_trips_keys_on_every_shard(redis_cluster_url: str) -> None:
    client = redis_from_url(redis_cluster_url, pool_size=4)
    try:
        for n, key in enumerate(KEYS):
            assert await client.set(key, f"v{n}".encode()) is True
        assert [await client.get(key) for key in KEYS] == [f"v{n}".encode() for n in range(12)]

        cluster = as_cluster(client)
        assert len({cluster.keyslot(key) for key in KEYS}) == len(KEYS)
        shards = {cluster.get_node_from_key(key).name for key in KEYS}
        assert len(shards) == 3, shards
    finally:
        await client.aclose()


async def test_a_command_or_script_across_slots_is_refused_with_crossslot(
    redis_cluster_url: str,
) -> None:
    client = redis_from_url(redis_cluster_url, pool_size=4)
    cluster = as_cluster(client)
    a, b = "account:1", "account:2"
    assert cluster.keyslot(a) != cluster.keyslot(b)
    two_keys = "return {redis.call('GET', KEYS[1]), redis.call('GET', KEYS[2])}"
    try:
        await client.set(a, b"1")
        # the client refuses before sending anything
        with pytest.raises(RedisClusterException, match="all keys must map to the same key slot"):
            await client.mget(a, b)
        with pytest.raises(RedisClusterException, match="all keys must map to the same key slot"):
            await client.register_script(two_keys)(keys=[a, b])
        # sent anyway, straight to the node of the first key: the server says CROSSSLOT
        node = cluster.get_node_from_key(a)
        with pytest.raises(ClusterCrossSlotError, match="don't hash to the same slot"):
            await cluster.execute_command("MGET", a, b, target_nodes=node)
        with pytest.raises(ClusterCrossSlotError, match="don't hash to the same slot"):
            await cluster.execute_command("EVAL", two_keys, 2, a, b, target_nodes=node)
    finally:
        await client.aclose()


async def test_a_script_whose_keys_share_a_hash_tag_runs(redis_cluster_url: str) -> None:
    client = redis_from_url(redis_cluster_url, pool_size=4)
    keys = ["{account:1}:cash", "{account:1}:reserved"]
    assert as_cluster(client).keyslot(keys[0]) == as_cluster(client).keyslot(keys[1])
    move = client.register_script(
        "redis.call('DECRBY', KEYS[1], ARGV[1]) return redis.call('INCRBY', KEYS[2], ARGV[1])"
    )
    try:
        await client.set(keys[0], b"100")

        assert await move(keys=keys, args=[30]) == 30
        assert await move(keys=keys, args=[5]) == 35
        assert await client.get(keys[0]) == b"65"
    finally:
        await client.aclose()


async def test_the_bus_accepts_the_bytes_cluster_client_and_refuses_a_decoding_one(
    redis_cluster_url: str,
) -> None:
    client = redis_from_url(redis_cluster_url, pool_size=4)
    host, _, port = redis_cluster_url.removeprefix("redis+cluster://").split(",")[0].rpartition(":")
    decoding = RedisCluster(startup_nodes=[ClusterNode(host, int(port))], decode_responses=True)
    try:
        require_bytes_client(client)
        assert await client.ping() is True
        with pytest.raises(BusConfigError, match="decode_responses=False"):
            require_bytes_client(decoding)  # type: ignore[arg-type]
        assert await decoding.get("nothing") is None  # it is a working client all the same
    finally:
        await client.aclose()
        await decoding.aclose()


async def test_the_same_client_reads_what_was_replicated_after_its_primary_fails_over(
    private_redis_cluster: RedisClusterRig,
) -> None:
    rig = private_redis_cluster
    client = redis_from_url(rig.url, pool_size=4)
    key, elsewhere = "orders:{account:1}", "orders:{account:2}"
    # a client that never retries, to see what the failover does to another shard's slots
    bare = RedisCluster(
        startup_nodes=[ClusterNode("127.0.0.1", rig.servers[0].port)], retry=Retry(NoBackoff(), 0)
    )
    try:
        await client.ping()  # the client learns the slot map
        assert await bare.set(elsewhere, b"other") is True
        primary = as_cluster(client).get_node_from_key(key)
        assert bare.get_node_from_key(elsewhere).name != primary.name
        async with client.pipeline(transaction=False) as pipe:  # one connection per node
            pipe.set(key, b"before")
            # WAIT has no key: without target_nodes it goes to any node, where it waits
            # for nothing; with it, it follows the SET on the same connection
            pipe.execute_command("WAIT", 1, 1000, target_nodes=primary)
            assert await pipe.execute() == [True, 1], "the replica did not acknowledge"
        (replica,) = rig.replicas_for(key)
        with redis.Redis(port=replica.port) as direct:
            direct.execute_command("READONLY")
            assert direct.get(key) == b"before"  # the replica holds it, as WAIT said

        killed_at = time.monotonic()
        killed = rig.kill_primary_for(key)
        failures: list[Exception] = []
        read = asyncio.create_task(retried(lambda: client.get(key), failures))
        stop = asyncio.Event()
        other_shard = asyncio.create_task(errors_until(stop, lambda: bare.get(elsewhere)))
        promoted = await asyncio.to_thread(rig.wait_for_failover, key, 15.0)
        failover_s = time.monotonic() - killed_at
        value = await read
        read_s = time.monotonic() - killed_at
        stop.set()
        elsewhere_errors = await other_shard

        assert value == b"before"
        assert promoted.port == replica.port != killed.port
        assert as_cluster(client).get_node_from_key(key).port == promoted.port
        assert await client.set(key, b"after") is True
        assert await client.get(key) == b"after"
        assert set(elsewhere_errors) <= {"ClusterDownError"}, elsewhere_errors
        assert await bare.get(elsewhere) == b"other"
        seen = sorted({type(error).__name__ for error in failures}) or "none: retried inside"
        print(
            f"\nfailover of port {killed.port} to {promoted.port}: cluster_state ok again "
            f"{failover_s:.2f} s after the kill; the client's read returned after "
            f"{read_s:.2f} s; errors the caller saw: {seen}; a client without retries "
            f"reading another shard saw {len(elsewhere_errors)} ClusterDownError(s)"
        )
    finally:
        await client.aclose()
        await bare.aclose()
