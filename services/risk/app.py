"""The risk service: pre-trade checks, reservations, edge and loss monitoring, freezes.

    orders.requests (group risk) ──▶ RequestsHandler ──▶ orders.approved / orders.events
    orders.events   (group risk) ──▶ OrderEventsHandler (edge from fills)
    every refresh_interval_s     ──▶ RiskMonitor (gauges, daily loss, the transient causes:
                                     Redis data loss, positions lag, stale marks)
    every audit_interval_s       ──▶ ExposureAuditor (the ledger against the records; one
                                     instance, under a lease)
    every markout_interval_s     ──▶ MarkoutSettler (fills against the mid after them; one
                                     instance, under a lease)
    every recovery_check_interval_s ──▶ AutoRecovery (a transient freeze whose cause cleared:
                                     REDUCING, then ACTIVE; one instance, under a lease)
    every scaling_interval_s     ──▶ LimitScaler (volatility estimates; each change the
                                     scaling rule makes to the limits announced; one
                                     instance, under a lease)

Risk never ends a HARD freeze (nor the REDUCING of the soft daily loss): that is an operator's
action through the gateway. It ends a TRANSIENT freeze once its cause has cleared, a few
times an hour at most (`services.risk.recovery`).
"""

from __future__ import annotations

import time
from collections.abc import Awaitable, Callable

from fastapi import FastAPI

from libs.common import topology
from libs.common.accounts import PerAccount
from libs.common.batching import BatchHandler, Periodic, batched
from libs.common.bus import Ack, ConsumerSpec, StreamConsumer
from libs.common.domain.recovery import RecoveryPolicy
from libs.common.domain.time import NS_PER_SECOND
from libs.common.messages import Envelope
from libs.common.metrics import markout_source
from libs.common.risk_view import RiskReader
from libs.common.service import ServiceRuntime, service_app, stalled
from libs.common.stores import (
    RedisIdempotencyStore,
    RedisLeaseStore,
    RedisOrderStore,
    RedisRiskStateStore,
)
from libs.common.stores.exposure_redis import RedisExposureLedger
from libs.common.stores.leases import TickLease
from libs.common.stores.marks import RedisMarkStore
from libs.common.timings import publish_and_check
from services.risk.amending import AMEND_NAMESPACE
from services.risk.audit import AUDIT_LEASE, ExposureAuditor
from services.risk.causes import CauseLimits, CauseWatch
from services.risk.deciding import Decider
from services.risk.decisions import DecisionStore
from services.risk.edge import EdgeBook, EdgeWatch
from services.risk.events import OrderEventsHandler
from services.risk.markouts import (
    MARKOUT_LEASE,
    MarkoutBook,
    MarkoutFreeze,
    MarkoutSettler,
    horizon_ms,
)
from services.risk.monitor import RiskMonitor
from services.risk.recovery import RECOVERY_LEASE, AutoRecovery
from services.risk.requests import RequestsHandler
from services.risk.scaling import SCALING_LEASE, LimitScaler
from services.risk.settings import RiskSettings

STATE_MONITOR = "risk.monitor"
STATE_CONSUMERS = "risk.consumers"
STATE_AUDITOR = "risk.auditor"
STATE_MARKOUTS = "risk.markouts"
STATE_RECOVERY = "risk.recovery"
STATE_SCALER = "risk.scaler"


def create_app(settings: RiskSettings) -> FastAPI:
    """Build the risk app; nothing connects until its lifespan starts."""

    async def build(runtime: ServiceRuntime) -> None:
        timings = {"claim_idle_s": settings.claim_idle_ms / 1000}
        await publish_and_check(runtime.redis, "risk", timings)
        _wire(runtime, settings)

    return service_app("risk", settings, build=build)


