"""Auto-recovery from a transient freeze, every `recovery_check_interval_s`, by the one risk
instance holding the lease `risk-auto-recovery`.

The freeze key records its reason's code and class (`libs.common.freeze`). While trading is
FROZEN for a TRANSIENT reason, the holder looks at that reason's cause each tick:

    venue_circuit    every router's venue circuit (`venue_circuit_key`, listed in
                     `VENUE_CIRCUITS_KEY`, as each router writes it) is closed; a router whose
                     hash expired (it stopped) is not counted
    positions_lag    the oldest fill waiting for positions has waited less than
                     `max_positions_lag_s` (`risk_utilisation_ratio` below 1)
    stale_marks      every symbol with a position has a fresh mark
    redis_failover   Redis answers (it just did)

Once the cause has been seen cleared for `recovery_clear_s` without a break (a look that
finds it not cleared starts the wait again; so does a new holder of the lease), trading goes
REDUCING, only orders that reduce a position, for `recovery_warmup_s`, then ACTIVE
(`libs.common.domain.recovery.decide`). Each step is `RiskStateStore.recover` from the exact
epoch seen, so a freeze or an operator's change made meanwhile is never undone: a freeze
during the warm-up stands, and its own class decides what comes next. The operator's
unfreeze cooldown does not apply: the clear time is this path's guard.

At most `recovery_max_per_hour` recoveries begin in any rolling hour, counted in
`RECOVERIES_KEY` (a sorted set by ms) so that every instance and a restart agree. A freeze
whose cause cleared once the hour's recoveries are used up stays FROZEN: logged as an error,
counted (`auto_recoveries_total{outcome="capped"}`, alert AutoRecoveryCapped) and recorded
once on `audit`, and never auto-recovered again: a person must act.

Every step publishes `TradingStateChanged` and a `risk.freeze_history` record (the store's
step), an `OperatorAction` on `audit` (actor `risk:auto-recovery`), a log line and
`auto_recoveries_total{reason, outcome}`.
"""

from __future__ import annotations

import logging
from collections.abc import Callable

from redis.asyncio import Redis

from libs.common import topology
from libs.common.accounts import PerAccount
from libs.common.bus import Bus
from libs.common.domain.recovery import (
    HOUR_NS,
    Facts,
    RecoveryPolicy,
    Step,
    cleared_since,
    decide,
)
from libs.common.domain.risk_checks import FreezeClass, TradingState
from libs.common.domain.time import NS_PER_MS, NS_PER_SECOND
from libs.common.messages import Envelope, OperatorAction
from libs.common.metrics import (
    ALL_SYMBOLS,
    CircuitState,
    EngineMetrics,
    FreezeReason,
    RecoveryOutcome,
)
from libs.common.risk_view import RiskReader, utilisation
from libs.common.stores import IdempotencyStore, RiskStateStore, TradingStatus
from libs.common.stores.leases import TickLease
from libs.common.venue_circuits import read_circuit_fields

log = logging.getLogger(__name__)

RECOVERY_LEASE = "risk-auto-recovery"
RECOVERY_ACTOR = "risk:auto-recovery"
RECOVERIES_KEY = f"{topology.KEY_PREFIX}:risk:auto-recoveries"
"""Sorted set: each recovery begun in the last hour (`{generation}:{epoch}` it left), by ms."""
CAPPED_NAMESPACE = "risk:auto-recovery-capped"
"""Idempotency claims of the freezes the recovery gave up on (`{generation}:{epoch}`)."""
CAPPED_TTL_S = 7 * 24 * 3600


