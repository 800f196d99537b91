"""What the Redis-side operator commands (`mmx keys`, `mmx dlq`) share: where Redis is, one
event loop around one client, and who is acting."""

from __future__ import annotations

import argparse
import asyncio
import getpass
import os
import socket
from collections.abc import Awaitable, Callable

import redis.asyncio as aioredis
from redis.exceptions import RedisError

from libs.common.redis_connect import redis_from_url

DEFAULT_REDIS_URL = "redis://127.0.0.1:6379/0"
UNREACHABLE = 2
"""The exit status when Redis cannot be reached."""


def run_with_redis(
    args: argparse.Namespace,
    use: Callable[[aioredis.Redis], Awaitable[int]],
    say: Callable[[str], None],
) -> int:
    """Run `use` with a client of `--redis-url`, else REDIS_URL, else the default (built as a
    service builds its own: `redis_from_url`, so `redis+sentinel://` works too); its exit
    status, or UNREACHABLE (said) when Redis does not answer."""
    url = args.redis_url or os.environ.get("REDIS_URL") or DEFAULT_REDIS_URL

    async def with_client() -> int:
        redis = redis_from_url(url)
        try:
            return await use(redis)
        finally:
            await redis.aclose()

    try:
        return asyncio.run(with_client())
    except (RedisError, OSError) as error:
        say(f"Redis unreachable: {type(error).__name__}: {error}")
        return UNREACHABLE


def actor(tool: str) -> str:
    """Who acts, for the audit trail: login@host and the tool."""
    try:
        login = getpass.getuser()
    except (KeyError, OSError):  # no login name (e.g. a container's anonymous uid)
        login = "operator"
    return f"{login}@{socket.gethostname()} ({tool})"
