"""A reconnecting venue WebSocket stream: handshake, ping (Bybit's JSON op by default), read
timeout, backoff.

Subclasses say how to open a session (`_handshake`), what to do once the reader runs
(`_after_open`, e.g. a REST snapshot), and how to turn pushes into events (`_dispatch`).
Events are consumed with `async for event in stream`.
"""

from __future__ import annotations

import asyncio
import logging
import random
from abc import abstractmethod
from typing import Any, Generic, Self, TypeVar

import aiohttp
import orjson

from libs.common.tasks import cancel_and_wait
from libs.common.venue.config import AdapterSettings
from libs.common.venue.lifecycle import AsyncLifecycle

log = logging.getLogger(__name__)

E = TypeVar("E")
_REPLY_TIMEOUT_S = 10.0


class StreamClosed(ConnectionError):
    """The WebSocket closed, errored or went silent; the stream reconnects."""


class _Stop:
    pass


_STOP = _Stop()


class ReconnectingStream(AsyncLifecycle, Generic[E]):
    """Runs one WebSocket at a time and reconnects with exponential backoff and jitter."""

    def __init__(self, url: str, config: AdapterSettings, *, max_queue: int = 0) -> None:
        self.url = url
        self.config = config
        self.reconnects = 0
        """How many times the stream has reconnected after its first connection."""
        self.connected = asyncio.Event()
        """Set while subscribed (and, for the private stream, after the snapshot)."""
        self._queue: asyncio.Queue[E | BaseException | _Stop] = asyncio.Queue(max_queue)
        self._held: E | BaseException | _Stop | None = None
        """An item `ready` took but must leave to `__anext__` (a stop or an error)."""
        self._task: asyncio.Task[None] | None = None
        self._ws: aiohttp.ClientWebSocketResponse | None = None
        self._closing = False
        self._req_id = 0

    # -- lifecycle --------------------------------------------------------------------------

    @abstractmethod
    def _session(self) -> aiohttp.ClientSession: ...

    async def start(self) -> None:
        if self._task is None:
            self._closing = False
            self._task = asyncio.create_task(self._run(), name=f"ws {self.url}")

    async def close(self) -> None:
        self._closing = True
        if self._task is not None:
            await cancel_and_wait(self._task)
            self._task = None
        self._put(_STOP)

    async def wait_connected(self, within_s: float = 10.0) -> None:
        """Wait until subscribed (and snapshotted), at most `within_s` seconds."""
        async with asyncio.timeout(within_s):
            await self.connected.wait()

    async def drop(self) -> None:
        """Close the current connection from our side; the stream reconnects."""
        if self._ws is not None:
            await self._ws.close()

    def __aiter__(self) -> Self:
        return self

    async def __anext__(self) -> E:
        item = self._held if self._held is not None else await self._queue.get()
        self._held = None
        if isinstance(item, _Stop):
            self._queue.put_nowait(item)  # keep later readers stopped too
            raise StopAsyncIteration
        if isinstance(item, BaseException):
            raise item
        return item

    def ready(self, limit: int) -> list[E]:
        """Up to `limit` events already received, without waiting: a consumer takes them
        with the one it awaited and handles them as one batch. A stop or an error is left
        for the next `__anext__`, so nothing after it is taken."""
        taken: list[E] = []
        while self._held is None and len(taken) < limit and not self._queue.empty():
            item = self._queue.get_nowait()
            if isinstance(item, _Stop | BaseException):
                self._held = item
            else:
                taken.append(item)
        return taken

    def _put(self, item: E | BaseException | _Stop) -> None:
        if self._queue.full():
            self._queue.get_nowait()  # bounded streams keep the newest
        self._queue.put_nowait(item)

    # -- the connection loop ------------------------------------------------------------------

    async def _run(self) -> None:
        backoff = self.config.ws_reconnect_min_s
        while not self._closing:
            try:
                await self._before_connect()
                async with self._session().ws_connect(self.url, autoping=True) as ws:
                    self._ws = ws
                    await self._handshake(ws)
                    reader = asyncio.create_task(self._read(ws))
                    pinger = asyncio.create_task(self._ping(ws))
                    try:
                        await self._after_open()
                        self.connected.set()
                        backoff = self.config.ws_reconnect_min_s
                        await reader
                    finally:
                        for task in (reader, pinger):
                            task.cancel()
                        await asyncio.gather(reader, pinger, return_exceptions=True)
            except asyncio.CancelledError:
                raise
            except Exception as exc:
                if not self._on_error(exc):
                    self._put(exc)
                    self._put(_STOP)
                    return
                log.warning("%s: lost (%s); reconnecting in %.1f s", self.url, exc, backoff)
            finally:
                self._ws = None
                self.connected.clear()
            if self._closing:
                return
            self.reconnects += 1
            await asyncio.sleep(backoff * (0.5 + random.random() / 2))
            backoff = min(backoff * 2, self.config.ws_reconnect_max_s)

    async def _read(self, ws: aiohttp.ClientWebSocketResponse) -> None:
        silence = self.config.ws_ping_interval_s + self.config.ws_pong_timeout_s
        while True:
            self._dispatch(await self._receive(ws, silence))

    async def _receive(
        self, ws: aiohttp.ClientWebSocketResponse, within_s: float
    ) -> dict[str, Any]:
        try:
            msg = await ws.receive(timeout=within_s)
        except TimeoutError as exc:
            raise StreamClosed(f"no message for {within_s:.0f} s") from exc
        if msg.type is not aiohttp.WSMsgType.TEXT:
            raise StreamClosed(f"websocket {msg.type.name.lower()}")
        data = orjson.loads(msg.data)
        return data if isinstance(data, dict) else {}

    async def _ping(self, ws: aiohttp.ClientWebSocketResponse) -> None:
        while True:
            await asyncio.sleep(self.config.ws_ping_interval_s)
            await ws.send_str(orjson.dumps(self._op("ping")).decode())

    def _op(self, op: str, args: list[Any] | None = None) -> dict[str, Any]:
        self._req_id += 1
        msg: dict[str, Any] = {"req_id": str(self._req_id), "op": op}
        if args is not None:
            msg["args"] = args
        return msg

    async def _request(
        self, ws: aiohttp.ClientWebSocketResponse, op: str, args: list[Any]
    ) -> dict[str, Any]:
        """Send an op and return its reply; pushes read meanwhile are dispatched."""
        await ws.send_str(orjson.dumps(self._op(op, args)).decode())
        deadline = asyncio.get_running_loop().time() + _REPLY_TIMEOUT_S
        while True:
            left = deadline - asyncio.get_running_loop().time()
            if left <= 0:
                raise StreamClosed(f"no reply to {op} within {_REPLY_TIMEOUT_S:.0f} s")
            data = await self._receive(ws, left)
            if data.get("op") == op and "topic" not in data:
                return data
            self._dispatch(data)

    # -- hooks ----------------------------------------------------------------------------------

    async def _before_connect(self) -> None:
        """Wait for whatever must hold before (re)connecting."""

    @abstractmethod
    async def _handshake(self, ws: aiohttp.ClientWebSocketResponse) -> None:
        """Authenticate and subscribe; raise to reconnect."""

    async def _after_open(self) -> None:
        """Runs while the reader is already consuming pushes."""

    @abstractmethod
    def _dispatch(self, msg: dict[str, Any]) -> None:
        """Handle one message that is not a reply to `_request`."""

    def _on_error(self, exc: Exception) -> bool:
        """True to reconnect after `exc`, False to end the stream raising it."""
        return True
