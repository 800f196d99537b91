"""The exposure audit, every `audit_interval_s`, by the one risk instance holding its lease.

For each symbol with exposure, `libs.common.stores.exposure_audit.audit_symbol` recomputes
the ledger's entries from the order records and its totals from the entries, and repairs
what differs. Every repair is logged, counted (`exposure_drift_total{kind}`, alert
ExposureDrift) and recorded on the `audit` stream as `ExposureRepaired`. The venue side of
the truth is the router's reconciliation, which moves the records to what the venue says
(and so the ledger with them).
"""

from __future__ import annotations

import logging
from decimal import Decimal

from redis.asyncio import Redis

from libs.common import topology
from libs.common.accounts import PerAccount
from libs.common.bus import Bus
from libs.common.domain.exposure import from_units
from libs.common.messages import Envelope, ExposureRepaired
from libs.common.metrics import EngineMetrics, ExposureDriftKind
from libs.common.stores.exposure import ExposureLedger
from libs.common.stores.exposure_audit import Drift, audit_symbol
from libs.common.stores.leases import TickLease

log = logging.getLogger(__name__)

AUDIT_LEASE = "risk-exposure-audit"


class ExposureAuditor:
    """One `run` per tick; audits only while holding the lease."""

    def __init__(
        self,
        *,
        redis: Redis,
        ledgers: PerAccount[ExposureLedger],
        lease: TickLease,
        bus: Bus[Envelope],
        metrics: EngineMetrics,
    ) -> None:
        self._redis = redis
        self._ledgers = ledgers
        self._lease = lease
        self._bus = bus
        self._metrics = metrics

    async def run(self) -> list[Drift]:
        """Audit every symbol if this instance holds the lease; the repairs made."""
        if not await self._lease.held():
            return []
        drifts: list[Drift] = []
        for account, ledger in self._ledgers.items():
            for symbol in sorted(await ledger.symbols()):
                drifts += await audit_symbol(self._redis, account, symbol)
        if drifts:
            await self._report(drifts)
        return drifts

    async def _report(self, drifts: list[Drift]) -> None:
        events = []
        for drift in drifts:
            log.error(
                "exposure drift repaired: %s %s %s recorded %d, expected %d",
                drift.symbol,
                drift.kind,
                drift.key,
                drift.recorded,
                drift.expected,
            )
            self._metrics.exposure_drift.labels(kind=drift.kind.value).inc()
            events.append(Envelope.wrap(_repaired(drift)))
        await self._bus.publish_many(topology.AUDIT, events)


def _repaired(drift: Drift) -> ExposureRepaired:
    counts = drift.kind is ExposureDriftKind.TOTAL and drift.key == "count"
    recorded, expected = (
        (Decimal(drift.recorded), Decimal(drift.expected))
        if counts
        else (from_units(drift.recorded), from_units(drift.expected))
    )
    return ExposureRepaired(
        account=drift.account,
        symbol=drift.symbol,
        kind=drift.kind.value,
        key=drift.key,
        recorded=recorded,
        expected=expected,
    )
