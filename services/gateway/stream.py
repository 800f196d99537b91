"""WebSocket `/v1/stream`: order events, fills, positions and trading state, pushed live.

Each gateway instance follows `orders.events`, `positions.updates` and `control` without a
group (every instance sees every entry) and fans each entry out to its connected clients as
JSON `{"type": <message type>, "data": <camelCase payload>}`. The first message a client gets
is the current trading state (`{"type": "TradingState", ...}`), so it never has to guess.

A slow client never holds up the others: each client has a bounded queue that the fan-out
fills without waiting; a client whose queue is full is dropped and closed with code 1013
(try again later), and can reconnect and re-read state over REST. `?symbols=A,B` limits a
client to those symbols' events (trading state is always sent); a key bound to some accounts
sees only their events (and the desk's).
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Any

from pydantic.alias_generators import to_camel
from starlette.websockets import WebSocket

from libs.common.bus_types import Delivery
from libs.common.messages import Envelope

log = logging.getLogger(__name__)

CLOSE_TOO_SLOW = 1013
"""WebSocket close code "try again later": the client fell too far behind."""


def camel(value: Any) -> Any:
    """A JSON payload with its keys camelCased, recursively."""
    if isinstance(value, dict):
        return {to_camel(str(k)): camel(v) for k, v in value.items()}
    if isinstance(value, list):
        return [camel(v) for v in value]
    return value


def frame(kind: str, data: Any) -> str:
    """The text of one push: `{"type": kind, "data": data}`."""
    return json.dumps({"type": kind, "data": data}, separators=(",", ":"))


@dataclass(eq=False)
class Client:
    """One connected WebSocket and its bounded outbox."""

    symbols: frozenset[str] | None
    queue: asyncio.Queue[str]
    overflowed: asyncio.Event = field(default_factory=asyncio.Event)
    accounts: frozenset[str] | None = None
    """The accounts whose events the client's key may see (None: every one)."""

    def wants(self, envelope: Envelope) -> bool:
        symbol, account = envelope.payload.get("symbol"), envelope.payload.get("account")
        if self.accounts is not None and isinstance(account, str) and account not in self.accounts:
            return False  # another account's (an event without one is the desk's: for all)
        return self.symbols is None or not isinstance(symbol, str) or symbol in self.symbols

    def offer(self, text: str) -> bool:
        """Queue `text` without waiting; False (and flagged) when the client is too slow."""
        if self.overflowed.is_set():
            return False
        try:
            self.queue.put_nowait(text)
        except asyncio.QueueFull:
            self.overflowed.set()
            return False
        return True


class StreamHub:
    """The WebSocket clients of this instance and the fan-out to them."""

    def __init__(self, queue_size: int) -> None:
        self._queue_size = queue_size
        self._clients: set[Client] = set()
        self.dropped = 0
        """Clients closed because they fell behind."""

    def __len__(self) -> int:
        return len(self._clients)

    def connect(
        self, symbols: Iterable[str] | None, accounts: Iterable[str] | None = None
    ) -> Client:
        """A new client of `symbols`' events (None: all) of `accounts` (None: all)."""
        client = Client(
            symbols=None if symbols is None else frozenset(symbols),
            queue=asyncio.Queue(maxsize=self._queue_size),
            accounts=None if accounts is None else frozenset(accounts),
        )
        self._clients.add(client)
        return client

    def disconnect(self, client: Client) -> None:
        self._clients.discard(client)

    async def on_entry(self, delivery: Delivery[Envelope]) -> None:
        """Push one stream entry to every client that wants it (never waits on a client)."""
        if not self._clients:
            return  # nobody listens: not even the frame is built
        envelope = delivery.message
        text = frame(envelope.type, camel(envelope.payload))
        for client in list(self._clients):
            if client.wants(envelope) and not client.offer(text):
                self.dropped += 1
                self._clients.discard(client)


async def serve(websocket: WebSocket, client: Client, hub: StreamHub) -> None:
    """Send the client's queue until it disconnects or overflows; always unregister it."""
    sender = asyncio.create_task(_send(websocket, client))
    receiver = asyncio.create_task(_drain(websocket))
    overflow = asyncio.create_task(client.overflowed.wait())
    tasks = {sender, receiver, overflow}
    try:
        await asyncio.wait(tasks, return_when=asyncio.FIRST_COMPLETED)
    finally:
        hub.disconnect(client)
        for task in tasks:
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)
    if client.overflowed.is_set():
        with contextlib.suppress(Exception):  # the socket may already be gone
            await websocket.close(CLOSE_TOO_SLOW, "too slow: fell behind the stream")


async def _send(websocket: WebSocket, client: Client) -> None:
    while True:
        await websocket.send_text(await client.queue.get())


async def _drain(websocket: WebSocket) -> None:
    """Read (and ignore) what the client sends, to notice when it goes away."""
    while (await websocket.receive())["type"] != "websocket.disconnect":
        pass
