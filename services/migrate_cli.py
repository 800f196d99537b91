"""`mmx migrate`: bring the engine's Redis data up to the current layout
(`libs.common.migrations`). Run it with the engine stopped; running it again moves nothing.
Redis is `--redis-url`, else REDIS_URL, else the Redis of the `mmx up` using --data-dir."""

from __future__ import annotations

import argparse
import sys
from typing import Any

import redis.asyncio as aioredis

from libs.common.migrations import migrate
from services.redis_cli import add_redis_arguments, run_with_redis


def register_migrate_verbs(commands: Any) -> None:
    """`mmx migrate`."""
    parser = commands.add_parser(
        "migrate",
        help="move data written before accounts to the default account (engine stopped)",
    )
    add_redis_arguments(parser)
    parser.set_defaults(func=_run)


def _run(args: argparse.Namespace) -> int:
    return run_with_redis(args, _migrate, _say)


async def _migrate(redis: aioredis.Redis) -> int:
    done = await migrate(redis)
    _say(done.summary())
    for key in done.kept:
        _say(f"  left in place: {key}")
    return 0


def _say(line: str) -> None:
    print(line, file=sys.stdout, flush=True)
