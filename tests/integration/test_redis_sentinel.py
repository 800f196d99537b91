"""A service's Redis client through a Sentinel failover.

A real primary, a replica of it and one sentinel (the `sentinel_cluster` fixture of
`tests.redis_sentinel`), new for each test. The client that `redis_client(settings)` builds
from the `redis+sentinel://` URL writes and reads on the primary; the primary is SIGKILLed; a
write begun at once meets `ConnectionError`s (retried by the test, as a service's retry would)
until the sentinel has promoted the replica, then lands there, on the same client object,
beside what was replicated before the kill. The operator commands' client (`mmx keys`,
`mmx dlq`) takes the same URL; the pool still waits when full; an unknown service is a clear
`ConnectionError`.
"""

from __future__ import annotations

import argparse
import asyncio
import signal
import time
from collections.abc import Awaitable, Callable
from typing import TypeVar

import pytest
from pydantic_settings import SettingsConfigDict
from redis.asyncio import Redis
from redis.exceptions import ConnectionError as RedisConnectionError

from libs.common.service import ServiceSettings, redis_client
from libs.common.stores.risk_state_redis import REPLICATION_WAIT_MS, RedisRiskStateStore
from services.cli import redact_url
from services.redis_cli import run_with_redis
from services.stack import redis_probe
from tests.redis_sentinel import SentinelCluster

pytestmark = [pytest.mark.integration, pytest.mark.timeout(60)]

T = TypeVar("T")


class ToySettings(ServiceSettings):
    model_config = SettingsConfigDict(env_prefix="MMX_TOY_", extra="ignore", frozen=True)

    port: int = 9999


async def retried(
    command: Callable[[], Awaitable[T]], failures: list[RedisConnectionError], timeout_s: float
) -> T:
    """`command`'s result, retried every 100 ms while it fails with `ConnectionError` (as
    during a failover), each failure appended to `failures`."""
    deadline = time.monotonic() + timeout_s
    while True:
        try:
            return await command()
        except RedisConnectionError as error:
            failures.append(error)
            if time.monotonic() >= deadline:
                raise
            await asyncio.sleep(0.1)


async def served_by(client: Redis) -> tuple[int, bytes]:
    """The port and role of the server `client`'s commands reach."""
    server = await client.info("server")
    role = await client.role()
    return int(server["tcp_port"]), role[0]


async def test_the_same_client_follows_a_failover_to_the_promoted_replica(
    sentinel_cluster: SentinelCluster,
) -> None:
    client = redis_client(ToySettings(redis_url=sentinel_cluster.url, redis_pool_size=4))
    try:
        first_primary = sentinel_cluster.primary_port
        await client.set(b"before", b"1")
        assert await client.get(b"before") == b"1"
        assert await client.wait(1, 1000) == 1, "the replica did not acknowledge the write"
        assert await served_by(client) == (first_primary, b"master")

        sentinel_cluster.kill_primary()
        failures: list[RedisConnectionError] = []
        async with asyncio.TaskGroup() as both:  # the write spans the failover
            write = both.create_task(retried(lambda: client.set(b"after", b"2"), failures, 15.0))
            failover = both.create_task(asyncio.to_thread(sentinel_cluster.wait_failover, 10.0))
        promoted = failover.result()

        assert promoted == sentinel_cluster.replica_port != first_primary
        assert write.result() is True, "the write begun during the failover did not land"
        assert failures, "the write met no ConnectionError: was the primary really gone?"
        assert await client.get(b"after") == b"2"
        assert await client.get(b"before") == b"1"
        assert await served_by(client) == (promoted, b"master")
    finally:
        await client.aclose()


async def test_the_operator_commands_reach_the_primary_through_the_sentinel_url(
    sentinel_cluster: SentinelCluster,
) -> None:
    seen: list[tuple[int, bytes]] = []

    async def use(redis: Redis) -> int:
        seen.append(await served_by(redis))
        return 0

    args = argparse.Namespace(redis_url=sentinel_cluster.url)
    code = await asyncio.to_thread(run_with_redis, args, use, print)

    assert (code, seen) == (0, [(sentinel_cluster.primary_port, b"master")])


