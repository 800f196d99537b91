"""The positions service: fills into positions, marks to market, reconciliation.

orders.events (group positions) ──▶ FillsHandler ──▶ positions.updates
lease "marks"                   ──▶ MarksFeed (public tickers ──▶ MarkStore, re-marking)
lease "positions-reconcile"     ──▶ ReconcileJob (venue positions vs ours: drift gauges)
every refresh_interval_s        ──▶ PositionGauges (position_qty, position_pnl)
"""

from __future__ import annotations

from dataclasses import dataclass

from fastapi import FastAPI

from libs.common import topology
from libs.common.accounts import PerAccount
from libs.common.batching import Periodic, batched
from libs.common.bus import Ack, ConsumerSpec, StreamConsumer
from libs.common.messages import Envelope
from libs.common.service import ReadinessCheck, ServiceRuntime, service_app, stalled
from libs.common.stores import RedisLeaseStore, RedisPositionStore
from libs.common.stores.marks import RedisMarkStore
from services.positions.fills import FillsHandler
from services.positions.gauges import PositionGauges
from services.positions.leader import LeasedTask
from services.positions.marks import MarksFeed
from services.positions.reconcile import PositionReconciler, ReconcileJob
from services.positions.settings import PositionsSettings

MARKS_LEASE = "marks"
RECONCILE_LEASE = "positions-reconcile"
STATE_KEY = "positions"


def create_app(settings: PositionsSettings) -> FastAPI:
    """Build the positions app; nothing connects until its lifespan starts."""

    async def build(runtime: ServiceRuntime) -> None:
        _wire(runtime, settings)

    return service_app("positions", settings, build=build)


def _wire(runtime: ServiceRuntime, settings: PositionsSettings) -> None:
    redis, bus, metrics = runtime.redis, runtime.bus, runtime.metrics
    marks, leases = RedisMarkStore(redis), RedisLeaseStore(redis)
    positions = PerAccount(settings.accounts, lambda a: RedisPositionStore(redis, account=a))
    spec = ConsumerSpec(
        stream=topology.ORDERS_EVENTS,
        group=topology.Group.POSITIONS,
        ack=Ack.BATCH,
        max_records=settings.batch_size,
        block_ms=settings.block_ms,
        claim_idle_ms=settings.claim_idle_ms,
    )
    consumer = bus.batch_consumer(
        spec,
        batched(FillsHandler(positions=positions, marks=marks, bus=bus, metrics=runtime.metrics)),
    )
    feed = MarksFeed(settings=settings, marks=marks, positions=positions, bus=bus)
    # the venue credentials of `settings.venue` are the first account's: it alone is
    # reconciled until each account has its own (docs/accounts.md)
    reconciler = PositionReconciler(
        positions=positions[settings.accounts[0]], metrics=metrics, redis=redis
    )
    job = ReconcileJob(reconciler, settings.venue, settings.reconcile_interval_s)
    owner = f"{settings.instance}-{id(runtime):x}"
    leased = [
        LeasedTask(
            MARKS_LEASE, leases=leases, owner=owner, ttl_ms=settings.lease_ttl_ms, work=feed.run
        ),
        LeasedTask(
            RECONCILE_LEASE,
            leases=leases,
            owner=owner,
            ttl_ms=settings.lease_ttl_ms,
            work=job.run,
            on_lost=reconciler.clear,
        ),
    ]
    gauges = Periodic(
        "position-gauges",
        settings.refresh_interval_s,
        PositionGauges(positions=positions, marks=marks, metrics=metrics).refresh,
    )
    runtime.add_runner(consumer)
    for task in leased:
        runtime.add_runner(task)
        runtime.add_check(f"lease {task.name}", _progress(task, settings.stall_after_s))
    runtime.add_runner(gauges)
    limit = settings.stall_after_s
    runtime.add_check("gauges", stalled(lambda: gauges.last_progress, limit))
    runtime.state[STATE_KEY] = PositionsParts(consumer, feed, reconciler, *leased)


@dataclass(frozen=True, slots=True)
class PositionsParts:
    """The running parts, for tests and introspection (`runtime.state[STATE_KEY]`)."""

    consumer: StreamConsumer[Envelope]
    feed: MarksFeed
    reconciler: PositionReconciler
    marks_lease: LeasedTask
    reconcile_lease: LeasedTask


def _progress(task: LeasedTask, limit_s: float) -> ReadinessCheck:
    return stalled(lambda: task.last_progress, limit_s)