class AutoRecovery:
    """One `run` per tick; acts only while holding the lease."""

    def __init__(
        self,
        *,
        redis: Redis,
        risk: RiskStateStore,
        readers: PerAccount[RiskReader],
        lease: TickLease,
        idempotency: IdempotencyStore,
        bus: Bus[Envelope],
        metrics: EngineMetrics,
        policy: RecoveryPolicy,
        clock: Callable[[], int],
    ) -> None:
        self._redis = redis
        self._risk = risk
        self._readers = readers
        self._lease = lease
        self._idempotency = idempotency
        self._bus = bus
        self._metrics = metrics
        self._policy = policy
        self._clock = clock
        self._watching: tuple[str, int] | None = None
        """(generation, epoch) of the state whose cause `_cleared_since` is about."""
        self._cleared_since: int | None = None

    async def run(self) -> Step:
        """Look once (if holding the lease) and take the step due; the step decided."""
        if not await self._lease.held():
            self._watching = self._cleared_since = None  # a new holder waits afresh
            return Step.NOTHING
        now_ns = self._clock()
        status = await self._risk.trading_state()
        if (status.generation, status.epoch) != self._watching:
            self._watching, self._cleared_since = (status.generation, status.epoch), None
        recent, gave_up = 0, False
        if status.state is TradingState.FROZEN and status.freeze_class is FreezeClass.TRANSIENT:
            gave_up = await self._idempotency.seen(CAPPED_NAMESPACE, _freeze_id(status))
            cleared = not gave_up and await self._cleared(status.code, now_ns)
            self._cleared_since = cleared_since(self._cleared_since, cleared, now_ns)
            recent = await self._recent(now_ns)
        facts = Facts(
            state=status.state,
            freeze_class=status.freeze_class,
            since_ns=status.since_ns,
            cleared_since_ns=self._cleared_since,
            recent=recent,
            gave_up=gave_up,
            now_ns=now_ns,
        )
        step = decide(facts, self._policy)
        if step is Step.REDUCE:
            await self._reduce(status, now_ns)
        elif step is Step.RESUME:
            await self._resume(status, now_ns)
        elif step is Step.CAPPED:
            await self._give_up(status, recent)
        return step

    # -- the causes -------------------------------------------------------------------------

    async def _cleared(self, code: str, now_ns: int) -> bool:
        """Whether the cause of a freeze with reason `code` has cleared now."""
        if code == FreezeReason.VENUE_CIRCUIT:
            return await circuits_closed(self._redis)
        if code == FreezeReason.POSITIONS_LAG:  # cleared in every account
            for _, reader in self._readers.items():
                view = await reader.read(now_ns, books=True)
                if utilisation(view)[("max_positions_lag_s", ALL_SYMBOLS)] >= 1:
                    return False
            return True
        if code == FreezeReason.STALE_MARKS:
            for _, reader in self._readers.items():
                view = await reader.read(now_ns)
                held = [s for s in view.symbols if view.position_qty(s) != 0]
                if not all(s in view.fresh for s in held):
                    return False
            return True
        if code == FreezeReason.REDIS_FAILOVER:
            return bool(await self._redis.ping())
        return False  # a transient code this version has no check for: a person decides

    # -- the steps --------------------------------------------------------------------------

    async def _reduce(self, status: TradingStatus, now_ns: int) -> None:
        policy = self._policy
        reason = (
            f"auto-recovery: {status.code} cleared for {_seconds(policy.clear_ns)} s; only "
            f"orders that reduce a position for {_seconds(policy.warmup_ns)} s, then ACTIVE"
        )
        # counted first: a crash between the two over-counts (the safe side of the cap), and
        # never twice for one freeze (the member is the freeze's generation and epoch)
        await self._count(status, now_ns)
        result = await self._risk.recover(
            TradingState.REDUCING,
            reason,
            RECOVERY_ACTOR,
            now_ns,
            epoch=status.epoch,
            code=status.code,
        )
        if not result.changed:
            log.info("auto-recovery: the state moved on from epoch %d; nothing done", status.epoch)
            return
        log.warning("trading REDUCING (epoch %d): %s", result.epoch, reason)
        await self._record(status.code, RecoveryOutcome.REDUCING, reason, result.epoch)

    async def _resume(self, status: TradingStatus, now_ns: int) -> None:
        reason = (
            f"auto-recovery: {status.code} stayed cleared through the "
            f"{_seconds(self._policy.warmup_ns)} s reduce-only warm-up"
        )
        result = await self._risk.recover(
            TradingState.ACTIVE, reason, RECOVERY_ACTOR, now_ns, epoch=status.epoch, code=""
        )
        if not result.changed:
            log.info("auto-recovery: the state moved on from epoch %d; nothing done", status.epoch)
            return
        log.warning("trading ACTIVE (epoch %d): %s", result.epoch, reason)
        await self._record(status.code, RecoveryOutcome.RESUMED, reason, result.epoch)

    async def _give_up(self, status: TradingStatus, recent: int) -> None:
        """Say once per freeze that a person must act: said, then marked said (a crash
        between them says it again rather than never)."""
        reason = (
            f"auto-recovery: {status.code} cleared, but {recent} auto-recoveries began in the "
            f"last hour (at most {self._policy.max_per_hour}): trading stays FROZEN until an "
            "operator resumes it"
        )
        log.error("%s (epoch %d)", reason, status.epoch)
        await self._record(status.code, RecoveryOutcome.CAPPED, reason, status.epoch)
        await self._idempotency.claim(CAPPED_NAMESPACE, _freeze_id(status), CAPPED_TTL_S)

    async def _record(self, code: str, outcome: RecoveryOutcome, reason: str, epoch: int) -> None:
        """Count the step and append it to `audit`."""
        self._metrics.auto_recoveries.labels(reason=code, outcome=outcome.value).inc()
        action = OperatorAction(
            action=f"auto_recovery_{outcome.value}",
            actor=RECOVERY_ACTOR,
            reason=reason,
            details={"freeze_reason": code, "epoch": str(epoch)},
        )
        await self._bus.publish(topology.AUDIT, Envelope.wrap(action))

    # -- the hour's count -------------------------------------------------------------------

    async def _recent(self, now_ns: int) -> int:
        """Recoveries begun in the last hour (older ones are dropped)."""
        since_ms = (now_ns - HOUR_NS) // NS_PER_MS
        async with self._redis.pipeline(transaction=False) as pipe:
            pipe.zremrangebyscore(RECOVERIES_KEY, "-inf", f"({since_ms}")
            pipe.zcard(RECOVERIES_KEY)
            _, count = await pipe.execute()
        return int(count)

    async def _count(self, status: TradingStatus, now_ns: int) -> None:
        async with self._redis.pipeline(transaction=False) as pipe:
            pipe.zadd(RECOVERIES_KEY, {_freeze_id(status): now_ns // NS_PER_MS})
            pipe.pexpire(RECOVERIES_KEY, HOUR_NS // NS_PER_MS)
            await pipe.execute()


async def circuits_closed(redis: Redis) -> bool:
    """Whether every router's venue circuit, as it last wrote it, is closed (routers whose
    hash expired are not counted)."""
    closed = CircuitState.CLOSED.value
    circuits = await read_circuit_fields(redis)
    return all(fields.get("state", closed) == closed for fields in circuits.values())


def _freeze_id(status: TradingStatus) -> str:
    return f"{status.generation}:{status.epoch}"


def _seconds(ns: int) -> str:
    return f"{ns / NS_PER_SECOND:g}"
