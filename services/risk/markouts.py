"""Markouts: each fill against the mid some seconds after it, and a freeze on adverse selection.

Edge measured at fill time cannot see the market running through the quotes: a resting bid
fills at or below the mid, so its edge then is never negative. Its markout is:

    markout_i(h) = side.sign * (mid(t_i + h) - price_i) / price_i * 10_000     (bps)

(a Buy earns when the mid rises after it), and a symbol's markout edge at horizon h is the
notional-weighted mean of its markouts that came due in the last `markout_window_s`:

    markout(h) = sum(w_i * markout_i(h)) / sum(w_i),   w_i = qty_i * price_i (USD notional)

How, with any number of risk instances and restarts:

- Scheduling (`schedule`, on the hot path of each fill, O(1)): the step that measures a fill
  (`EdgeBook.add_fill`, one Lua script that claims its execId) also adds one member per
  horizon to `MARKOUTS_PENDING_KEY`, a sorted set by the ms the markout is due. The claim
  makes it once per fill, whoever handles it and however often. A fill without a mark at
  its time is neither measured nor marked out.
- Settling (`MarkoutSettler.run`, every `markout_interval_s`, by the one instance holding
  the lease `risk-markouts`): the members due at least `markout_settle_delay_s` ago are
  read, `SETTLE_BATCH` per tick; each gets the mid at its due time from the mark history
  (`MarkStore.at`), and one script removes it from the pending set and, only if it removed
  it, adds it to its time bucket: a markout counts once even when a stalled former lease
  holder settles it too. A markout whose moment the history no longer reaches (settled
  later than the history spans) is dropped, logged, not guessed.
- The window is `MARKOUT_BUCKETS` buckets of `markout_window_s / MARKOUT_BUCKETS` per symbol
  and horizon (`markout_bucket_key`: sums of notional, notional x markout, count; each key
  expires once out of the window): adding is O(1) and reading is O(buckets), never a scan of
  fills. A markout goes to the bucket of its due time (one settled so late that it is
  already out of the window counts nothing). The sums are HINCRBYFLOAT (17 significant
  digits): a mean to compare with a threshold, not money. The markouts themselves are
  Decimal.
- Publishing: the holder writes each window's mean to `EDGE_KEY` as `{symbol}|markout_<h>s`
  (removed when the window empties), from which every instance sets
  `edge_bps{source="markout_<h>s"}`.
- Freezing: when new markouts at `markout_freeze_horizon_s` came in for a symbol, its window
  holds at least `markout_min_fills` fills and its mean is below
  `markout_freeze_threshold_bps`, trading freezes (`FreezeReason.MARKOUT_EDGE`). Judged on
  new markouts only, as measured edge is judged on new fills: an operator's unfreeze is not
  undone by the same old window. The settling script counts each new markout at that
  horizon in `MARKOUTS_UNJUDGED_KEY` in the same step, and the judging takes the count off
  after it: a holder stopped between settling and judging (killed, Redis away) leaves the
  symbol to be judged by the next tick, whoever holds the lease then.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from decimal import Decimal
from typing import Any, Protocol

from redis.asyncio import Redis

from libs.common.domain.enums import Side
from libs.common.domain.ids import ExecId, Symbol
from libs.common.domain.risk_checks import edge_breach
from libs.common.domain.time import NS_PER_MS
from libs.common.freeze import trigger_freeze
from libs.common.messages import OrderFilled
from libs.common.metrics import EngineMetrics, FreezeReason, markout_source
from libs.common.stores import RiskStateStore
from libs.common.stores._support import LuaScript, ScriptCall, run_scripts, text
from libs.common.stores.leases import TickLease
from libs.common.stores.marks import Mark, MarkStore
from libs.common.topology import (
    MARKOUTS_PENDING_KEY,
    MARKOUTS_UNJUDGED_KEY,
    markout_bucket_key,
)

log = logging.getLogger(__name__)

MARKOUT_LEASE = "risk-markouts"
MARKOUT_BUCKETS = 10
"""Buckets per window: the window read is between 9/10 and all of `markout_window_s`."""
SETTLE_BATCH = 1_000
"""Due markouts settled per tick at most; a backlog takes several ticks."""
_BPS = Decimal(10_000)
_ZERO = Decimal(0)


# -- The rules -------------------------------------------------------------------------------


def markout_bps(side: Side, fill_price: Decimal, mid: Decimal) -> Decimal:
    """A fill's markout against a later mid, in bps: positive means the market moved our way."""
    if fill_price <= 0:
        raise ValueError(f"fill price {fill_price} is invalid: expected a positive price")
    return side.sign * (mid - fill_price) / fill_price * _BPS


