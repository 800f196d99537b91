"""What the Redis-side operator commands (`mmx keys`, `mmx dlq`) share: where Redis is, one
event loop around one client, and who is acting.

Redis is `--redis-url`, else REDIS_URL, else the embedded Redis of the `mmx up` running with
the data directory `--data-dir` (default `./.mmx`; `mmx up` writes its URL to
`<data dir>/redis.url`). With none of these the command refuses, rather than guess at
whatever listens on port 6379.
"""

from __future__ import annotations

import argparse
import asyncio
import getpass
import os
import socket
from collections.abc import Awaitable, Callable
from pathlib import Path

import redis.asyncio as aioredis
from redis.exceptions import RedisError

from libs.common.redis_connect import redis_from_url
from services import local_stack

UNREACHABLE = 2
"""The exit status when Redis cannot be reached, or there is no Redis to use."""
REDIS_HELP = (
    "Redis (default: REDIS_URL, else the Redis of the `mmx up` using --data-dir; "
    "a URL with a password given here is visible in `ps`)"
)


class NoRedis(Exception):
    """Nothing says which Redis to use."""


def add_redis_arguments(parser: argparse.ArgumentParser) -> None:
    """`--redis-url` and `--data-dir`, as every Redis-side command takes them."""
    parser.add_argument("--redis-url", help=REDIS_HELP)
    parser.add_argument(
        "--data-dir",
        default=local_stack.DEFAULT_DATA_DIR,
        help="the data directory of the `mmx up` whose Redis to use when neither --redis-url "
        f"nor REDIS_URL is given (default: ./{local_stack.DEFAULT_DATA_DIR})",
    )


def resolve_redis_url(args: argparse.Namespace, environ: dict[str, str]) -> tuple[str, str]:
    """(the Redis URL, where it came from); raises NoRedis saying what to do."""
    if args.redis_url:
        return args.redis_url, "--redis-url"
    if url := environ.get("REDIS_URL"):
        return url, "REDIS_URL"
    data_dir = Path(args.data_dir).resolve()
    if url := local_stack.read_url(data_dir, local_stack.REDIS_FILE):
        return url, f"{data_dir / local_stack.REDIS_FILE}, written by `mmx up`"
    raise NoRedis(
        f"which Redis? REDIS_URL is not set and no `mmx up` runs with the data directory "
        f"{data_dir} (there is no {local_stack.REDIS_FILE} in it): set REDIS_URL (or pass "
        "--redis-url), or start `mmx up` (pass --data-dir if it uses another directory)"
    )


def run_with_redis(
    args: argparse.Namespace,
    use: Callable[[aioredis.Redis], Awaitable[int]],
    say: Callable[[str], None],
) -> int:
    """Run `use` with a client of the Redis `resolve_redis_url` finds (built as a service
    builds its own: `redis_from_url`, so `redis+sentinel://` works too); its exit status, or
    UNREACHABLE (said) when there is no Redis to use or it does not answer."""
    try:
        url, source = resolve_redis_url(args, dict(os.environ))
    except NoRedis as error:
        say(str(error))
        return UNREACHABLE

    async def with_client() -> int:
        redis = redis_from_url(url)
        try:
            return await use(redis)
        finally:
            await redis.aclose()

    try:
        return asyncio.run(with_client())
    except (RedisError, OSError) as error:
        hint = "; is `mmx up` still running?" if "mmx up" in source else ""
        say(f"Redis unreachable (from {source}): {type(error).__name__}: {error}{hint}")
        return UNREACHABLE


def actor(tool: str) -> str:
    """Who acts, for the audit trail: login@host and the tool."""
    try:
        login = getpass.getuser()
    except (KeyError, OSError):  # no login name (e.g. a container's anonymous uid)
        login = "operator"
    return f"{login}@{socket.gethostname()} ({tool})"
