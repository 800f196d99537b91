"""The WebSocket `/v1/stream` of a live gateway that requires API keys: a viewer key in the
query string or a header opens it; anything else is refused at the handshake."""

from __future__ import annotations

import logging
import time
from collections.abc import AsyncIterator, Iterator

import aiohttp
import pytest
import redis.asyncio as aioredis

from libs.common.api_keys import ApiKeyRecord, IssuedKey, RedisApiKeyStore, Role, issue_key
from tests.integration.gateway.conftest import LiveGateway, gateway_settings

pytestmark = pytest.mark.integration


@pytest.fixture
def guarded_gateway(redis: aioredis.Redis, redis_url: str) -> Iterator[LiveGateway]:
    server = LiveGateway(gateway_settings(redis_url, auth="required")).start()
    try:
        yield server
    finally:
        server.stop()


@pytest.fixture
async def http() -> AsyncIterator[aiohttp.ClientSession]:
    async with aiohttp.ClientSession() as session:
        yield session


async def viewer_key(redis: aioredis.Redis) -> IssuedKey:
    issued = issue_key()
    record = ApiKeyRecord.issue(issued, Role.VIEWER, "dashboard", now_ns=time.time_ns())
    assert await RedisApiKeyStore(redis).create(record)
    return issued


def stream_url(gateway: LiveGateway, query: str = "") -> str:
    return gateway.url.replace("http://", "ws://") + "/v1/stream" + query


async def test_a_viewer_key_in_the_query_string_opens_the_stream(
    guarded_gateway: LiveGateway, redis: aioredis.Redis, http: aiohttp.ClientSession
) -> None:
    key = await viewer_key(redis)

    async with http.ws_connect(stream_url(guarded_gateway, f"?apiKey={key.key}")) as ws:
        hello = await ws.receive_json(timeout=5)

    assert hello["type"] == "TradingState"


async def test_a_viewer_key_in_the_header_opens_the_stream(
    guarded_gateway: LiveGateway, redis: aioredis.Redis, http: aiohttp.ClientSession
) -> None:
    key = await viewer_key(redis)

    async with http.ws_connect(stream_url(guarded_gateway), headers={"X-API-Key": key.key}) as ws:
        hello = await ws.receive_json(timeout=5)

    assert hello["type"] == "TradingState"


async def test_a_stream_without_a_key_is_refused_with_401_at_the_handshake(
    guarded_gateway: LiveGateway, http: aiohttp.ClientSession
) -> None:
    with pytest.raises(aiohttp.WSServerHandshakeError) as handshake:
        async with http.ws_connect(stream_url(guarded_gateway)):
            pass

    assert handshake.value.status == 401


async def test_a_revoked_key_is_refused_at_the_handshake_and_never_logged(
    guarded_gateway: LiveGateway,
    redis: aioredis.Redis,
    http: aiohttp.ClientSession,
    caplog: pytest.LogCaptureFixture,
) -> None:
    caplog.set_level(logging.DEBUG)
    key = await viewer_key(redis)
    await RedisApiKeyStore(redis).revoke(key.key_id, now_ns=time.time_ns())

    with pytest.raises(aiohttp.WSServerHandshakeError) as handshake:
        async with http.ws_connect(stream_url(guarded_gateway, f"?apiKey={key.key}")):
            pass

    assert handshake.value.status == 401
    assert key.secret not in caplog.text
    assert "refused WebSocket /v1/stream" in caplog.text


class Capture(logging.Handler):
    def __init__(self) -> None:
        super().__init__(logging.DEBUG)
        self.lines: list[str] = []

    def emit(self, record: logging.LogRecord) -> None:
        self.lines.append(self.format(record))


async def test_uvicorn_logs_the_handshake_with_the_key_redacted(
    guarded_gateway: LiveGateway, redis: aioredis.Redis, http: aiohttp.ClientSession
) -> None:
    key = await viewer_key(redis)
    server_log = logging.getLogger("uvicorn.error")
    capture, level = Capture(), server_log.level
    server_log.addHandler(capture)
    server_log.setLevel(logging.INFO)
    try:
        async with http.ws_connect(stream_url(guarded_gateway, f"?apiKey={key.key}")) as ws:
            await ws.receive_json(timeout=5)
    finally:
        server_log.removeHandler(capture)
        server_log.setLevel(level)

    (handshake,) = [line for line in capture.lines if '"WebSocket /v1/stream' in line]
    assert handshake.endswith('"WebSocket /v1/stream?apiKey=<redacted>" [accepted]')
    assert key.secret not in "\n".join(capture.lines)
