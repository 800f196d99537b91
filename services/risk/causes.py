"""The transient freezes risk raises itself, each refresh, from the view it read: the engine
cannot see well enough to trade, for a while.

    redis_failover  the freeze key's generation changed, or the key is gone: Redis lost its
                    data (a failover to a replica that was behind, a restart without
                    persistence). Order records and the exposure ledger may have lost writes:
                    the routers cancel everything and reconcile with the venue.
    positions_lag   the oldest fill the venue reported has waited `freeze_positions_lag_s`
                    for positions (longer than `max_positions_lag_s`, after which every order
                    is already denied): quotes left resting keep filling while positions and
                    P&L are not current.
    stale_marks     a symbol with a position has had no fresh mark (`mark_max_age_s`) for
                    `freeze_stale_marks_s`, as this instance saw it: its inventory and the
                    day's P&L cannot be valued (its orders are denied `no_mark` already).

All three are TRANSIENT: the auto-recovery (`services.risk.recovery`) ends the freeze once the
cause has cleared for `recovery_clear_s`. Each instance freezes once per episode of a cause
(until it clears): an operator who resumes trading while the cause lasts is not overruled by
the same instance, and N instances that see the same cause make one change (the freeze is
idempotent). 0 for `freeze_positions_lag_s` or `freeze_stale_marks_s` turns that cause off.

The generation is only known once the freeze key exists: on its first refresh an instance
that finds no key writes one (a generation alone, state ACTIVE), so that a later loss shows.
"""

from __future__ import annotations

import logging
import secrets
from collections.abc import Iterable
from dataclasses import dataclass

from redis.asyncio import Redis

from libs.common.domain.ids import Symbol
from libs.common.domain.time import NS_PER_MS, NS_PER_SECOND
from libs.common.freeze import trigger_freeze
from libs.common.metrics import EngineMetrics, FreezeReason
from libs.common.risk_view import RiskView, oldest_unfolded_wait_ms
from libs.common.stores import RiskStateStore
from libs.common.topology import FREEZE_KEY

log = logging.getLogger(__name__)


@dataclass(frozen=True, slots=True)
class CauseLimits:
    """How long each cause may last before it freezes trading (0: never)."""

    positions_lag_ns: int
    stale_marks_ns: int


class CauseWatch:
    """One `check` per refresh; see the module docstring."""

    def __init__(
        self,
        *,
        redis: Redis,
        risk: RiskStateStore,
        metrics: EngineMetrics,
        limits: CauseLimits,
        actor: str,
    ) -> None:
        self._redis = redis
        self._risk = risk
        self._metrics = metrics
        self._limits = limits
        self._actor = actor
        self._generation: str | None = None
        """The freeze key's generation this instance last saw."""
        self._stale_since: dict[Symbol, int] = {}
        self._ongoing: set[FreezeReason] = set()
        """Causes this instance froze for that have not cleared since."""

    async def check(self, view: RiskView, now_ns: int) -> list[FreezeReason]:
        """Freeze for each cause present (once per episode); the causes frozen for."""
        found = {
            FreezeReason.REDIS_FAILOVER: self._data_loss(view),
            FreezeReason.POSITIONS_LAG: self._positions_lag(view),
            FreezeReason.STALE_MARKS: self._stale_marks(view, now_ns),
        }
        frozen = []
        for reason, detail in found.items():
            if detail is None:
                self._ongoing.discard(reason)
                continue
            if reason in self._ongoing:
                continue
            result = await trigger_freeze(
                self._risk,
                self._metrics,
                reason=reason,
                detail=detail,
                actor=self._actor,
                now_ns=now_ns,
            )
            self._ongoing.add(reason)
            frozen.append(reason)
            if result.changed:
                log.warning("trading FROZEN (epoch %d): %s: %s", result.epoch, reason, detail)
        await self._follow_generation(view, lost=FreezeReason.REDIS_FAILOVER in frozen)
        return frozen

    def _data_loss(self, view: RiskView) -> str | None:
        known, now = self._generation, view.status.generation
        if known is None or now == known:
            return None
        if now == "":
            return (
                f"the freeze key (generation {known}) is gone: Redis lost its data; order "
                "records and exposure may have lost writes"
            )
        return (
            f"the freeze key's generation changed from {known} to {now}: Redis lost its data; "
            "order records and exposure may have lost writes"
        )

    async def _follow_generation(self, view: RiskView, *, lost: bool) -> None:
        """Remember the key's generation (after a freeze for a loss: the one it wrote), and
        write a key with a generation when there is none."""
        generation = view.status.generation
        if lost or generation == "":
            if generation == "":
                await self._redis.hsetnx(FREEZE_KEY, "generation", secrets.token_hex(8))
            generation = (await self._risk.trading_state()).generation
        self._generation = generation or None

    def _positions_lag(self, view: RiskView) -> str | None:
        limit_ns = self._limits.positions_lag_ns
        waited_ms = oldest_unfolded_wait_ms(view)
        if limit_ns <= 0 or waited_ms is None or waited_ms * NS_PER_MS < limit_ns:
            return None
        return (
            f"the oldest fill the venue reported has waited {waited_ms / 1000:.1f} s for "
            f"positions (freeze after {_seconds(limit_ns)} s): positions and P&L are not current"
        )

    def _stale_marks(self, view: RiskView, now_ns: int) -> str | None:
        held = {s for s in view.symbols if view.position_qty(s) != 0 and s not in view.fresh}
        for symbol in set(self._stale_since) - held:
            del self._stale_since[symbol]
        for symbol in held:
            self._stale_since.setdefault(symbol, now_ns)
        limit_ns = self._limits.stale_marks_ns
        late = sorted(s for s in held if now_ns - self._stale_since[s] >= limit_ns)
        if limit_ns <= 0 or not late:
            return None
        return (
            f"no fresh mark for {_symbols(late)} with a position for {_seconds(limit_ns)} s or "
            "more: inventory and P&L cannot be valued"
        )


def _seconds(ns: int) -> str:
    return f"{ns / NS_PER_SECOND:g}"


def _symbols(symbols: Iterable[Symbol]) -> str:
    return ", ".join(symbols)
