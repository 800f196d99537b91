"""A real Redis Cluster for the test suite (a pytest plugin of `tests/conftest.py`).

Where the cluster comes from, first match wins:

1. `REDIS_CLUSTER_URL`, when set (a `redis+cluster://` or `rediss+cluster://` URL,
   `libs.common.redis_url`). The tests then FLUSHALL every primary of that cluster before each
   test that asks for `redis_cluster_url`: never point it at a cluster whose data you keep.
   Its nodes are not this suite's to kill: a test that needs `primary_for`,
   `kill_primary_for`, `wait_for_failover`, `servers` or a cluster of its own
   (`private_redis_cluster`) fails, saying so, rather than being skipped.
2. Otherwise a `libs.common.redis_cluster` rig: 3 primaries and 3 replicas, `redis-server`
   children on free ports of 127.0.0.1, started the first time a test asks for it (about
   2.5 s) and stopped by their pids at the end of the session.

Fixtures:

- `redis_cluster` (session): the rig, or the `ExternalRedisCluster` of `REDIS_CLUSTER_URL`;
- `redis_cluster_url`: its URL, every primary flushed before the test;
- `private_redis_cluster`: a rig of the test's own, stopped after it: for a test that kills
  nodes, which must not break the session's cluster for the tests after it.
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from dataclasses import dataclass
from typing import NoReturn

import pytest
from redis.cluster import ClusterNode, RedisCluster

from libs.common.redis_cluster import RedisClusterRig, start_redis_cluster
from libs.common.redis_server import RedisServer
from libs.common.redis_url import parse_cluster_url

ENV = "REDIS_CLUSTER_URL"


@dataclass
class ExternalRedisCluster:
    """The cluster `REDIS_CLUSTER_URL` names: read, written and flushed, never killed."""

    url: str

    @property
    def servers(self) -> list[RedisServer]:
        _not_ours("servers")

    def primary_for(self, key: str | bytes) -> RedisServer:
        _not_ours("primary_for")

    def kill_primary_for(self, key: str | bytes) -> RedisServer:
        _not_ours("kill_primary_for")

    def wait_for_failover(self, key: str | bytes, timeout_s: float = 10.0) -> RedisServer:
        _not_ours("wait_for_failover")

    def flush(self) -> None:
        """FLUSHALL on every primary."""
        parsed = parse_cluster_url(self.url)
        client = RedisCluster(
            startup_nodes=[ClusterNode(host, port) for host, port in parsed.nodes],
            username=parsed.username,
            password=parsed.password,
            ssl=parsed.ssl,
        )
        try:
            client.flushall(target_nodes=RedisCluster.PRIMARIES)
        finally:
            client.close()


def _not_ours(what: str) -> NoReturn:
    pytest.fail(
        f"{what} needs a cluster this suite started, and {ENV} names one it did not: "
        f"unset {ENV} to run this test on a local cluster of redis-server children",
        pytrace=False,
    )


@pytest.fixture(scope="session")
def redis_cluster() -> Iterator[RedisClusterRig | ExternalRedisCluster]:
    """The session's cluster; see the module docstring."""
    if url := os.environ.get(ENV):
        parse_cluster_url(url)  # fail early on a malformed REDIS_CLUSTER_URL
        yield ExternalRedisCluster(url)
        return
    with start_redis_cluster() as rig:
        yield rig


@pytest.fixture
def redis_cluster_url(redis_cluster: RedisClusterRig | ExternalRedisCluster) -> str:
    """The session's cluster URL, every primary flushed before the test."""
    redis_cluster.flush()
    return redis_cluster.url


@pytest.fixture
def private_redis_cluster() -> Iterator[RedisClusterRig]:
    """A rig of this test's own (`start_redis_cluster`), stopped after it."""
    if os.environ.get(ENV):
        _not_ours("a cluster of the test's own")
    with start_redis_cluster() as rig:
        yield rig
