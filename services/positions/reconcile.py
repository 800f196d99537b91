"""Compare each account's positions at each venue with that account's there, signed with its
own credentials, by the one instance holding that lane's lease: `positions-reconcile` for
`default` at Bybit, `positions-reconcile:{account}` for another account, `:{venue}` appended
for another venue. Drift is reported, never repaired:
the venue is the truth, but a difference means a fill we missed or booked wrong, which an
operator must look at (the router's reconciliation replays missed executions; they then fold
in here).

`reconciliation_drift{account, venue, kind="position_qty", symbol}` is |venue qty - our qty|
of each lane this instance holds the lease of (`DriftGauges`), set after each pass; a lane's
series are dropped when its lease is lost. Each pass also replaces the lane's drift hash,
for the console: `POSITION_DRIFT_KEY` for `default` at Bybit, `POSITION_DRIFT_KEY:{account}`
for another account, `:{venue}` appended for another venue (`drift_key`), per symbol our
qty, the venue's, the drift and when it was checked (kept when the lease is lost: the next
holder's first pass replaces it).
"""

from __future__ import annotations

import asyncio
import json
import logging
import time
from collections.abc import Iterable, Mapping
from decimal import Decimal

from redis.asyncio import Redis

from libs.common.accounts import scoped_name, venue_scoped
from libs.common.display import plain
from libs.common.domain.enums import Category
from libs.common.domain.ids import DEFAULT_ACCOUNT, DEFAULT_VENUE, AccountId, Symbol, VenueId
from libs.common.metrics import DriftKind, EngineMetrics
from libs.common.stores import PositionStore
from libs.common.stores._support import replace_hash
from libs.common.tasks import wait_or_timeout
from libs.common.topology import POSITION_DRIFT_KEY
from libs.common.venue import (
    BinanceConfig,
    VenueConfig,
    VenuePort,
    VenuePosition,
    open_venue,
)

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


def drift_key(account: AccountId, venue: VenueId = DEFAULT_VENUE) -> str:
    """The lane's drift hash: `POSITION_DRIFT_KEY` for `default` at Bybit (the console reads
    it), `POSITION_DRIFT_KEY:{account}` for another account, `:{venue}` for another venue."""
    return venue_scoped(scoped_name(POSITION_DRIFT_KEY, account), venue)


async def write_drift(
    redis: Redis,
    sides: Mapping[Symbol, tuple[Decimal, Decimal]],
    *,
    checked_ms: int,
    key: str = POSITION_DRIFT_KEY,
) -> None:
    """Replace `key` (`POSITION_DRIFT_KEY`, another account's `drift_key`) with one pass's
    (local qty, venue qty) per symbol, in one transaction: a symbol no side knows any more
    leaves it."""
    fields: dict[str, str | int] = {
        s: drift_record(q, v, checked_ms) for s, (q, v) in sides.items()
    }
    await replace_hash(redis, key, fields)


class DriftGauges:
    """`reconciliation_drift{account, venue, kind="position_qty", symbol}` of the lanes
    reported (those whose lease this instance holds)."""

    def __init__(self, metrics: EngineMetrics) -> None:
        self._metrics = metrics
        self._shown: dict[tuple[AccountId, VenueId], set[Symbol]] = {}

    def report(
        self, account: AccountId, drift: Mapping[Symbol, Decimal], venue: VenueId = DEFAULT_VENUE
    ) -> None:
        """The lane's drift of its latest pass replaces its previous one."""
        gauge, kind = self._metrics.reconciliation_drift, DriftKind.POSITION_QTY.value
        for symbol in self._shown.get((account, venue), set()) - drift.keys():
            gauge.remove(account, venue, kind, symbol)
        for symbol, amount in drift.items():
            gauge.labels(account=account, venue=venue, kind=kind, symbol=symbol).set(float(amount))
        self._shown[account, venue] = set(drift)

    def clear(self, account: AccountId, venue: VenueId = DEFAULT_VENUE) -> None:
        """Drop the lane's series (its lease was lost)."""
        self.report(account, {}, venue)
        self._shown.pop((account, venue), None)


class PositionReconciler:
    """One account's pass: read both sides, report the drift to the gauges, write it for the
    console (with `redis`), log what differs."""

    def __init__(
        self,
        *,
        positions: PositionStore,
        gauges: DriftGauges,
        redis: Redis | None = None,
        account: AccountId = DEFAULT_ACCOUNT,
        venue: VenueId = DEFAULT_VENUE,
        category: Category = Category.LINEAR,
    ) -> None:
        self.account = account
        self.venue = venue
        self._positions = positions
        self._gauges = gauges
        self._redis = redis
        self._category = category
        self.last: dict[Symbol, Decimal] = {}
        """The drift of the latest pass, per symbol (empty when the lease was lost)."""

    async def reconcile(self, venue: VenuePort) -> dict[Symbol, Decimal]:
        """One pass against `venue`, which must sign as this reconciler's account."""
        remote, local = await asyncio.gather(venue.positions(self._category), self._positions.all())
        sides = position_sides({p.symbol: p.qty for p in local}, remote)
        drift = drift_of(sides)
        for symbol, amount in drift.items():
            if amount:
                log.warning(
                    "position %s of account %s drifts from %s by %s",
                    symbol,
                    self.account,
                    self.venue,
                    amount,
                )
        self.last = drift
        self._gauges.report(self.account, drift, self.venue)
        if self._redis is not None:
            checked_ms = time.time_ns() // 1_000_000
            key = drift_key(self.account, self.venue)
            await write_drift(self._redis, sides, checked_ms=checked_ms, key=key)
        return drift

    def clear(self) -> None:
        """Drop this lane's share of the gauges: only the lease holder reports drift."""
        self._gauges.clear(self.account, self.venue)
        self.last = {}


class ReconcileJob:
    """The lease holder's work: open the venue (signing as the reconciler's account),
    reconcile every interval until released."""

    def __init__(
        self,
        reconciler: PositionReconciler,
        venue: VenueConfig | BinanceConfig,
        interval_s: float,
    ) -> None:
        self._reconciler = reconciler
        self._venue = venue
        self._interval_s = interval_s

    async def run(self, release: asyncio.Event) -> None:
        """Reconcile every interval until `release` is set."""
        venue = open_venue(self._venue)
        try:  # not `async with`: a start that fails must close what it opened too
            await venue.start()
            while not release.is_set():
                await self._reconciler.reconcile(venue)
                await wait_or_timeout(release, self._interval_s)
        finally:
            await venue.close()