def horizon_ms(horizon_s: Decimal) -> int:
    """A horizon in whole ms (settings hold them to whole ms)."""
    return int(horizon_s * 1000)


@dataclass(frozen=True, slots=True)
class PendingMarkout:
    """One fill's markout at one horizon, waiting for its moment."""

    symbol: Symbol
    side: Side
    price: Decimal
    weight: Decimal
    """The fill's notional, USD: its weight in the mean."""
    horizon_ms: int
    due_ns: int
    """The fill's execution time plus the horizon."""
    exec_id: ExecId

    @property
    def due_ms(self) -> int:
        return self.due_ns // NS_PER_MS

    def encode(self) -> str:
        """The pending set's member: the same for the same fill and horizon, whoever writes it."""
        return "|".join(
            (
                str(self.horizon_ms),
                self.symbol,
                self.side.value,
                str(self.price),
                str(self.weight),
                str(self.due_ns),
                self.exec_id,  # last: the only part that might hold a "|"
            )
        )

    @classmethod
    def decode(cls, raw: str) -> PendingMarkout:
        horizon, symbol, side, price, weight, due_ns, exec_id = raw.split("|", 6)
        return cls(
            symbol=Symbol(symbol),
            side=Side(side),
            price=Decimal(price),
            weight=Decimal(weight),
            horizon_ms=int(horizon),
            due_ns=int(due_ns),
            exec_id=ExecId(exec_id),
        )


def schedule(fill: OrderFilled, horizons_ms: Iterable[int]) -> list[PendingMarkout]:
    """The markouts of `fill`, one per horizon."""
    return [
        PendingMarkout(
            symbol=fill.symbol,
            side=fill.side,
            price=fill.price,
            weight=fill.qty * fill.price,
            horizon_ms=h,
            due_ns=fill.ts_event_ns + h * NS_PER_MS,
            exec_id=fill.exec_id,
        )
        for h in horizons_ms
    ]


@dataclass(frozen=True, slots=True)
class MarkoutWindow:
    """The sums of a symbol's markouts at one horizon over the window."""

    notional: Decimal
    weighted: Decimal
    """Sum of notional x markout bps."""
    fills: int

    @property
    def mean_bps(self) -> Decimal | None:
        """The notional-weighted mean markout; None when the window weighs nothing."""
        return None if self.notional <= 0 else self.weighted / self.notional