def _wire(runtime: ServiceRuntime, settings: RiskSettings) -> None:
    redis, bus, metrics = runtime.redis, runtime.bus, runtime.metrics
    clock = time.time_ns
    risk, marks = RedisRiskStateStore(redis), RedisMarkStore(redis)
    leases = RedisLeaseStore(redis)
    accounts = settings.accounts
    venues = settings.venues
    ledgers = PerAccount(accounts, lambda a: RedisExposureLedger(redis, account=a, venues=venues))
    readers = PerAccount(
        accounts,
        lambda a: RiskReader(
            redis,
            ledger=ledgers[a],
            account=a,
            venues=venues,
            mark_max_age_s=settings.mark_max_age_s,
        ),
    )

    def lease(name: str, interval_s: float) -> TickLease:
        return TickLease.every(leases, name, settings.instance, interval_s)

    horizons = [horizon_ms(h) for h in settings.markout_horizons_s]
    book = EdgeBook(
        redis,
        window=settings.edge_window_fills,
        markout_sources=[markout_source(h) for h in settings.markout_horizons_s],
    )
    actor = f"{settings.actor}:{settings.instance}"
    edge = EdgeWatch(
        book=book,
        marks=marks,
        risk=risk,
        bus=bus,
        metrics=metrics,
        min_fills=settings.edge_min_fills,
        actor=actor,
        markout_horizons_ms=horizons,
    )
    deciders = PerAccount(
        accounts,
        lambda a: Decider(
            orders=RedisOrderStore(redis, account=a),
            reader=readers[a],
            ledger=ledgers[a],
            amend_decisions=DecisionStore(
                redis, AMEND_NAMESPACE, settings.decision_ttl_s, account=a
            ),
            metrics=metrics,
            decision_ttl_s=settings.decision_ttl_s,
        ),
    )
    requests = RequestsHandler(
        deciders=deciders,
        edge=edge,
        risk=risk,
        account_risks=PerAccount(accounts, lambda a: RedisRiskStateStore(redis, account=a)),
        bus=bus,
        metrics=metrics,
        clock=clock,
    )
    events = OrderEventsHandler(edge=edge, bus=bus, clock=clock)
    consumers = [
        *(
            _consumer(runtime, settings, stream, requests)
            for stream in topology.ORDERS_REQUESTS.each(accounts)
            # the desk's stream carries edge reports and desk freezes only: one reader
            for _ in range(
                1 if stream == topology.ORDERS_REQUESTS.desk else settings.request_consumers
            )
        ),
        *(
            _consumer(runtime, settings, stream, events)
            for stream in topology.ORDERS_EVENTS.each(accounts)
        ),
    ]
    monitor = RiskMonitor(
        redis=redis,
        readers=readers,
        risk=risk,
        edges=book,
        idempotency=RedisIdempotencyStore(redis),
        bus=bus,
        metrics=metrics,
        clock=clock,
        actor=actor,
        causes=PerAccount(
            accounts,
            lambda _: CauseWatch(
                redis=redis,
                risk=risk,
                metrics=metrics,
                limits=CauseLimits(
                    positions_lag_ns=int(settings.freeze_positions_lag_s * NS_PER_SECOND),
                    stale_marks_ns=int(settings.freeze_stale_marks_s * NS_PER_SECOND),
                ),
                actor=actor,
            ),
        ),
    )
    auditor = ExposureAuditor(
        redis=redis,
        ledgers=ledgers,
        lease=lease(AUDIT_LEASE, settings.audit_interval_s),
        bus=bus,
        metrics=metrics,
    )
    markouts = MarkoutSettler(
        book=MarkoutBook(redis, window_s=settings.markout_window_s),
        figures=book,
        marks=marks,
        risk=risk,
        lease=lease(MARKOUT_LEASE, settings.markout_interval_s),
        metrics=metrics,
        horizons_ms=horizons,
        freeze=MarkoutFreeze(
            horizon_ms=horizon_ms(settings.markout_freeze_horizon_s),
            threshold_bps=settings.markout_freeze_threshold_bps,
            min_fills=settings.markout_min_fills,
        ),
        settle_delay_ms=int(settings.markout_settle_delay_s * 1000),
        actor=actor,
        clock=clock,
    )
    recovery = AutoRecovery(
        redis=redis,
        risk=risk,
        readers=readers,
        lease=lease(RECOVERY_LEASE, settings.recovery_check_interval_s),
        idempotency=RedisIdempotencyStore(redis),
        bus=bus,
        metrics=metrics,
        policy=RecoveryPolicy(
            clear_ns=int(settings.recovery_clear_s * NS_PER_SECOND),
            warmup_ns=int(settings.recovery_warmup_s * NS_PER_SECOND),
            max_per_hour=settings.recovery_max_per_hour,
        ),
        clock=clock,
    )
    scaler = LimitScaler(
        redis=redis,
        risk=risk,
        marks=marks,
        # the limits and their factors are the desk's: any account's view shows them
        reader=readers[accounts[0]],
        lease=lease(SCALING_LEASE, settings.scaling_interval_s),
        bus=bus,
        clock=clock,
    )
    periodic = Periodic("risk-monitor", settings.refresh_interval_s, monitor.refresh)
    auditing = Periodic("risk-exposure-audit", settings.audit_interval_s, _drop(auditor.run))
    settling = Periodic("risk-markouts", settings.markout_interval_s, _drop(markouts.run))
    recovering = Periodic(
        "risk-auto-recovery", settings.recovery_check_interval_s, _drop(recovery.run)
    )
    runtime.add_runner(periodic)
    runtime.add_runner(auditing)
    runtime.add_runner(settling)
    runtime.add_runner(recovering)
    scaling = Periodic("risk-limit-scaling", settings.scaling_interval_s, _drop(scaler.run))
    runtime.add_runner(scaling)
    runtime.add_check("monitor", stalled(lambda: periodic.last_progress, settings.stall_after_s))
    runtime.add_check("markouts", stalled(lambda: settling.last_progress, settings.stall_after_s))
    runtime.add_check("recovery", stalled(lambda: recovering.last_progress, settings.stall_after_s))
    runtime.add_check("scaling", stalled(lambda: scaling.last_progress, settings.stall_after_s))
    runtime.state[STATE_MONITOR] = monitor
    runtime.state[STATE_AUDITOR] = auditor
    runtime.state[STATE_MARKOUTS] = markouts
    runtime.state[STATE_RECOVERY] = recovery
    runtime.state[STATE_SCALER] = scaler
    runtime.state[STATE_CONSUMERS] = consumers


def _drop(run: Callable[[], Awaitable[object]]) -> Callable[[], Awaitable[None]]:
    async def call() -> None:
        await run()

    return call


def _consumer(
    runtime: ServiceRuntime,
    settings: RiskSettings,
    stream: topology.Stream,
    handler: BatchHandler,
) -> StreamConsumer[Envelope]:
    spec = ConsumerSpec(
        stream=stream,
        group=topology.Group.RISK,
        ack=Ack.BATCH,
        max_records=settings.batch_size,
        block_ms=settings.block_ms,
        claim_idle_ms=settings.claim_idle_ms,
    )
    consumer = runtime.bus.batch_consumer(spec, batched(handler))
    runtime.add_runner(consumer)  # its stalls fail /ready through the kit's "subscribers"
    return consumer
