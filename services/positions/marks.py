"""Marks from the venue's public tickers, by the one instance holding the "marks" lease.

The holder follows `tickers.{symbol}` (`PublicStream`) and, every `marks_flush_interval_s`,
writes the newest ticker of each symbol to the mark store; while the stream is connected it
confirms the marks current every `marks_touch_interval_s` (a quiet market sends nothing,
and readers judge staleness by that confirmation). Every `mark_update_interval_s` it
re-marks the open positions and publishes `PositionUpdated` for those whose unrealized P&L
moved since it last said.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Mapping, Sequence
from decimal import Decimal

from libs.common import topology
from libs.common.accounts import PerAccount
from libs.common.bus import Bus
from libs.common.domain.ids import AccountId, Symbol, VenueId
from libs.common.domain.positions import unrealized_pnl
from libs.common.domain.time import NS_PER_MS
from libs.common.messages import Envelope
from libs.common.stores import PositionStore
from libs.common.stores.marks import Mark, MarkStore
from libs.common.stores.positions import read_all
from libs.common.venue import PublicStream, Ticker, VenueConfig
from services.positions.fills import position_update
from services.positions.settings import PositionsSettings

log = logging.getLogger(__name__)


def mark_of(ticker: Ticker, now_ns: int) -> Mark | None:
    """The mark a ticker gives (None without any price); venue time, or ours if it has none."""
    return Mark.of(
        Symbol(ticker.symbol),
        ts_ns=ticker.ts_ms * NS_PER_MS if ticker.ts_ms > 0 else now_ns,
        seen_ns=now_ns,
        mark=ticker.mark,
        bid=ticker.bid,
        ask=ticker.ask,
        last=ticker.last,
    )


class MarksFeed:
    """The lease holder's work: `run` until cancelled."""

    def __init__(
        self,
        *,
        settings: PositionsSettings,
        marks: MarkStore,
        positions: PerAccount[Mapping[VenueId, PositionStore]],
        bus: Bus[Envelope],
        venue: VenueConfig | None = None,
    ) -> None:
        self._settings = settings
        self._venue = venue or settings.venue
        self._marks = marks
        self._positions = positions
        self._bus = bus
        self._pending: dict[str, Ticker] = {}
        self._said: dict[tuple[AccountId, VenueId, Symbol], Decimal] = {}
        """Unrealized P&L last published per symbol (by this holder)."""

    async def run(self, release: asyncio.Event) -> None:
        """Follow the tickers until `release` is set (or the stream fails)."""
        s = self._settings
        self._said.clear()
        stream = PublicStream(self._venue, list(s.symbols), max_queue=1_000)
        async with stream:
            reader = asyncio.create_task(self._read(stream))
            next_touch = next_remark = 0.0
            try:
                while not release.is_set() and not reader.done():
                    await asyncio.wait({reader}, timeout=s.marks_flush_interval_s)
                    await self._flush()
                    now = time.monotonic()
                    if stream.connected.is_set() and now >= next_touch:
                        next_touch = now + s.marks_touch_interval_s
                        await self._marks.touch(s.symbols, time.time_ns())
                    if now >= next_remark:
                        next_remark = now + s.mark_update_interval_s
                        await self.remark()
                if reader.done():
                    reader.result()  # the stream ended: say why
            finally:
                reader.cancel()
                await asyncio.wait({reader}, timeout=1.0)

    async def _read(self, stream: PublicStream) -> None:
        async for ticker in stream:
            self._pending[ticker.symbol] = ticker

    async def _flush(self) -> None:
        tickers, self._pending = list(self._pending.values()), {}
        now_ns = time.time_ns()
        marks = [m for m in (mark_of(t, now_ns) for t in tickers) if m is not None]
        if marks:
            await self._marks.put_many(marks)

    async def remark(self) -> None:
        """Publish PositionUpdated for positions (of every account) whose unrealized P&L
        moved."""
        stores = (s for _, venues in self._positions.items() for s in venues.values())
        positions = [p for p in await read_all(stores) if not p.is_flat]
        marks = await self._marks.get_many({p.symbol for p in positions})
        updates = []
        for position in positions:
            mark = marks.get(position.symbol)
            if mark is None:
                continue
            pnl = unrealized_pnl(position, mark.mark)
            book = (position.account, position.venue, position.symbol)
            if self._said.get(book) == pnl:
                continue
            self._said[book] = pnl
            update = position_update(position, mark)
            stamped = update.model_copy(update={"ts_event_ns": max(update.ts_event_ns, mark.ts_ns)})
            updates.append(Envelope.wrap(stamped))
        await _publish(self._bus, updates)


async def _publish(bus: Bus[Envelope], updates: Sequence[Envelope]) -> None:
    if updates:
        await bus.publish_many(topology.POSITIONS_UPDATES, updates)
