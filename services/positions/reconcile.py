"""Compare our positions with the venue's, by the one instance holding the lease
"positions-reconcile". Drift is reported, never repaired: the venue is the truth, but a
difference means a fill we missed or booked wrong, which an operator must look at (the
router's reconciliation replays missed executions; they then fold in here).

`reconciliation_drift{kind="position_qty", symbol}` is |venue qty - our qty| per symbol,
set by the holder after each pass (and cleared when it loses the lease).
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Iterable, Mapping
from decimal import Decimal

from prometheus_client import Gauge

from libs.common.domain.enums import Category
from libs.common.domain.ids import Symbol
from libs.common.metrics import DriftKind, EngineMetrics
from libs.common.stores import PositionStore
from libs.common.tasks import wait_or_timeout
from libs.common.venue import BybitVenue, VenueConfig, VenuePort, VenuePosition

log = logging.getLogger(__name__)

_ZERO = Decimal(0)


def position_drift(
    local: Mapping[Symbol, Decimal], venue: Iterable[VenuePosition]
) -> dict[Symbol, Decimal]:
    """|venue qty - local qty| for every symbol either side knows (hedge-mode legs summed)."""
    remote: dict[Symbol, Decimal] = {}
    for position in venue:
        signed = _ZERO if position.side is None else position.side.sign * position.size
        symbol = Symbol(position.symbol)
        remote[symbol] = remote.get(symbol, _ZERO) + signed
    symbols = sorted(set(remote) | set(local))
    return {s: abs(remote.get(s, _ZERO) - local.get(s, _ZERO)) for s in symbols}


class PositionReconciler:
    """One pass: read both sides, set the drift gauges, log what differs."""

    def __init__(
        self,
        *,
        positions: PositionStore,
        metrics: EngineMetrics,
        category: Category = Category.LINEAR,
    ) -> None:
        self._positions = positions
        self._metrics = metrics
        self._category = category
        self.last: dict[Symbol, Decimal] = {}

    async def reconcile(self, venue: VenuePort) -> dict[Symbol, Decimal]:
        remote, local = await asyncio.gather(venue.positions(self._category), self._positions.all())
        drift = position_drift({p.symbol: p.qty for p in local}, remote)
        for symbol, amount in drift.items():
            self._gauge(symbol).set(float(amount))
            if amount:
                log.warning("position %s drifts from the venue by %s", symbol, amount)
        self.last = drift
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
