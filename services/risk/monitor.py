"""What every risk instance does each `refresh_interval_s`, from Redis alone.

- Gauges of shared state (the metrics docstring): `trading_state`, `risk_utilisation_ratio`
  per limit, `edge_threshold_bps` and `edge_bps` per symbol and source (a markout figure
  removed from Redis, its window empty, removes its series); `risk_limit` and
  `risk_limit_factor` per scalable limit, and `realised_volatility_bps` per symbol while the
  scaling rule uses it. Every instance sets the same values; dashboards take `max by`.
  The utilisation and the limits in force are per account (label `account`); the trading
  state (the desk's), the edges and the volatility are the desk's.
- Daily loss, per account: an account's P&L today (see `libs.common.risk_view`) at or below
  -daily_loss_limit freezes trading (the desk's, as every freeze risk raises by itself;
  DAILY_LOSS) once per UTC day: after an operator's unfreeze the desk keeps trading, and
  the pre-trade check still allows only reducing orders. Above it, at or below
  -daily_loss_soft_limit (when set), trading goes REDUCING (DAILY_LOSS_SOFT), also once per
  UTC day. Both are HARD: they stay until an operator resumes trading (a new day does not).
  The day counts as done once trading is held for a HARD reason (ours, or one already in
  place, which an operator will have to lift anyway); while it is held FROZEN for a TRANSIENT
  reason the trigger is tried again each tick: a freeze takes the transient one over, and
  the REDUCING takes over the auto-recovery's reduce-only warm-up.

- The transient freezes risk raises itself (Redis lost its data, positions lagging long,
  stale marks under a position): `services.risk.causes`.

Exposure needs no sweep: the ledger changes with every record write; `services.risk.audit`
verifies it.
"""

from __future__ import annotations

import logging

from redis.asyncio import Redis

from libs.common.accounts import PerAccount
from libs.common.batching import Clock
from libs.common.bus import Bus
from libs.common.domain.ids import DEFAULT_ACCOUNT
from libs.common.domain.risk_checks import FreezeClass, TradingState, daily_loss_breach
from libs.common.freeze import trigger_freeze, trigger_reducing
from libs.common.messages import Envelope
from libs.common.metrics import EngineMetrics, FreezeReason
from libs.common.risk_view import (
    RiskReader,
    RiskView,
    ensure_pnl_baseline,
    utc_day,
    utilisation,
)
from libs.common.stores import IdempotencyStore, RiskStateStore
from services.risk.causes import CauseWatch
from services.risk.edge import EdgeBook

log = logging.getLogger(__name__)

DAILY_LOSS_NAMESPACE = "risk:daily-loss"
DAILY_LOSS_SOFT_NAMESPACE = "risk:daily-loss-soft"
DAILY_LOSS_CLAIM_TTL_S = 2 * 24 * 3600


