"""Edge monitoring: reported by strategies, measured from fills; below the threshold, freeze.

`EdgeBook` keeps, in Redis, each symbol's last reported edge and its measured edge (the
formula is in `services.risk.rules`): the last N measured fills of a symbol are a list
(`edge_fills_key`) that a fill joins once (its execId is claimed in the same script), and
`EDGE_KEY` holds the latest figures, from which every instance sets its `edge_bps` gauges.

`EdgeWatch` is what the service does with them: on ReportEdge, record and compare; on
OrderFilled, measure against the mid at the fill's time (`MarkStore.at`), publish
`EdgeMeasured` (under an event id derived from the execId), and compare the rolling figure
once it has M fills; the same script that admits a fill to the window schedules its
markouts (`services.risk.markouts` settles and judges them). EdgeMeasured's `edge_bps` (what
clients read on the stream) is shown as every bps figure is (`libs.common.display.bps`: 2
decimals, half-even); the fill samples, the figures in `EDGE_KEY`, the gauges and the
comparison with the threshold use the exact figures. A breach calls
`trigger_freeze(EDGE_COLLAPSE)`: of N instances seeing it, one freezes.
"""

from __future__ import annotations

import logging
from collections.abc import Iterable, Sequence
from decimal import Decimal
from typing import Any

from redis.asyncio import Redis

from libs.common.batching import derive_event_id
from libs.common.bus import Bus
from libs.common.display import bps
from libs.common.domain.ids import AccountId, EventId, ExecId, Symbol
from libs.common.domain.risk_checks import edge_breach, measured_edge_bps
from libs.common.freeze import trigger_freeze
from libs.common.messages import EdgeMeasured, Envelope, OrderFilled, ReportEdge
from libs.common.metrics import EdgeSource, EngineMetrics, FreezeReason
from libs.common.stores import RiskStateStore
from libs.common.stores._support import LuaScript, ScriptArg, text
from libs.common.stores.marks import MarkStore
from libs.common.topology import (
    EDGE_KEY,
    MARKOUTS_PENDING_KEY,
    edge_fills_key,
    edge_seen_key,
)
from services.risk.markouts import PendingMarkout, schedule
from services.risk.rules import EdgeSample, rolling_edge

log = logging.getLogger(__name__)

_SOURCES = frozenset({EdgeSource.REPORTED.value, EdgeSource.MEASURED.value})
SEEN_TTL_S = 7 * 24 * 3600
"""How long a measured execId is remembered (as positions remembers applied fills)."""

# Add a measured fill once. KEYS[1] the execId's claim, KEYS[2] the symbol's fill list,
# KEYS[3] the pending markouts. ARGV: sample, window length, claim TTL ms, then (due ms,
# member) per markout. Returns {1 if added now else 0, the window}.
_ADD_FILL = LuaScript(
    """
local added = 0
if redis.call('SET', KEYS[1], '1', 'NX', 'PX', ARGV[3]) then
  redis.call('LPUSH', KEYS[2], ARGV[1])
  redis.call('LTRIM', KEYS[2], 0, tonumber(ARGV[2]) - 1)
  for i = 4, #ARGV, 2 do
    redis.call('ZADD', KEYS[3], ARGV[i], ARGV[i + 1])
  end
  added = 1
end
return {added, redis.call('LRANGE', KEYS[2], 0, tonumber(ARGV[2]) - 1)}
"""
)


class EdgeBook:
    """Reported, measured and markout edge per symbol, shared by every risk instance."""

    def __init__(self, redis: Redis, *, window: int, markout_sources: Iterable[str] = ()) -> None:
        self._redis = redis
        self._window = window
        self._sources = _SOURCES | frozenset(markout_sources)

    async def report(self, symbol: Symbol, edge_bps: Decimal) -> None:
        await self._redis.hset(EDGE_KEY, f"{symbol}|{EdgeSource.REPORTED}", str(edge_bps))

    async def add_fill(
        self,
        symbol: Symbol,
        exec_id: ExecId,
        sample: EdgeSample,
        markouts: Sequence[PendingMarkout] = (),
    ) -> tuple[bool, list[EdgeSample]]:
        """Add the fill to the window and schedule its `markouts`, unless it was; return
        (added now, the window)."""
        keys = [edge_seen_key(exec_id), edge_fills_key(symbol), MARKOUTS_PENDING_KEY]
        args: list[ScriptArg] = [sample.encode(), self._window, SEEN_TTL_S * 1000]
        for markout in markouts:
            args += [markout.due_ms, markout.encode()]
        added, window = await _ADD_FILL(self._redis, keys, args)
        return int(added) == 1, [EdgeSample.decode(text(raw)) for raw in window]

    async def set_measured(self, symbol: Symbol, edge_bps: Decimal, fills: int) -> None:
        fields = {f"{symbol}|{EdgeSource.MEASURED}": str(edge_bps), f"{symbol}|fills": fills}
        await self._redis.hset(EDGE_KEY, mapping=fields)  # type: ignore[arg-type]

    async def set_figure(self, symbol: Symbol, source: str, edge_bps: Decimal | None) -> None:
        """Publish a figure of `source` (a markout's window mean); None removes it."""
        field = f"{symbol}|{source}"
        if edge_bps is None:
            await self._redis.hdel(EDGE_KEY, field)
        else:
            await self._redis.hset(EDGE_KEY, field, str(edge_bps))

    async def all(self) -> dict[tuple[Symbol, str], Decimal]:
        """Every symbol's latest reported, measured and markout edge, by (symbol, source)."""
        record: Any = await self._redis.hgetall(EDGE_KEY)
        figures = {}
        for raw_key, raw_value in record.items():
            symbol, _, kind = text(raw_key).partition("|")
            if kind in self._sources:
                figures[(Symbol(symbol), kind)] = Decimal(text(raw_value))
        return figures