@dataclass(frozen=True, slots=True)
class Buckets:
    """The window cut into `MARKOUT_BUCKETS` time buckets of `width_ms`."""

    window_ms: int

    @property
    def width_ms(self) -> int:
        return max(1, self.window_ms // MARKOUT_BUCKETS)

    def of(self, ts_ms: int) -> int:
        return ts_ms // self.width_ms

    def expiry_ms(self, bucket: int) -> int:
        """When bucket `bucket` leaves every window read (`read`), plus one bucket of slack."""
        return (bucket + MARKOUT_BUCKETS + 1) * self.width_ms

    def read(self, now_ms: int) -> range:
        """The buckets a window read at `now_ms` sums: the current one and those before it."""
        current = self.of(now_ms)
        return range(current - MARKOUT_BUCKETS + 1, current + 1)


# -- Redis -----------------------------------------------------------------------------------

# Settle one markout. KEYS[1] the pending set, KEYS[2] its bucket hash, KEYS[3] the unjudged
# hash. ARGV: member, notional, notional x markout, expiry ms ('' to count nothing: dropped,
# or already out of the window), the symbol when the markout is at the freeze horizon ('' if
# not). Counts it only if it removed it: once, whoever settles it; and, counted at the freeze
# horizon, leaves its symbol to judge in the same step.
_SETTLE = LuaScript(
    """
if redis.call('ZREM', KEYS[1], ARGV[1]) == 0 then return 0 end
if ARGV[4] ~= '' then
  redis.call('HINCRBYFLOAT', KEYS[2], 'w', ARGV[2])
  redis.call('HINCRBYFLOAT', KEYS[2], 'wm', ARGV[3])
  redis.call('HINCRBY', KEYS[2], 'n', 1)
  redis.call('PEXPIREAT', KEYS[2], ARGV[4])
  if ARGV[5] ~= '' then redis.call('HINCRBY', KEYS[3], ARGV[5], 1) end
end
return 1
"""
)

# A symbol judged: KEYS[1] the unjudged hash; ARGV: the symbol, the count judged. Markouts
# counted since the judging read stay to judge.
_JUDGED = LuaScript(
    """
if redis.call('HINCRBY', KEYS[1], ARGV[1], -tonumber(ARGV[2])) <= 0 then
  redis.call('HDEL', KEYS[1], ARGV[1])
end
return 1
"""
)


def _plain(value: Decimal) -> str:
    return f"{value:.10f}"


class MarkoutBook:
    """Pending markouts and the per-symbol windows, shared by every risk instance."""

    def __init__(self, redis: Redis, *, window_s: float) -> None:
        self._redis = redis
        self.buckets = Buckets(window_ms=max(1, int(window_s * 1000)))

    async def due(self, until_ms: int, limit: int = SETTLE_BATCH) -> list[PendingMarkout]:
        """The oldest markouts due at or before `until_ms`, at most `limit`."""
        raw: Any = await self._redis.zrangebyscore(
            MARKOUTS_PENDING_KEY, "-inf", until_ms, start=0, num=limit
        )
        due, unreadable = [], []
        for member in raw:
            try:
                due.append(PendingMarkout.decode(text(member)))
            except (ValueError, ArithmeticError):  # left there, it would block every pass
                unreadable.append(member)
        if unreadable:
            log.error("%d unreadable pending markouts removed: %r", len(unreadable), unreadable)
            await self._redis.zrem(MARKOUTS_PENDING_KEY, *unreadable)
        return due

    async def settle(
        self,
        markouts: Sequence[tuple[PendingMarkout, Decimal | None]],
        now_ms: int,
        *,
        judge_horizon_ms: int,
    ) -> list[bool]:
        """Remove each markout from the pending set and add its value (None: dropped) to its
        bucket, leaving its symbol to judge when at `judge_horizon_ms`; True for those this
        call removed (and so counted)."""
        calls: list[ScriptCall] = []
        for pending, value in markouts:
            bucket = self.buckets.of(pending.due_ms)
            expiry = self.buckets.expiry_ms(bucket)
            counts = value is not None and expiry > now_ms
            args = [
                pending.encode(),
                _plain(pending.weight),
                _plain(pending.weight * value) if value is not None else "0",
                str(expiry) if counts else "",
                pending.symbol if pending.horizon_ms == judge_horizon_ms else "",
            ]
            key = markout_bucket_key(pending.symbol, pending.horizon_ms, bucket)
            calls.append((_SETTLE, [MARKOUTS_PENDING_KEY, key, MARKOUTS_UNJUDGED_KEY], args))
        replies = await run_scripts(self._redis, calls)
        return [int(reply) == 1 for reply in replies]

    async def unjudged(self) -> dict[Symbol, int]:
        """The symbols with markouts at the freeze horizon not judged yet, and how many."""
        raw: Any = await self._redis.hgetall(MARKOUTS_UNJUDGED_KEY)
        return {Symbol(text(k)): int(v) for k, v in raw.items()}

    async def judged(self, symbol: Symbol, count: int) -> None:
        """`count` markouts of `symbol` were judged (those counted since stay to judge)."""
        await _JUDGED(self._redis, [MARKOUTS_UNJUDGED_KEY], [symbol, count])

    async def window(self, symbol: Symbol, horizon: int, now_ms: int) -> MarkoutWindow:
        """The sums of `symbol`'s markouts at `horizon` (ms) in the window ending `now_ms`."""
        async with self._redis.pipeline(transaction=False) as pipe:
            for bucket in self.buckets.read(now_ms):
                pipe.hmget(markout_bucket_key(symbol, horizon, bucket), ["w", "wm", "n"])
            rows = await pipe.execute()
        notional, weighted, fills = _ZERO, _ZERO, 0
        for w, wm, n in rows:
            if w is not None:
                notional += Decimal(text(w))
                weighted += Decimal(text(wm))
                fills += int(n)
        return MarkoutWindow(notional=notional, weighted=weighted, fills=fills)

    async def pending_count(self) -> int:
        """Markouts not settled yet (every symbol and horizon)."""
        return int(await self._redis.zcard(MARKOUTS_PENDING_KEY))


# -- The settler -----------------------------------------------------------------------------


class EdgeFigures(Protocol):
    """Where the settler publishes each window's mean (`services.risk.edge.EdgeBook`)."""

    async def all(self) -> dict[tuple[Symbol, str], Decimal]:
        """Every published figure by (symbol, source)."""
        ...

    async def set_figure(self, symbol: Symbol, source: str, edge_bps: Decimal | None) -> None:
        """Publish `symbol`'s figure of `source`; None removes it."""
        ...


@dataclass(frozen=True, slots=True)
class MarkoutFreeze:
    """When markout edge freezes trading."""

    horizon_ms: int
    threshold_bps: Decimal
    min_fills: int


class MarkoutSettler:
    """One `run` per tick; settles, publishes and judges only while holding the lease."""

    def __init__(
        self,
        *,
        book: MarkoutBook,
        figures: EdgeFigures,
        marks: MarkStore,
        risk: RiskStateStore,
        lease: TickLease,
        metrics: EngineMetrics,
        horizons_ms: Sequence[int],
        freeze: MarkoutFreeze,
        settle_delay_ms: int,
        actor: str,
        clock: Callable[[], int],
    ) -> None:
        self._book = book
        self._figures = figures
        self._marks = marks
        self._risk = risk
        self._lease = lease
        self._metrics = metrics
        self._sources = {h: markout_source(Decimal(h) / 1000) for h in horizons_ms}
        self._freeze = freeze
        self._settle_delay_ms = settle_delay_ms
        self._actor = actor
        self._clock = clock
        self._last_bucket: int | None = None

    async def run(self) -> int:
        """Settle the due markouts if this instance holds the lease; how many it counted."""
        if not await self._lease.held():
            self._last_bucket = None  # once holding again, re-read every published window
            return 0
        now_ns = self._clock()
        now_ms = now_ns // NS_PER_MS
        due = await self._book.due(now_ms - self._settle_delay_ms)
        marks = await self._marks.at_many([(p.symbol, p.due_ns) for p in due])  # one trip
        valued = [
            (pending, self._value(pending, mark)) for pending, mark in zip(due, marks, strict=True)
        ]
        judge_ms = self._freeze.horizon_ms
        removed = (
            await self._book.settle(valued, now_ms, judge_horizon_ms=judge_ms) if valued else []
        )
        counted = [
            pending
            for (pending, value), done in zip(valued, removed, strict=True)
            if done and value is not None
        ]
        unjudged = await self._book.unjudged()  # this tick's, and a stopped holder's
        refresh = {(p.symbol, p.horizon_ms) for p in counted} | {(s, judge_ms) for s in unjudged}
        bucket = self._book.buckets.of(now_ms)
        if bucket != self._last_bucket:  # a bucket left the window: every figure may change
            refresh |= await self._published()
            self._last_bucket = bucket
        for symbol, horizon in sorted(refresh):
            window = await self._book.window(symbol, horizon, now_ms)
            await self._publish(symbol, horizon, window.mean_bps)
            if horizon == judge_ms and symbol in unjudged:
                await self._judge(symbol, window, now_ns)
                await self._book.judged(symbol, unjudged[symbol])
        return len(counted)

    def _value(self, pending: PendingMarkout, mark: Mark | None) -> Decimal | None:
        """The markout at its due time (`mark`: `at` its due time); None when the history no
        longer reaches back to it."""
        if mark is None or mark.ts_ns > pending.due_ns:
            log.warning(
                "markout of fill %s %s at +%d ms dropped: the mark history has no mark of its time",
                pending.exec_id,
                pending.symbol,
                pending.horizon_ms,
            )
            return None
        return markout_bps(pending.side, pending.price, mark.mid_or_mark)

    async def _published(self) -> set[tuple[Symbol, int]]:
        horizons = {source: h for h, source in self._sources.items()}
        figures = await self._figures.all()
        return {(symbol, horizons[source]) for symbol, source in figures if source in horizons}

    async def _publish(self, symbol: Symbol, horizon: int, mean: Decimal | None) -> None:
        source = self._sources.get(horizon)
        if source is None:  # pending from before the horizons changed: counted, not shown
            return
        await self._figures.set_figure(symbol, source, mean)
        if mean is None:
            self._metrics.edge.remove(symbol, source)
        else:
            self._metrics.edge.labels(symbol=symbol, source=source).set(float(mean))

    async def _judge(self, symbol: Symbol, window: MarkoutWindow, now_ns: int) -> None:
        mean, rule = window.mean_bps, self._freeze
        if mean is None or window.fills < rule.min_fills:
            return
        if not edge_breach(mean, rule.threshold_bps):
            return
        horizon = self._sources[rule.horizon_ms].removeprefix("markout_")
        window_s = Decimal(self._book.buckets.window_ms) / 1000
        detail = (
            f"markout edge {mean:.2f} bps at +{horizon} on {symbol} over {window.fills} fills "
            f"in {window_s.normalize():f} s is below the threshold {rule.threshold_bps} bps"
        )
        result = await trigger_freeze(
            self._risk,
            self._metrics,
            reason=FreezeReason.MARKOUT_EDGE,
            detail=detail,
            actor=self._actor,
            now_ns=now_ns,
        )
        if result.changed:
            log.warning("trading FROZEN (epoch %d): %s", result.epoch, detail)
