"""Compare our positions with the venue's, by the one instance holding the lease
"positions-reconcile". Drift is reported, never repaired: the venue is the truth, but a
difference means a fill we missed or booked wrong, which an operator must look at (the
router's reconciliation replays missed executions; they then fold in here).

`reconciliation_drift{kind="position_qty", symbol}` is |venue qty - our qty| per symbol,
set by the holder after each pass (and cleared when it loses the lease). Each pass also
replaces `POSITION_DRIFT_KEY`, for the console: per symbol our qty, the venue's, the drift and
when it was checked (kept when the lease is lost: the next holder's first pass replaces it).
"""

from __future__ import annotations

import asyncio
import json
import logging
import time
from collections.abc import Iterable, Mapping
from decimal import Decimal

from prometheus_client import Gauge
from redis.asyncio import Redis

from libs.common.display import plain
from libs.common.domain.enums import Category
from libs.common.domain.ids import Symbol
from libs.common.metrics import DriftKind, EngineMetrics
from libs.common.stores import PositionStore
from libs.common.stores._support import replace_hash
from libs.common.tasks import wait_or_timeout
from libs.common.topology import POSITION_DRIFT_KEY
from libs.common.venue import BybitVenue, VenueConfig, VenuePort, VenuePosition

log = logging.getLogger(__name__)

_ZERO = Decimal(0)


def position_sides(
    local: Mapping[Symbol, Decimal], venue: Iterable[VenuePosition]
) -> dict[Symbol, tuple[Decimal, Decimal]]:
    """(local qty, venue qty), signed, for every symbol either side knows (hedge-mode legs
    summed)."""
    remote: dict[Symbol, Decimal] = {}
    for position in venue:
        signed = _ZERO if position.side is None else position.side.sign * position.size
        symbol = Symbol(position.symbol)
        remote[symbol] = remote.get(symbol, _ZERO) + signed
    symbols = sorted(set(remote) | set(local))
    return {s: (local.get(s, _ZERO), remote.get(s, _ZERO)) for s in symbols}


def position_drift(
    local: Mapping[Symbol, Decimal], venue: Iterable[VenuePosition]
) -> dict[Symbol, Decimal]:
    """|venue qty - local qty| for every symbol either side knows (hedge-mode legs summed)."""
    return drift_of(position_sides(local, venue))


def drift_of(sides: Mapping[Symbol, tuple[Decimal, Decimal]]) -> dict[Symbol, Decimal]:
    """|venue qty - local qty| of each symbol's (local qty, venue qty)."""
    return {s: abs(v - q) for s, (q, v) in sides.items()}


def drift_record(engine_qty: Decimal, venue_qty: Decimal, checked_ms: int) -> str:
    """One symbol's field of `POSITION_DRIFT_KEY`: JSON, the quantities as decimal strings."""
    drift = abs(venue_qty - engine_qty)
    return json.dumps(
        {
            "engine_qty": plain(engine_qty),
            "venue_qty": plain(venue_qty),
            "drift": plain(drift),
            "checked_ms": checked_ms,
        },
        separators=(",", ":"),
    )


async def write_drift(
    redis: Redis, sides: Mapping[Symbol, tuple[Decimal, Decimal]], *, checked_ms: int
) -> None:
    """Replace `POSITION_DRIFT_KEY` with one pass's (local qty, venue qty) per symbol, in one
    transaction: a symbol no side knows any more leaves it."""
    fields: dict[str, str | int] = {
        s: drift_record(q, v, checked_ms) for s, (q, v) in sides.items()
    }
    await replace_hash(redis, POSITION_DRIFT_KEY, fields)


class PositionReconciler:
    """One pass: read both sides, set the drift gauges, write the drift for the console (with
    `redis`), log what differs."""

    def __init__(
        self,
        *,
        positions: PositionStore,
        metrics: EngineMetrics,
        redis: Redis | None = None,
        category: Category = Category.LINEAR,
    ) -> None:
        self._positions = positions
        self._metrics = metrics
        self._redis = redis
        self._category = category
        self.last: dict[Symbol, Decimal] = {}

    async def reconcile(self, venue: VenuePort) -> dict[Symbol, Decimal]:
        remote, local = await asyncio.gather(venue.positions(self._category), self._positions.all())
        sides = position_sides({p.symbol: p.qty for p in local}, remote)
        drift = drift_of(sides)
        for symbol, amount in drift.items():
            self._gauge(symbol).set(float(amount))
            if amount:
                log.warning("position %s drifts from the venue by %s", symbol, amount)
        self.last = drift
        if self._redis is not None:
            await write_drift(self._redis, sides, checked_ms=time.time_ns() // 1_000_000)
        return drift

    def clear(self) -> None:
        """Drop the gauges: only the lease holder reports drift."""
        for symbol in self.last:
            self._metrics.reconciliation_drift.remove(DriftKind.POSITION_QTY.value, symbol)
        self.last = {}

    def _gauge(self, symbol: Symbol) -> Gauge:
        return self._metrics.reconciliation_drift.labels(
            kind=DriftKind.POSITION_QTY.value, symbol=symbol
        )


class ReconcileJob:
    """The lease holder's work: open the venue, reconcile every interval until cancelled."""

    def __init__(
        self, reconciler: PositionReconciler, venue: VenueConfig, interval_s: float
    ) -> None:
        self._reconciler = reconciler
        self._venue = venue
        self._interval_s = interval_s

    async def run(self, release: asyncio.Event) -> None:
        """Reconcile every interval until `release` is set."""
        venue = BybitVenue(self._venue)
        try:  # not `async with`: a start that fails must close what it opened too
            await venue.start()
            while not release.is_set():
                await self._reconciler.reconcile(venue)
                await wait_or_timeout(release, self._interval_s)
        finally:
            await venue.close()