class EdgeWatch:
    """Records edge, publishes measurements, freezes on a breach."""

    def __init__(
        self,
        *,
        book: EdgeBook,
        marks: MarkStore,
        risk: RiskStateStore,
        bus: Bus[Envelope],
        metrics: EngineMetrics,
        min_fills: int,
        actor: str,
        markout_horizons_ms: Sequence[int] = (),
    ) -> None:
        self._book = book
        self._markout_horizons_ms = tuple(markout_horizons_ms)
        self._marks = marks
        self._risk = risk
        self._bus = bus
        self._metrics = metrics
        self._min_fills = min_fills
        self._actor = actor

    async def on_report(self, report: ReportEdge, now_ns: int) -> None:
        """Record a strategy's edge; freeze if it is below the symbol's threshold."""
        await self._book.report(report.symbol, report.edge_bps)
        self._gauge(report.symbol, EdgeSource.REPORTED, report.edge_bps)
        threshold = (await self._risk.get_limits(report.symbol)).edge_freeze_threshold_bps
        if edge_breach(report.edge_bps, threshold):
            detail = (
                f"reported edge {report.edge_bps} bps on {report.symbol} (from {report.source}) "
                f"is below the threshold {threshold} bps"
            )
            await self._freeze(detail, now_ns)

    async def on_fills(
        self, fills: Sequence[tuple[Envelope, OrderFilled]], now_ns: int
    ) -> tuple[list[tuple[AccountId, Envelope]], list[BaseException | None]]:
        """Measure each fill; return the EdgeMeasured events to publish (each with the account
        of its fill, whose stream carries it) and, per fill, the error that stopped its
        measurement (None when done)."""
        events: list[tuple[AccountId, Envelope]] = []
        errors: list[BaseException | None] = []
        latest: dict[Symbol, tuple[Decimal, int]] = {}
        for envelope, fill in fills:
            try:
                measured = await self._measure(envelope, fill)
            except Exception as error:  # this fill alone is retried
                errors.append(error)
                continue
            errors.append(None)
            if measured is not None:
                event, rolling = measured
                events.append((fill.account, event))
                if rolling is not None:
                    latest[fill.symbol] = rolling
        for symbol, (edge, count) in latest.items():
            await self._judge(symbol, edge, count, now_ns)
        return events, errors

    async def _measure(
        self, envelope: Envelope, fill: OrderFilled
    ) -> tuple[Envelope, tuple[Decimal, int] | None] | None:
        """The fill's EdgeMeasured (under an id stable per execId: a fill measured again is
        announced again under the same id) and its symbol's rolling (edge, fills)."""
        mark = await self._marks.at(fill.symbol, fill.ts_event_ns)
        if mark is None:
            log.warning(
                "fill %s %s: no mark to measure its edge against",
                fill.exec_id,
                fill.symbol,
                extra={"cid": envelope.correlation_id},
            )
            return None
        mid = mark.mid_or_mark
        edge = measured_edge_bps(fill.side, fill.price, mid)
        sample = EdgeSample(weight=fill.qty * fill.price, edge_bps=edge)
        markouts = schedule(fill, self._markout_horizons_ms)
        _, window = await self._book.add_fill(fill.symbol, fill.exec_id, sample, markouts)
        message = EdgeMeasured(
            symbol=fill.symbol,
            exec_id=fill.exec_id,
            side=fill.side,
            fill_price=fill.price,
            mid=mid,
            edge_bps=bps(edge),
            account=fill.account,
        )
        event_id = derive_event_id(EventId(f"exec:{fill.exec_id}"), "edge")
        event = Envelope.wrap(message, envelope.correlation_id, event_id=event_id)
        rolling = rolling_edge(window)
        return event, None if rolling is None else (rolling, len(window))

    async def _judge(self, symbol: Symbol, edge: Decimal, fills: int, now_ns: int) -> None:
        await self._book.set_measured(symbol, edge, fills)
        self._gauge(symbol, EdgeSource.MEASURED, edge)
        if fills < self._min_fills:
            return
        threshold = (await self._risk.get_limits(symbol)).edge_freeze_threshold_bps
        if edge_breach(edge, threshold):
            detail = (
                f"measured edge {edge:.2f} bps on {symbol} over its last {fills} fills "
                f"is below the threshold {threshold} bps"
            )
            await self._freeze(detail, now_ns)

    async def _freeze(self, detail: str, now_ns: int) -> None:
        result = await trigger_freeze(
            self._risk,
            self._metrics,
            reason=FreezeReason.EDGE_COLLAPSE,
            detail=detail,
            actor=self._actor,
            now_ns=now_ns,
        )
        if result.changed:
            log.warning("trading FROZEN (epoch %d): %s", result.epoch, detail)

    def _gauge(self, symbol: Symbol, source: EdgeSource, edge: Decimal) -> None:
        self._metrics.edge.labels(symbol=symbol, source=source.value).set(float(edge))
