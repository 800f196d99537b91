"""Fixtures of the gateway tests: the app in-process over real Redis, and a live server.

`client` drives the app through httpx's ASGI transport with its lifespan running (Redis
client, consumer groups, broadcast readers). `live_gateway` serves the same app with
uvicorn on a free port in a thread, for WebSocket clients and the operator CLI.
"""

from __future__ import annotations

import asyncio
import socket
import threading
import time
from collections.abc import AsyncIterator, Iterator
from typing import Any

import httpx
import pytest
import redis.asyncio as aioredis
import uvicorn
from fastapi import FastAPI

from libs.common.bus import DATA_FIELD
from libs.common.domain.ids import DEFAULT_ACCOUNT
from libs.common.messages import Envelope, Message
from libs.common.topology import ORDERS_REQUESTS, Stream
from services.gateway.app import create_app
from services.gateway.settings import GatewaySettings

COOLDOWN_S = 60.0


def order(**overrides: Any) -> dict[str, Any]:
    """A valid `POST /v1/orders` body (a BTCUSDT limit buy, clientOrderId strat1-0001) with
    `overrides`; an override of None leaves the field out."""
    body: dict[str, Any] = {
        "symbol": "BTCUSDT",
        "side": "Buy",
        "orderType": "Limit",
        "qty": "0.010",
        "price": "65000.5",
        "clientOrderId": "strat1-0001",
    }
    return {k: v for k, v in (body | overrides).items() if v is not None}


async def requests_len(redis: aioredis.Redis) -> int:
    """How many commands `orders.requests` holds."""
    return int(await redis.xlen(ORDERS_REQUESTS.of(DEFAULT_ACCOUNT).name))


def gateway_settings(redis_url: str, **overrides: Any) -> GatewaySettings:
    fields: dict[str, Any] = {
        "redis_url": redis_url,
        "port": 0,
        "unfreeze_cooldown_s": COOLDOWN_S,
        "wait_default_ms": 2_000,
        # These tests are about the API itself; test_auth*.py covers access control.
        "auth": "disabled",
    }
    return GatewaySettings(**(fields | overrides))


@pytest.fixture
async def gateway_app(redis: aioredis.Redis, redis_url: str) -> AsyncIterator[FastAPI]:
    """The gateway app on the test's (flushed) Redis db, its lifespan running."""
    app = create_app(gateway_settings(redis_url))
    async with app.router.lifespan_context(app):
        yield app


@pytest.fixture
async def client(gateway_app: FastAPI) -> AsyncIterator[httpx.AsyncClient]:
    transport = httpx.ASGITransport(app=gateway_app)
    async with httpx.AsyncClient(transport=transport, base_url="http://gateway") as http:
        yield http


class LiveGateway:
    """uvicorn serving the gateway in a thread with its own event loop."""

    def __init__(self, settings: GatewaySettings) -> None:
        with socket.socket() as probe:
            probe.bind(("127.0.0.1", 0))
            self.port = probe.getsockname()[1]
        config = uvicorn.Config(
            create_app(settings),
            host="127.0.0.1",
            port=self.port,
            loop="asyncio",
            log_level="warning",
            lifespan="on",
        )
        self.server = uvicorn.Server(config)
        self.thread = threading.Thread(target=self.server.run, name="gateway", daemon=True)

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def start(self) -> LiveGateway:
        self.thread.start()
        deadline = time.monotonic() + 10
        while not self.server.started:
            if not self.thread.is_alive() or time.monotonic() > deadline:
                raise RuntimeError("the gateway did not start within 10 s")
            time.sleep(0.01)
        return self

    def stop(self) -> None:
        self.server.should_exit = True
        self.thread.join(timeout=10)


@pytest.fixture
def live_gateway(redis: aioredis.Redis, redis_url: str) -> Iterator[LiveGateway]:
    """A real gateway server on a free port (stopped after the test)."""
    server = LiveGateway(gateway_settings(redis_url)).start()
    try:
        yield server
    finally:
        server.stop()


async def entries(redis: aioredis.Redis, stream: Stream) -> list[Envelope]:
    """Every envelope on `stream`, oldest first."""
    raw: Any = await redis.xrange(stream.name)
    return [Envelope.from_json(fields[DATA_FIELD]) for _, fields in raw]


async def messages(redis: aioredis.Redis, stream: Stream) -> list[Message]:
    """Every message on `stream`, opened."""
    return [envelope.open() for envelope in await entries(redis, stream)]


async def publish(redis: aioredis.Redis, stream: Stream, message: Message) -> None:
    """Publish as another service would: one XADD of the enveloped message."""
    await redis.xadd(stream.name, {DATA_FIELD: Envelope.wrap(message).to_json()})


async def eventually(condition: Any, timeout_s: float = 5.0) -> None:
    """Await `condition()` (sync or async) until truthy; fail after `timeout_s`."""
    deadline = time.monotonic() + timeout_s
    while True:
        result = condition()
        if asyncio.iscoroutine(result):
            result = await result
        if result:
            return
        if time.monotonic() > deadline:
            pytest.fail(f"condition not met within {timeout_s} s")
        await asyncio.sleep(0.01)