async def test_a_full_sentinel_pool_waits_for_a_connection_then_says_none_is_available(
    sentinel_cluster: SentinelCluster,
) -> None:
    client = redis_client(
        ToySettings(redis_url=sentinel_cluster.url, redis_pool_size=1, redis_pool_timeout_s=0.3)
    )
    try:
        held = await client.connection_pool.get_connection()  # type: ignore[no-untyped-call]
        started = time.monotonic()
        with pytest.raises(RedisConnectionError, match="No connection available"):
            await client.ping()
        assert time.monotonic() - started >= 0.3
        await client.connection_pool.release(held)
        assert await client.ping() is True
    finally:
        await client.aclose()


async def test_a_client_of_an_unknown_service_says_no_primary_is_found(
    sentinel_cluster: SentinelCluster,
) -> None:
    url = sentinel_cluster.url.replace(f"/{sentinel_cluster.service}/", "/no-such-service/")
    client = redis_client(ToySettings(redis_url=url))
    try:
        with pytest.raises(RedisConnectionError, match="No master found for 'no-such-service'"):
            await client.ping()
    finally:
        await client.aclose()


def test_mmx_up_pings_the_primary_through_the_sentinel_url(
    sentinel_cluster: SentinelCluster,
) -> None:
    assert redis_probe(sentinel_cluster.url).check()
    password_url = sentinel_cluster.url.replace("://", "://app:s3cret@")
    assert redact_url(password_url) == sentinel_cluster.url.replace("://", "://app:***@")


async def test_a_freeze_returns_only_once_the_replica_holds_it(
    sentinel_cluster: SentinelCluster, caplog: pytest.LogCaptureFixture
) -> None:
    """The replica is stopped (SIGSTOP) for 0.4 s, then for 1.5 s: the freeze waits for it
    the first time (WAIT), and gives up after REPLICATION_WAIT_MS the second, saying so."""
    client = redis_client(ToySettings(redis_url=sentinel_cluster.url, redis_pool_size=4))
    replica = sentinel_cluster.servers[sentinel_cluster.replica_port].process
    store = RedisRiskStateStore(client)
    try:
        for _ in range(200):  # the primary counts the replica once it is online
            if (await client.role())[2]:
                break
            await asyncio.sleep(0.05)
        else:
            pytest.fail("the primary never listed its replica as online")
        timings = []
        for stopped_s in (0.4, 1.5):
            replica.send_signal(signal.SIGSTOP)
            resume = asyncio.get_running_loop().call_later(
                stopped_s, replica.send_signal, signal.SIGCONT
            )
            started = time.monotonic()
            frozen = await store.freeze(f"test {stopped_s}", "tester", time.time_ns())
            timings.append(time.monotonic() - started)
            assert frozen.changed
            await asyncio.sleep(stopped_s + 0.1 - timings[-1])
            resume.cancel()
            replica.send_signal(signal.SIGCONT)
            await store.unfreeze("again", "tester", time.time_ns(), 0, force=True)

        assert timings[0] >= 0.35, timings  # it waited for the stopped replica
        assert REPLICATION_WAIT_MS / 1000 - 0.05 <= timings[1] < 1.45, timings  # not forever
        said = "trading state FROZEN written; 0 of 1 replica(s) acknowledged it within 1000 ms"
        assert said in [r.getMessage() for r in caplog.records]
        await store.freeze("first", "tester", time.time_ns())
        replica.send_signal(signal.SIGSTOP)
        try:
            same = time.monotonic()
            assert not (await store.freeze("second", "tester", time.time_ns())).changed
            assert time.monotonic() - same < 0.3  # only a change waits, not a no-op
        finally:
            replica.send_signal(signal.SIGCONT)
    finally:
        replica.send_signal(signal.SIGCONT)
        await client.aclose()
