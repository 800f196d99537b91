"""The positions service: fills into positions, marks to market, reconciliation.

orders.events (group positions) ──▶ FillsHandler ──▶ positions.updates
lease "marks"                   ──▶ MarksFeed (public tickers ──▶ MarkStore, re-marking)
lease "positions-reconcile"     ──▶ ReconcileJob of `default` (its venue positions vs ours)
lease "positions-reconcile:{a}" ──▶ ReconcileJob of each other account `a`, signed with a's
                                    own credentials (services.positions.venues); at a venue
                                    other than Bybit, `:{venue}` appended
lease "positions-books"         ──▶ BookFeed, while MMX_VENUES names more than one venue:
                                    each venue's book top, fees and rules for the smart
                                    order router (services.positions.books)
every refresh_interval_s        ──▶ PositionGauges (position_qty, position_pnl)

Each account's credentials are read at start: a configured account without a pair stops it.
The drift gauges sum over the accounts (services.positions.reconcile).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from functools import partial

from fastapi import FastAPI

from libs.common import topology
from libs.common.accounts import PerAccount, scoped_name, venue_scoped
from libs.common.batching import Periodic, batched
from libs.common.bus import Ack, ConsumerSpec, StreamConsumer
from libs.common.domain.ids import AccountId, VenueId
from libs.common.messages import Envelope
from libs.common.service import ReadinessCheck, ServiceRuntime, service_app, stalled
from libs.common.stores import RedisLeaseStore, RedisPositionStore
from libs.common.stores.marks import RedisMarkStore
from libs.common.venue import BinanceConfig, VenueConfig, open_venue
from services.positions.books import BOOKS_LEASE, BookFeed
from services.positions.fills import FillsHandler
from services.positions.gauges import PositionGauges
from services.positions.leader import LeasedTask
from services.positions.marks import MarksFeed
from services.positions.reconcile import DriftGauges, PositionReconciler, ReconcileJob
from services.positions.settings import PositionsSettings
from services.positions.venues import account_venues

MARKS_LEASE = "marks"
RECONCILE_LEASE = "positions-reconcile"
"""The default account's reconciliation lease; another account's is
`scoped_name(RECONCILE_LEASE, account)` (`positions-reconcile:alpha`)."""
STATE_KEY = "positions"


def create_app(settings: PositionsSettings) -> FastAPI:
    """Build the positions app; nothing connects until its lifespan starts."""

    async def build(runtime: ServiceRuntime) -> None:
        _wire(runtime, settings, await account_venues(settings))

    return service_app("positions", settings, build=build)


def _wire(
    runtime: ServiceRuntime,
    settings: PositionsSettings,
    venues: Mapping[tuple[AccountId, VenueId], VenueConfig | BinanceConfig],
) -> None:
    redis, bus, metrics = runtime.redis, runtime.bus, runtime.metrics
    marks, leases = RedisMarkStore(redis), RedisLeaseStore(redis)
    positions = PerAccount(
        settings.accounts,
        lambda a: {v: RedisPositionStore(redis, account=a, venue=v) for v in settings.venues},
    )
    handler = batched(
        FillsHandler(positions=positions, marks=marks, bus=bus, metrics=runtime.metrics)
    )
    consumers = [  # one per account's stream: each is in its account's slot
        bus.batch_consumer(
            ConsumerSpec(
                stream=stream,
                group=topology.Group.POSITIONS,
                ack=Ack.BATCH,
                max_records=settings.batch_size,
                block_ms=settings.block_ms,
                claim_idle_ms=settings.claim_idle_ms,
            ),
            handler,
        )
        for stream in topology.ORDERS_EVENTS.each(settings.accounts)
    ]
    feed = MarksFeed(settings=settings, marks=marks, positions=positions, bus=bus)
    owner = f"{settings.instance}-{id(runtime):x}"
    marks_lease = LeasedTask(
        MARKS_LEASE, leases=leases, owner=owner, ttl_ms=settings.lease_ttl_ms, work=feed.run
    )
    drift_gauges = DriftGauges(metrics)
    reconcilers: dict[tuple[AccountId, VenueId], PositionReconciler] = {}
    reconcile_leases: dict[tuple[AccountId, VenueId], LeasedTask] = {}
    for (account, venue), config in venues.items():
        reconciler = PositionReconciler(
            positions=positions[account][venue],
            gauges=drift_gauges,
            redis=redis,
            account=account,
            venue=venue,
        )
        job = ReconcileJob(reconciler, config, settings.reconcile_interval_s)
        reconcilers[account, venue] = reconciler
        reconcile_leases[account, venue] = LeasedTask(
            venue_scoped(scoped_name(RECONCILE_LEASE, account), venue),
            leases=leases,
            owner=owner,
            ttl_ms=settings.lease_ttl_ms,
            work=job.run,
            on_lost=reconciler.clear,
        )
    leased = [marks_lease, *reconcile_leases.values()]
    if len(settings.venues) > 1:  # the smart order router's books, read as the first account
        first = settings.accounts[0]
        books = BookFeed(
            redis=redis,
            venues={v: partial(open_venue, venues[first, v]) for v in settings.venues},
            symbols=settings.symbols,
            interval_s=settings.book_interval_s,
            depth=settings.book_depth,
            fees_interval_s=settings.book_fees_interval_s,
        )
        leased.append(
            LeasedTask(
                BOOKS_LEASE,
                leases=leases,
                owner=owner,
                ttl_ms=settings.lease_ttl_ms,
                work=books.run,
            )
        )
    gauges = Periodic(
        "position-gauges",
        settings.refresh_interval_s,
        PositionGauges(positions=positions, marks=marks, metrics=metrics).refresh,
    )
    for consumer in consumers:
        runtime.add_runner(consumer)
    for task in leased:
        runtime.add_runner(task)
        runtime.add_check(f"lease {task.name}", _progress(task, settings.stall_after_s))
    runtime.add_runner(gauges)
    limit = settings.stall_after_s
    runtime.add_check("gauges", stalled(lambda: gauges.last_progress, limit))
    runtime.state[STATE_KEY] = PositionsParts(
        consumers, feed, marks_lease, reconcilers, reconcile_leases
    )


@dataclass(frozen=True, slots=True)
class PositionsParts:
    """The running parts, for tests and introspection (`runtime.state[STATE_KEY]`)."""

    consumers: Sequence[StreamConsumer[Envelope]]
    """One per account's `orders.events`, in `MMX_ACCOUNTS` order."""
    feed: MarksFeed
    marks_lease: LeasedTask
    reconcilers: Mapping[tuple[AccountId, VenueId], PositionReconciler]
    """By (account, venue), in `MMX_ACCOUNTS` then `MMX_VENUES` order."""
    """Each account's, in `MMX_ACCOUNTS` order."""
    reconcile_leases: Mapping[tuple[AccountId, VenueId], LeasedTask]

    @property
    def handled(self) -> int:
        """Entries handled by every consumer."""
        return sum(consumer.stats.handled for consumer in self.consumers)

    @property
    def reconciler(self) -> PositionReconciler:
        """The first account's reconciler."""
        return next(iter(self.reconcilers.values()))

    @property
    def reconcile_lease(self) -> LeasedTask:
        """The first account's reconciliation lease."""
        return next(iter(self.reconcile_leases.values()))


def _progress(task: LeasedTask, limit_s: float) -> ReadinessCheck:
    return stalled(lambda: task.last_progress, limit_s)