class RiskMonitor:
    """One `refresh` per tick; see the module docstring."""

    def __init__(
        self,
        *,
        redis: Redis,
        readers: PerAccount[RiskReader],
        risk: RiskStateStore,
        edges: EdgeBook,
        idempotency: IdempotencyStore,
        bus: Bus[Envelope],
        metrics: EngineMetrics,
        clock: Clock,
        actor: str,
        causes: PerAccount[CauseWatch] | None = None,
    ) -> None:
        self._redis = redis
        self._causes = causes
        self._readers = readers
        self._risk = risk
        self._edges = edges
        self._idempotency = idempotency
        self._bus = bus
        self._metrics = metrics
        self._clock = clock
        self._actor = actor
        self._edge_series: set[tuple[str, str]] = set()
        """The `edge_bps` series this instance set from Redis last time."""
        self._volatility_series: set[str] = set()
        """The `realised_volatility_bps` series this instance set last time."""

    async def refresh(self) -> None:
        now_ns = self._clock()
        for k, (account, reader) in enumerate(self._readers.items()):
            view = await reader.read(now_ns, books=True)
            await self._account_gauges(view)
            if k == 0:  # the desk's: any account's view shows them
                await self._gauges(view)
            await self._check_daily_loss(view, now_ns)
            if self._causes is not None:
                await self._causes[account].check(view, now_ns)

    async def _account_gauges(self, view: RiskView) -> None:
        """The account's: the utilisation of its limits in force, those limits and their
        scaling factors."""
        for (limit, symbol), ratio in utilisation(view).items():
            self._metrics.set_risk_utilisation(view.account, limit, symbol, ratio)
        for scope in view.limit_scopes():
            factors = view.scale.factors(scope.symbol)
            for name in sorted(scope.scalable):
                labels = {"account": view.account, "limit": name, "symbol": scope.label}
                in_force = float(getattr(scope.limits, name))
                self._metrics.risk_limit.labels(**labels).set(in_force)
                self._metrics.risk_limit_factor.labels(**labels).set(float(factors.get(name, 1)))

    async def _gauges(self, view: RiskView) -> None:
        metrics = self._metrics
        metrics.set_trading_state(view.status.state)
        for held in view.symbols:
            threshold = view.limits(held).edge_freeze_threshold_bps
            metrics.edge_threshold.labels(symbol=held).set(float(threshold))
        figures = await self._edges.all()
        for (named, source), edge in figures.items():
            metrics.edge.labels(symbol=named, source=source).set(float(edge))
        for gone, source in self._edge_series - set(figures):  # a markout window emptied
            metrics.edge.remove(gone, source)
        self._edge_series = set(figures)
        await self._scaling_gauges(view)

    async def _scaling_gauges(self, view: RiskView) -> None:
        """Each symbol's realised volatility, while the scaling rule uses it."""
        metrics = self._metrics
        estimates = view.volatility
        for held, entry in estimates.items():
            bps = float(entry.estimate.per_minute_bps)
            metrics.realised_volatility.labels(symbol=held).set(bps)
        for gone in self._volatility_series - set(estimates):  # the rule stopped using it
            metrics.realised_volatility.remove(gone)
        self._volatility_series = set(estimates)

    async def _check_daily_loss(self, view: RiskView, now_ns: int) -> None:
        baseline = view.pnl_baseline
        if baseline is None:
            baseline = await ensure_pnl_baseline(self._redis, view.account, now_ns, view.net_pnl)
        pnl_today, limits = view.net_pnl - baseline, view.desk_limits
        whose = "" if view.account == DEFAULT_ACCOUNT else f"account {view.account}: "
        # the default account keeps the namespaces it had before accounts existed
        suffix = "" if view.account == DEFAULT_ACCOUNT else f":{view.account}"
        if daily_loss_breach(pnl_today, limits.daily_loss_limit):
            detail = (
                f"{whose}P&L today {pnl_today:.2f} USD reached the daily loss limit "
                f"{limits.daily_loss_limit} USD"
            )
            await self._once_a_day(
                DAILY_LOSS_NAMESPACE + suffix, FreezeReason.DAILY_LOSS, detail, now_ns
            )
            return
        soft = limits.daily_loss_soft_limit
        if soft is not None and daily_loss_breach(pnl_today, soft):
            detail = (
                f"{whose}P&L today {pnl_today:.2f} USD reached the soft daily loss limit {soft} "
                "USD: only orders that reduce a position until an operator resumes trading"
            )
            await self._once_a_day(
                DAILY_LOSS_SOFT_NAMESPACE + suffix, FreezeReason.DAILY_LOSS_SOFT, detail, now_ns
            )

    async def _once_a_day(
        self, namespace: str, reason: FreezeReason, detail: str, now_ns: int
    ) -> None:
        """Freeze (DAILY_LOSS) or go REDUCING (DAILY_LOSS_SOFT), unless done today already;
        the day is done once trading is held for a HARD reason (see the module docstring)."""
        day = utc_day(now_ns)
        if await self._idempotency.seen(namespace, day):
            return  # done today already; an operator may have resumed since
        trigger = trigger_freeze if reason is FreezeReason.DAILY_LOSS else trigger_reducing
        result = await trigger(
            self._risk,
            self._metrics,
            reason=reason,
            detail=detail,
            actor=self._actor,
            now_ns=now_ns,
        )
        if result.changed:
            state = "FROZEN" if reason is FreezeReason.DAILY_LOSS else "REDUCING"
            log.warning("trading %s (epoch %d): %s", state, result.epoch, detail)
        else:
            status = await self._risk.trading_state()
            held = status.state is not TradingState.ACTIVE
            if not (held and status.freeze_class is FreezeClass.HARD):
                return  # held for a transient reason: try again next tick
        await self._idempotency.claim(namespace, day, DAILY_LOSS_CLAIM_TTL_S)
