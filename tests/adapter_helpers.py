"""Helpers of the venue adapters' integration tests (Bybit's and Binance's): a recorder of
the transport's `on_request` hook, and readers of a private stream's events."""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator, Callable
from typing import TypeVar

from libs.common.venue import Execution, PrivateEvent, PrivateSnapshot
from libs.common.venue.ws import ReconnectingStream

E = TypeVar("E")


class Calls:
    """Records `on_request(path, ret_code, seconds)`."""

    def __init__(self) -> None:
        self.seen: list[tuple[str, int]] = []

    def __call__(self, path: str, code: int, seconds: float) -> None:
        self.seen.append((path, code))

    def codes(self, path: str) -> list[int]:
        return [c for p, c in self.seen if p == path]


async def collect(
    stream: AsyncIterator[E], done: Callable[[list[E]], bool], within_s: float = 10.0
) -> list[E]:
    """Events until `done(events)`, then whatever else arrives within 0.3 s."""
    events: list[E] = []
    async with asyncio.timeout(within_s):
        while not done(events):
            events.append(await anext(stream))
    try:
        async with asyncio.timeout(0.3):
            while True:
                events.append(await anext(stream))
    except TimeoutError:
        return events


async def until(check: Callable[[], bool], within_s: float = 10.0) -> None:
    """Poll `check` (the streams expose state, not events, for these conditions)."""
    deadline = time.monotonic() + within_s
    while not check():
        assert time.monotonic() < deadline, "condition not met in time"
        await asyncio.sleep(0.01)


def fills(events: list[PrivateEvent]) -> list[Execution]:
    """Every fill among `events`, those of snapshots included, in order."""
    out: list[Execution] = []
    for event in events:
        if isinstance(event, PrivateSnapshot):
            out.extend(event.executions)
        elif isinstance(event, Execution):
            out.append(event)
    return out


async def caught_up(
    stream: ReconnectingStream[PrivateEvent],
    events: list[PrivateEvent],
    live: list[str],
    missed: list[str],
) -> list[PrivateEvent]:
    """`events` and what `stream` delivers after its one reconnect, until every `missed`
    fill is in. The reconnect snapshot must carry exactly the missed fills (the overlap
    deduped), and every fill of `live + missed` must have arrived exactly once."""
    events = events + await collect(
        stream, lambda ev: {e.exec_id for e in fills(ev)} >= set(missed)
    )
    assert stream.reconnects == 1
    snapshot = next(e for e in events if isinstance(e, PrivateSnapshot))
    assert snapshot.connection == 1
    assert {e.exec_id for e in snapshot.executions} == set(missed)  # the overlap deduped
    ids = [e.exec_id for e in fills(events)]
    assert sorted(ids) == sorted(live + missed)  # every fill exactly once
    return events
