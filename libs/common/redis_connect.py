"""A Redis client from a URL: what every service, operator command and tool connects with.

`redis_from_url(url)` reads `redis://`, `rediss://` and `unix://` as redis-py does, and
`redis+sentinel://` as `libs.common.redis_url` describes; a service builds its client with
`libs.common.service.redis_client(settings)`, which calls it with the pool size and wait
from its settings. No I/O until the first command.
"""

from __future__ import annotations

from typing import Any

from redis.asyncio import BlockingConnectionPool, Redis
from redis.asyncio.sentinel import Sentinel, SentinelConnectionPool

from libs.common.redis_url import SentinelUrl, is_sentinel_url, parse_sentinel_url

__all__ = ["BlockingSentinelConnectionPool", "redis_from_url"]


def redis_from_url(url: str, *, pool_size: int = 64, pool_timeout_s: float = 5.0) -> Redis:
    """A bytes client for `url` on a pool of `pool_size` connections that waits up to
    `pool_timeout_s` for a free one; what `redis_client` builds, for tools without settings.

    `redis+sentinel://` (`libs.common.redis_url`) gives a client of the primary the sentinels
    name, on a `BlockingSentinelConnectionPool`: each new connection asks the sentinels
    where the primary is, so after a failover the same client reaches the promoted replica.
    The commands that meet the failover itself fail with `ConnectionError` (the old primary
    is gone, or is now a replica): the caller's retry, as for any outage, carries them over.
    Any other URL is read by redis-py (`BlockingConnectionPool.from_url`; a `max_connections`
    or `timeout` in its query wins over the arguments). Nothing connects until the first
    command.
    """
    if is_sentinel_url(url):
        return _sentinel_client(parse_sentinel_url(url), pool_size, pool_timeout_s)
    pool = BlockingConnectionPool.from_url(
        url, max_connections=pool_size, timeout=pool_timeout_s, decode_responses=False
    )
    return Redis.from_pool(pool)


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


def _sentinel_client(parsed: SentinelUrl, pool_size: int, pool_timeout_s: float) -> Redis:
    sockets: dict[str, Any] = {
        key: value
        for key, value in (
            ("socket_timeout", parsed.socket_timeout),
            ("socket_connect_timeout", parsed.socket_connect_timeout),
        )
        if value is not None
    }
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
