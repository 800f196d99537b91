"""Real Redis for the test suite (a pytest plugin: `pytest_plugins = ["tests.redis_fixture"]`).

Where the server comes from, first match wins:

1. `REDIS_URL`, when set. The tests then use **logical db 15** of that server (whatever db the
   URL names) and FLUSHDB it before every test: never point it at a server whose db 15 you keep.
2. A testcontainers `RedisContainer`, when a Docker engine answers a ping.
3. A `redis-server` binary from PATH, started on a free port in a temp dir without persistence
   and stopped by its pid at the end of the session.

If none of them is available the session fails: the suite never skips Redis tests.
"""

from __future__ import annotations

import os
import shutil
from collections.abc import AsyncIterator, Iterator
from contextlib import contextmanager
from urllib.parse import parse_qsl, urlencode, urlsplit, urlunsplit

import pytest
import redis.asyncio as aioredis
from redis.asyncio.connection import parse_url

from libs.common.redis_server import start_redis_server

USER_URL_DB = 15
_REDIS_IMAGE = "redis:7.4-alpine"


@pytest.fixture(scope="session")
def redis_url() -> Iterator[str]:
    """URL (with its db) of a Redis server for this session; see the module docstring."""
    if user_url := os.environ.get("REDIS_URL"):
        yield _with_db(user_url, USER_URL_DB)
    elif _docker_answers():
        with _redis_container() as url:
            yield url
    elif shutil.which("redis-server"):
        server = start_redis_server()
        try:
            yield server.url
        finally:
            server.stop()
    else:
        pytest.fail(
            "no Redis for the tests: set REDIS_URL, start a Docker engine, "
            "or install redis-server (`make system-deps`)",
            pytrace=False,
        )


@pytest.fixture
async def redis(redis_url: str) -> AsyncIterator[aioredis.Redis]:
    """A bytes client on the session's Redis db, flushed before the test; closed after it."""
    client = aioredis.Redis.from_url(redis_url)
    try:
        await client.flushdb()
        yield client
    finally:
        await client.aclose()


def _with_db(url: str, db: int) -> str:
    parse_url(url)  # fail early on a malformed REDIS_URL
    parts = urlsplit(url)
    query = [(k, v) for k, v in parse_qsl(parts.query) if k != "db"]
    if parts.scheme == "unix":  # the path is the socket, the db goes in the query
        return urlunsplit(parts._replace(query=urlencode([*query, ("db", str(db))])))
    return urlunsplit(parts._replace(path=f"/{db}", query=urlencode(query)))


def _docker_answers() -> bool:
    try:
        import docker  # type: ignore[import-untyped]

        client = docker.from_env(timeout=2)
        try:
            return bool(client.ping())
        finally:
            client.close()
    except Exception:  # no SDK, no socket, no engine: all mean "not Docker"
        return False


@contextmanager
def _redis_container() -> Iterator[str]:
    from testcontainers.community.redis import RedisContainer

    with RedisContainer(_REDIS_IMAGE) as container:
        host = container.get_container_host_ip()
        port = container.get_exposed_port(container.port)
        yield f"redis://{host}:{port}/0"
