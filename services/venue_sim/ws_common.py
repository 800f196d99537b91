"""WebSocket plumbing shared by the private and public streams.

Each connection has an outgoing queue drained by its own writer task, so publishing from a
request handler is a non-blocking `put_nowait` and messages keep their order.

Subscribe and unsubscribe acks leave `ack_delay_s` after the request, as over a real network
(and everything queued after an ack waits for it): a client that records its subscription
just after sending it, as pybit does, would otherwise get the ack first and fail.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import uuid
from collections.abc import Callable
from typing import Any

import orjson
from aiohttp import WSCloseCode, WSMsgType, web

log = logging.getLogger(__name__)
Callbacks = tuple[
    Callable[["WsConn"], None], Callable[["WsConn", Any], None], Callable[["WsConn"], None]
]
"""(on_open, on_message, on_close) of one stream."""
MAX_QUEUED = 100_000
"""A consumer this far behind is disconnected rather than buffered without bound."""


class WsConn:
    """One accepted WebSocket connection."""

    def __init__(self, ws: web.WebSocketResponse, ack_delay_s: float = 0.0) -> None:
        self.ws = ws
        self.ack_delay_s = ack_delay_s
        self.conn_id = str(uuid.uuid4())
        self.queue: asyncio.Queue[tuple[bytes, float] | None] = asyncio.Queue()
        self.closed = False
        self.writer = asyncio.get_running_loop().create_task(self._write())

    def send(self, message: Any, *, ack: bool = False) -> None:
        """Queue a JSON message (a dict) or pre-encoded bytes; an `ack` (of a subscribe or
        unsubscribe) goes out `ack_delay_s` later."""
        if self.closed:
            return
        if self.queue.qsize() >= MAX_QUEUED:
            log.warning("ws %s is %d messages behind: dropping it", self.conn_id, MAX_QUEUED)
            self.close()
            return
        data = message if isinstance(message, bytes) else orjson.dumps(message)
        self.queue.put_nowait((data, self.ack_delay_s if ack else 0.0))

    def close(self) -> None:
        """Close after the messages already queued have been written."""
        if not self.closed:
            self.closed = True
            self.queue.put_nowait(None)

    async def _write(self) -> None:
        ws, queue = self.ws, self.queue
        try:
            while (item := await queue.get()) is not None:
                data, delay_s = item
                if delay_s:
                    await asyncio.sleep(delay_s)
                await ws.send_frame(data, WSMsgType.TEXT)
        except (ConnectionError, RuntimeError):
            pass
        with contextlib.suppress(ConnectionError, RuntimeError):
            await ws.close(code=WSCloseCode.GOING_AWAY)


async def serve(
    request: web.Request,
    on_open: Callable[[WsConn], None],
    on_message: Callable[[WsConn, Any], None],
    on_close: Callable[[WsConn], None],
    ack_delay_s: float = 0.0,
) -> web.WebSocketResponse:
    """Run one WebSocket connection: decode each text frame as JSON and hand it over."""
    ws = web.WebSocketResponse(autoping=True, max_msg_size=1 << 20)
    await ws.prepare(request)
    conn = WsConn(ws, ack_delay_s)
    on_open(conn)
    try:
        async for msg in ws:
            if msg.type is not WSMsgType.TEXT:
                continue
            try:
                payload = orjson.loads(msg.data)
            except orjson.JSONDecodeError:
                conn.send({"success": False, "ret_msg": "Invalid JSON", "conn_id": conn.conn_id})
                continue
            on_message(conn, payload)
    finally:
        on_close(conn)
        conn.close()
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(conn.writer, timeout=1.0)
    return ws
