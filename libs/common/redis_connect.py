"""A Redis client from a URL: what every service, operator command and tool connects with.

`redis_from_url(url)` reads `redis://`, `rediss://` and `unix://` as redis-py does, and
`redis+sentinel://`, `redis+cluster://` and `rediss+cluster://` as `libs.common.redis_url`
describes; a service builds its client with `libs.common.service.redis_client(settings)`,
which calls it with the pool size and wait from its settings. No I/O until the first command.
Whether a client decodes its replies is `decodes_responses(client)`, for every kind of client
this returns.
"""

from __future__ import annotations

from typing import Any, cast

from redis.asyncio import BlockingConnectionPool, Redis
from redis.asyncio.cluster import ClusterNode, RedisCluster
from redis.asyncio.sentinel import Sentinel, SentinelConnectionPool

from libs.common.redis_url import (
    ClusterUrl,
    SentinelUrl,
    is_cluster_url,
    is_sentinel_url,
    parse_cluster_url,
    parse_sentinel_url,
)

__all__ = ["BlockingSentinelConnectionPool", "decodes_responses", "redis_from_url"]


def redis_from_url(url: str, *, pool_size: int = 64, pool_timeout_s: float = 5.0) -> Redis:
    """A bytes client for `url` on a pool of `pool_size` connections that waits up to
    `pool_timeout_s` for a free one; what `redis_client` builds, for tools without settings.

    `redis+sentinel://` (`libs.common.redis_url`) gives a client of the primary the sentinels
    name, on a `BlockingSentinelConnectionPool`: each new connection asks the sentinels
    where the primary is, so after a failover the same client reaches the promoted replica.
    The commands that meet the failover itself fail with `ConnectionError` (the old primary
    is gone, or is now a replica): the caller's retry, as for any outage, carries them over.

    `redis+cluster://` and `rediss+cluster://` give a `redis.asyncio.cluster.RedisCluster`
    (typed as `Redis`: see `_cluster_client`). On its first command it learns the slot map
    from the first startup node that answers; it sends each command to the primary of its
    key's slot and follows MOVED and ASK redirections. It keeps up to `pool_size` connections
    *per node* and has no wait for a free one (RedisCluster has nothing like
    `pool_timeout_s`, which is ignored): a command that finds every connection of its node
    busy fails at once with `MaxConnectionsError` (a `ConnectionError`), without a retry. A
    command, script or transaction must keep its keys in one slot (a `{hash tag}`): the
    client refuses one across slots before sending it (`RedisClusterException`, "all keys must
    map to the same key slot"; `CrossSlotTransactionError` for a transaction), and the server
    answers one sent anyway with CROSSSLOT (`ClusterCrossSlotError`). A command without a key
    (WAIT, PING, ...) goes to any node unless given `target_nodes`.

    When a primary dies, the commands for its slots meet `ConnectionError` (nothing listens),
    and the commands for *every* slot meet CLUSTERDOWN (`ClusterDownError`) for the second or
    so between the nodes agreeing it failed and its replica's promotion (Redis' default
    `cluster-require-full-coverage yes`). The client retries both by itself (10 times, with a
    jittered backoff from 10 ms doubling up to 1 s, on a refreshed slot map), so a failover
    of 2 to 3 s (`cluster-node-timeout` 1000 ms, as `libs.common.redis_cluster` runs it)
    mostly shows as commands taking that long, then served by the promoted replica on the
    same client. When its retries run out first, the caller sees the last error:
    `ConnectionError` or `TimeoutError`, `ClusterDownError`, or, after a slot-map refresh that
    reached no node at all, `RedisClusterUnreachableError`, which is a
    `RedisClusterException`, not a `RedisError`; the caller's retry, as for any outage,
    carries them over (tests/integration/test_redis_cluster_rig.py measures this).

    Any other URL is read by redis-py (`BlockingConnectionPool.from_url`; a `max_connections`
    or `timeout` in its query wins over the arguments). Nothing connects until the first
    command.
    """
    if is_sentinel_url(url):
        return _sentinel_client(parse_sentinel_url(url), pool_size, pool_timeout_s)
    if is_cluster_url(url):
        return _cluster_client(parse_cluster_url(url), pool_size)
    pool = BlockingConnectionPool.from_url(
        url, max_connections=pool_size, timeout=pool_timeout_s, decode_responses=False
    )
    return Redis.from_pool(pool)


def decodes_responses(client: Redis | RedisCluster) -> bool:
    """Whether `client` decodes replies to `str` (`decode_responses=True`): for a `Redis`, as
    its pool's connections are made; for a `RedisCluster` (which has no single pool), as its
    encoder says."""
    if isinstance(client, RedisCluster):
        return bool(client.get_encoder().decode_responses)
    return bool(client.connection_pool.connection_kwargs.get("decode_responses"))


class BlockingSentinelConnectionPool(SentinelConnectionPool, BlockingConnectionPool):
    """A Sentinel-managed pool of the primary's connections that waits for a free connection
    like `BlockingConnectionPool` (`timeout`, then "No connection available."), and closes
    its `Sentinel`'s own clients when it is closed: the pool of `redis_from_url`.

    The two bases override different methods (Sentinel: where to connect, which connections
    are still the primary's; blocking: getting and releasing under a condition), so the
    combination keeps both behaviours.
    """

    async def aclose(self) -> None:
        """Close the pool's connections, then the connections to the sentinels."""
        try:
            await super().aclose()
        finally:
            await self.sentinel_manager.aclose()


def _socket_options(timeout: float | None, connect_timeout: float | None) -> dict[str, Any]:
    """The socket timeouts a URL gave, as client keyword arguments (none: the defaults)."""
    given = {"socket_timeout": timeout, "socket_connect_timeout": connect_timeout}
    return {key: value for key, value in given.items() if value is not None}


def _sentinel_client(parsed: SentinelUrl, pool_size: int, pool_timeout_s: float) -> Redis:
    sockets = _socket_options(parsed.socket_timeout, parsed.socket_connect_timeout)
    primary: dict[str, Any] = {
        **sockets,
        "username": parsed.username,
        "password": parsed.password,
        "db": parsed.db,
        "decode_responses": False,
    }
    sentinels: dict[str, Any] = {
        **sockets,
        "username": parsed.sentinel_username,
        "password": parsed.sentinel_password,
    }
    sentinel = Sentinel(parsed.sentinels, sentinel_kwargs=sentinels, **primary)
    client: Redis = sentinel.master_for(
        parsed.service,
        connection_pool_class=BlockingSentinelConnectionPool,
        max_connections=pool_size,
        timeout=pool_timeout_s,
    )
    return client


def _cluster_client(parsed: ClusterUrl, pool_size: int) -> Redis:
    sockets = _socket_options(parsed.socket_timeout, parsed.socket_connect_timeout)
    cluster = RedisCluster(
        startup_nodes=[ClusterNode(host, port) for host, port in parsed.nodes],
        username=parsed.username,
        password=parsed.password,
        ssl=parsed.ssl,
        decode_responses=False,
        max_connections=pool_size,  # per node
        require_full_coverage=True,
        **sockets,
    )
    # RedisCluster is not a Redis subclass, but it has the command API the engine uses
    # (commands, scripts, pipelines, aclose); the engine reads the pool only through
    # `decodes_responses`, which knows both. Typed as `Redis` so every caller stays as it is.
    return cast(Redis, cluster)
