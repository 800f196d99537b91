"""The router service: `create_app(settings)` wires the parts; nothing runs at import time.

Each account of `MMX_ACCOUNTS` has its own lane (`RouterLane`) at each venue of `MMX_VENUES`:
its venue client with the account's credentials there, circuit, gate and rate buckets,
freeze sweep, private stream and reconciliation. The consumers are shared: `Intake` hands
each approval to its account's lane at its venue.

Runners, started in this order (each lane's in turn) and stopped in reverse:

    venue            the adapter's HTTP pool (the clock is synced by the first probe)
    VenueHealth      circuit breaker state to Redis, freeze on OPEN, the venue probe
    CredentialKeeper on a refused key: refresh once (MMX_SECRETS_ENV), retry, else freeze
    FreezeWatcher    `control` broadcasts; sweeps the venue flat while FROZEN
    consumers        `orders.approved` (group router, batches) -> Intake -> Placer / Commands;
                     `consumers` of them, each a consumer of the group as another instance
                     would be, so that one batch's venue call does not hold up the next
    PrivateStreamOwner   the private WebSocket, while this instance holds its lease
    Reconciler       the venue vs the records, while this instance holds its lease

`/ready` fails when Redis does not answer, when the consumer loop has stalled, or when the
last venue probe failed.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from dataclasses import dataclass
from functools import partial

from fastapi import FastAPI

from libs.common import topology
from libs.common.accounts import scoped_name, venue_scoped
from libs.common.bus import Ack, ConsumerSpec, default_consumer_name
from libs.common.domain.enums import Category
from libs.common.domain.ids import DEFAULT_ACCOUNT, DEFAULT_VENUE, AccountId, VenueId
from libs.common.service import Runner, ServiceRuntime, service_app
from libs.common.stores import (
    RedisIdempotencyStore,
    RedisLeaseStore,
    RedisOrderStore,
    RedisRateLimiter,
    RedisRiskStateStore,
)
from libs.common.stores.exposure_redis import RedisExposureLedger
from libs.common.timings import publish_and_check
from libs.common.topology import RATE_LIMIT_GROUPS
from libs.common.venue import BinanceConfig, LiveVenue, SendBarrier, VenueConfig, open_venue
from services.router.circuit import CircuitBreaker
from services.router.commands import Commands
from services.router.context import RouterContext
from services.router.credentials import (
    CredentialKeeper,
    CredentialSettings,
    credential_source,
    with_credentials,
)
from services.router.freeze_watch import FreezeWatcher
from services.router.gate import VenueGate, lane_bucket
from services.router.intake import Intake, Lane
from services.router.placing import Placer
from services.router.private_stream import PrivateStreamOwner
from services.router.reconcile import Reconciler
from services.router.settings import RouterSettings
from services.router.sync import VenueSync
from services.router.venue_health import VenueHealth

log = logging.getLogger(__name__)


class InOrder:
    """Runners started in order and stopped one by one in reverse: nothing still running
    may find a venue closed under it (the service kit stops its runners concurrently)."""

    def __init__(self, venues: Sequence[LiveVenue], *runners: Runner) -> None:
        self._venues = venues
        self._runners = runners
        self._started: list[Runner] = []

    async def start(self) -> None:
        for venue in self._venues:
            await venue.start()
        try:
            for runner in self._runners:
                await runner.start()
                self._started.append(runner)
        except BaseException:
            await self.stop()  # the service kit stops only what started in full
            raise

    async def stop(self) -> None:
        while self._started:
            runner = self._started.pop()
            try:
                await runner.stop()
            except Exception:
                log.exception("router: stopping %s failed", type(runner).__name__)
        for venue in self._venues:
            await venue.close()


def check_claim_outlives_a_send(
    settings: RouterSettings, venue: VenueConfig | BinanceConfig
) -> None:
    """An approval claimed from a dead router must find that router's last send expired: a
    redelivery that the venue does not know is then final (`redelivery`)."""
    send_s = venue.recv_window / 1000 + venue.request_timeout_s
    if settings.claim_idle_s <= send_s:
        raise ValueError(
            f"MMX_ROUTER_CLAIM_IDLE_S {settings.claim_idle_s} must exceed a send's life, "
            f"recv_window {venue.recv_window} ms + request_timeout_s {venue.request_timeout_s}"
            f" = {send_s:.1f} s: a claimed approval could meet its first send still landing"
        )


def create_app(
    settings: RouterSettings,
    venue: VenueConfig | None = None,
    binance: BinanceConfig | None = None,
) -> FastAPI:
    """The router app; `venue` (Bybit's) defaults to `VenueConfig()` (MMX_VENUE,
    MMX_VENUE_URL, ...), `binance` to `BinanceConfig()` (MMX_BINANCE_*), read only when
    MMX_VENUES names binance-usdm."""
    return service_app("router", settings, build=partial(_build, settings, venue, binance))


async def _build(
    settings: RouterSettings,
    venue: VenueConfig | None,
    binance: BinanceConfig | None,
    rt: ServiceRuntime,
) -> None:
    # No 10006 waits inside the adapter: the gate closes the shared window for every
    # instance and retries within its own bounds (the send deadline for placements).
    update = {"sync_clock_on_start": False, "rate_limit_retries": 0}
    configs: dict[VenueId, VenueConfig | BinanceConfig] = {}
    for venue_id in settings.venues:
        if venue_id == DEFAULT_VENUE:
            configs[venue_id] = (venue or VenueConfig()).model_copy(update=update)
        else:
            configs[venue_id] = (binance or BinanceConfig()).model_copy(update=update)
        check_claim_outlives_a_send(settings, configs[venue_id])
    timings = {"claim_idle_s": settings.claim_idle_s, "max_order_age_s": settings.max_order_age_s}
    await publish_and_check(rt.redis, "router", timings)
    rt.metrics.init_order_series(settings.symbols, settings.accounts, settings.venues)
    risk = RedisRiskStateStore(rt.redis)
    lanes = [
        await _lane(settings, configs[venue_id], rt, risk, account, venue_id)
        for account in settings.accounts
        for venue_id in settings.venues
    ]
    by_key = {(lane.ctx.account, lane.ctx.venue): lane for lane in lanes}
    by_account = {lane.ctx.account: lane for lane in lanes if lane.ctx.venue == settings.venues[0]}
    intake = Intake({key: lane.intake for key, lane in by_key.items()})
    consumers = [  # `consumers` per account's stream: each is in its account's slot
        rt.bus.batch_consumer(
            ConsumerSpec(
                stream=stream,
                group=topology.Group.ROUTER,
                ack=Ack.BATCH,
                consumer=f"{settings.instance}-{default_consumer_name()}",
                max_records=settings.batch_size,
                claim_idle_ms=int(settings.claim_idle_s * 1000),
            ),
            intake,
        )
        for stream in topology.ORDERS_APPROVED.each(settings.accounts)
        for _ in range(settings.consumers)
    ]
    rt.add_runner(
        InOrder(
            [lane.adapter for lane in lanes],
            *(runner for lane in lanes for runner in lane.before_consumers),
            *consumers,
            *(runner for lane in lanes for runner in lane.after_consumers),
        )
    )
    for each in consumers:  # inside InOrder: for the stream metrics and "subscribers" check
        rt.watch(each)
    for lane in lanes:
        rt.add_check(_check_name(lane.ctx.account, lane.ctx.venue), lane.health.readiness)
    first = lanes[0]
    rt.state.update(
        lanes=by_account,
        venue_lanes=by_key,
        context=first.ctx,
        venue=first.adapter,
        health=first.health,
        credentials=first.keeper,
        placer=first.intake.placer,
        consumer=consumers[0],
        consumers=consumers,
        freeze=first.freeze,
        private_stream=first.owner,
        reconciler=first.reconciler,
    )


def _check_name(account: AccountId, venue: VenueId) -> str:
    """The readiness check of a lane: `venue` for `default` at `bybit` (as before accounts
    and venues), `venue {account}` for another account, ` at {venue}` for another venue."""
    name = "venue" if account == DEFAULT_ACCOUNT else f"venue {account}"
    return venue_scoped(name, venue, " at ")


@dataclass(frozen=True, slots=True)
class RouterLane:
    """One account's part of the router at one venue: its venue client (the account's
    credentials there), circuit, gate and rate buckets, freeze sweep, private stream and
    reconciliation."""

    ctx: RouterContext
    adapter: LiveVenue
    health: VenueHealth
    keeper: CredentialKeeper
    freeze: FreezeWatcher
    owner: PrivateStreamOwner
    reconciler: Reconciler
    intake: Lane

    @property
    def before_consumers(self) -> tuple[Runner, ...]:
        return (self.health, self.keeper, self.freeze)

    @property
    def after_consumers(self) -> tuple[Runner, ...]:
        return (self.owner, self.reconciler)


async def _lane(
    settings: RouterSettings,
    config: VenueConfig | BinanceConfig,
    rt: ServiceRuntime,
    risk: RedisRiskStateStore,
    account: AccountId,
    venue: VenueId,
) -> RouterLane:
    credentials = CredentialSettings()
    source = credential_source(
        credentials, principal=f"router:{settings.instance}", account=account, venue=venue
    )
    if credentials.secrets_env or account != DEFAULT_ACCOUNT:
        # the secret (or another account's MMX_API_KEY_{ACCOUNT}) is the truth; missing, it
        # stops the start here
        try:
            creds = await source.read()
        except BaseException:
            source.close()
            raise
        config = with_credentials(config, creds)
        log.info("router: venue credentials %r (account %s at %s)", creds, account, venue)
    lane = venue_scoped(scoped_name(settings.instance, account, "/"), venue, "@")
    health = VenueHealth(
        breaker=CircuitBreaker(settings.circuit_failure_threshold, settings.circuit_cooldown_s),
        metrics=rt.metrics,
        redis=rt.redis,
        risk=risk,
        instance=lane,
        probe_interval_s=settings.venue_probe_interval_s,
        headroom_key=topology.venue_headroom_key(account, venue),
        account=account,
        venue_id=venue,
        freeze_on_open=len(settings.venues) == 1,
    )
    adapter = open_venue(config, on_request=health.on_request)
    barrier = SendBarrier(recv_window_ms=config.recv_window)  # closed until the state is read
    adapter.rest.barrier = barrier
    health.venue = adapter
    keeper = CredentialKeeper(
        adapter,
        source,
        verify=lambda: adapter.open_orders(settings.category),
        on_failure=health.auth_failed,
        cooldown_s=credentials.credential_refresh_cooldown_s,
    )
    health.credentials = keeper
    limits = {
        lane_bucket(category, group, account, venue): settings.rate_limit(group)
        for category in Category
        for group in RATE_LIMIT_GROUPS
    }
    gate = VenueGate(
        adapter,
        health=health,
        limiter=RedisRateLimiter(rt.redis, limits),
        barrier=barrier,
        window_limit=lambda group: settings.rate_limit(group).limit,
        retries=settings.transient_retries,
        backoff_s=settings.retry_backoff_s,
        account=account,
        venue_id=venue,
    )
    health.on_quota_spent = gate.quota_spent
    ctx = RouterContext(
        settings=settings,
        redis=rt.redis,
        bus=rt.bus,
        metrics=rt.metrics,
        gate=gate,
        orders=RedisOrderStore(rt.redis, account=account),
        risk=risk,
        idempotency=RedisIdempotencyStore(rt.redis),
        leases=RedisLeaseStore(rt.redis),
        ledger=RedisExposureLedger(rt.redis, account=account, venues=settings.venues),
        account_risk=RedisRiskStateStore(rt.redis, account=account),
        account=account,
        venue=venue,
    )
    sync = VenueSync(ctx)
    return RouterLane(
        ctx=ctx,
        adapter=adapter,
        health=health,
        keeper=keeper,
        freeze=FreezeWatcher(ctx, barrier, on_resume=health.on_resume),
        owner=PrivateStreamOwner(ctx, adapter, sync),
        reconciler=Reconciler(ctx, sync),
        intake=Lane(Placer(ctx), Commands(ctx)),
    )
