"""Redis faults mid-flow: kill -9 of a durable Redis and a restart on the same AOF, a
Sentinel failover (kill -9 of the primary), a Redis Cluster failover (kill -9 of the primary
of the shard that holds the account's orders, positions and streams), and the loss of every
key (FLUSHALL). The
services ride through the outage (requests answered 503 meanwhile); nothing acknowledged is
lost, nothing is doubled or left behind. After the data loss the engine recovers from the
venue: reconciliation adopts the orders open there and replays the venue's executions into
fresh positions."""

from __future__ import annotations

import asyncio
from collections.abc import Iterator

import pytest
import redis.asyncio as aioredis

from libs.common import topology
from libs.common.domain.ids import DEFAULT_ACCOUNT
from libs.common.redis_cluster import RedisClusterRig
from libs.common.redis_connect import redis_from_url
from libs.common.redis_server import RedisServer, start_redis_server
from libs.common.topology import keys_of
from tests.e2e.conftest import StackFactory
from tests.e2e.harness import wait_for
from tests.faults.flow import OPEN_LIMITS
from tests.faults.scenario import assert_all_alive, fault_stack, run_scenario
from tests.redis_sentinel import SentinelCluster

pytestmark = pytest.mark.e2e


@pytest.fixture
def durable_redis() -> Iterator[RedisServer]:
    """A redis-server of this test's own, with an AOF fsynced before every acknowledgement."""
    server = start_redis_server(durable=True)
    try:
        yield server
    finally:
        server.stop()


async def test_kill_9_redis_and_restart_on_its_aof_loses_nothing(
    make_stack: StackFactory, durable_redis: RedisServer
) -> None:
    stack = await fault_stack(make_stack, redis_url=durable_redis.url)

    async def kill_and_restart() -> None:
        durable_redis.kill()
        await asyncio.sleep(1.5)
        await asyncio.to_thread(durable_redis.restart)

    await run_scenario(stack, "kill -9 Redis, restart on its AOF", inject=kill_and_restart)
    assert_all_alive(stack, "with Redis")


async def test_redis_cluster_failover_mid_flow_loses_nothing(
    make_stack: StackFactory, private_redis_cluster: RedisClusterRig
) -> None:
    cluster = private_redis_cluster
    stack = await fault_stack(make_stack, redis_url=cluster.url)
    account_slot = keys_of(DEFAULT_ACCOUNT).prefix  # every money-path key of the account

    async def fail_over() -> None:
        cluster.kill_primary_for(account_slot)
        await asyncio.to_thread(cluster.wait_for_failover, account_slot, 15.0)

    await run_scenario(stack, "Redis Cluster failover", inject=fail_over)
    assert_all_alive(stack, "in the cluster failover")


async def test_sentinel_failover_mid_flow_loses_nothing(
    make_stack: StackFactory, sentinel_cluster: SentinelCluster
) -> None:
    stack = await fault_stack(make_stack, redis_url=sentinel_cluster.url)

    async def fail_over() -> None:
        sentinel_cluster.kill_primary()
        await asyncio.to_thread(sentinel_cluster.wait_failover, 15.0)

    await run_scenario(stack, "Sentinel failover", inject=fail_over)
    assert_all_alive(stack, "in the failover")


async def test_redis_data_loss_mid_flow_is_recovered_from_the_venue(
    make_stack: StackFactory,
) -> None:
    stack = await fault_stack(make_stack)

    async def flush_everything() -> None:
        # Between two orders, once risk and the router have taken every command: an order
        # recorded and queued but not yet sent when Redis loses everything is gone with it
        # (the venue never saw it), which no recovery from the venue can undo.
        client = redis_from_url(stack.redis_url)
        try:
            await wait_for(lambda: _drained(client), what="every command taken", timeout_s=15)
            await client.flushall()
        finally:
            await client.aclose()
        # What an operator does after the loss: API keys and limits again (marks come back
        # on their own). Everything else the engine must recover from the venue.
        await stack.issue_keys()
        await stack.connect_gateway()
        await stack.set_limits(**OPEN_LIMITS)

    await run_scenario(
        stack, "Redis data loss (FLUSHALL)", inject=flush_everything, between_orders=True
    )


async def _drained(client: aioredis.Redis) -> bool:
    """Whether risk and the router have taken every command of the default account."""
    queues = (
        (topology.ORDERS_REQUESTS.of(DEFAULT_ACCOUNT), topology.Group.RISK),
        (topology.ORDERS_APPROVED.of(DEFAULT_ACCOUNT), topology.Group.ROUTER),
    )
    for stream, group in queues:
        for info in await client.xinfo_groups(stream.name):
            if info["name"].decode() == group and (int(info["lag"] or 0) or info["pending"]):
                return False
    return True
