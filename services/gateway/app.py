"""The gateway: the only door in. REST + WebSocket for strategies and operators.

    POST   /v1/orders[?wait=true]      place (Pending record first, then PlaceOrder)
    POST   /v1/orders/batch            place several
    PATCH  /v1/orders/{clientOrderId}  amend          DELETE /v1/orders/{clientOrderId} cancel
    DELETE /v1/orders?symbol=X         cancel all     GET    /v1/orders[/{id}], /v1/positions
    GET    /v1/risk                    limits, utilisation, trading state, freeze history
    PUT    /v1/risk/limits             POST /v1/risk/{freeze,unfreeze,edge,simulate}
    WS     /v1/stream                  order events, fills, positions, trading state
    GET    /v1/console/{me,overview}   GET /console (operator console), /docs, /redoc
    GET    /asyncapi[.json]            the streams and their messages (AsyncAPI 3.0.0)

The gateway publishes commands on `orders.requests` and never talks to the venue. Each
instance follows `orders.events`, `positions.updates` and `control` without a group (every
instance sees every entry): for `?wait=true` answers and for its WebSocket clients.
"""

from __future__ import annotations

import logging
from collections.abc import Callable

from fastapi import FastAPI

from libs.common import topology
from libs.common.accounts import PerAccount
from libs.common.api_keys import RedisApiKeyStore
from libs.common.bus import Bus, EnvelopeCodec
from libs.common.bus_types import BytesCodec, Delivery, Handler
from libs.common.domain.ids import AccountId
from libs.common.messages import Envelope
from libs.common.risk_view import RiskReader
from libs.common.service import ServiceRuntime, service_app
from libs.common.stores import RedisOrderStore, RedisPositionStore, RedisRiskStateStore
from libs.common.stores.exposure_redis import RedisExposureLedger
from libs.common.stores.marks import RedisMarkStore
from services.gateway import (
    admission,
    auth,
    errors,
    keys,
    routes_accounts,
    routes_asyncapi,
    routes_console,
    routes_orders,
    routes_positions,
    routes_risk,
    routes_route,
)
from services.gateway import console as console_pages
from services.gateway.backlog import BacklogWatch
from services.gateway.body_limit import BodyLimit
from services.gateway.context import STATE_KEY, Book, Gateway
from services.gateway.settings import GatewaySettings
from services.gateway.stream import StreamHub
from services.gateway.waiters import Waiters

log = logging.getLogger(__name__)

DESCRIPTION = """The only door into mmx: orders, positions, risk and the live stream.

JSON is camelCase, with Bybit V5's field names for orders. Send numbers as decimal strings
(`"0.001"`) or exact JSON numbers; they are never read through a float. Every error is
`{"error": "...", "details": [...]}` with a 4xx that says what was wrong and what was
expected. `clientOrderId` is the idempotency key: a retry with the same one never places twice.
Under overload a place or amend is refused at once with 429 and `Retry-After`, before
anything is written; cancels are never refused.

Live feed: WebSocket `/v1/stream` (optionally `?symbols=BTCUSDT,ETHUSDT`) pushes
`{"type": ..., "data": ...}` for order events, fills (`OrderFilled`), funding settlements
(`FundingSettled`), positions (`PositionUpdated`) and trading state (`TradingStateChanged`),
starting with the current `TradingState`. A client that falls too far behind is closed with
code 1013.
"""


def create_app(settings: GatewaySettings) -> FastAPI:
    """Build the gateway app; nothing connects until its lifespan starts."""
    app = FastAPI(
        title="mmx gateway",
        description=DESCRIPTION,
        version="1",
        docs_url=None,  # both served by `console_pages` from local files (no CDN)
        redoc_url=None,
        openapi_url="/openapi.json",
    )
    errors.install(app)
    app.add_middleware(BodyLimit, max_bytes=settings.max_body_bytes)
    admission.install(app)
    auth.install(app)
    modules = (
        routes_orders,
        routes_route,
        routes_positions,
        routes_risk,
        routes_accounts,
        routes_console,
    )
    for module in modules:
        app.include_router(module.router, responses=auth.RESPONSES)
    app.include_router(routes_asyncapi.router)  # public, like /docs
    console_pages.install(app)

    async def build(runtime: ServiceRuntime) -> None:
        _wire(runtime, settings)

    return service_app("gateway", settings, build=build, app=app)


def _wire(runtime: ServiceRuntime, settings: GatewaySettings) -> None:
    redis = runtime.redis
    auth.redact_server_logs()  # in the lifespan: after uvicorn has configured its loggers
    _wire_keys(runtime, settings)
    risk, marks = RedisRiskStateStore(redis), RedisMarkStore(redis)

    def book(account: AccountId) -> Book:
        venues = settings.venues
        ledger = RedisExposureLedger(redis, account=account, venues=venues)
        return Book(
            orders=RedisOrderStore(redis, account=account),
            positions=tuple(RedisPositionStore(redis, account=account, venue=v) for v in venues),
            snapshots=RiskReader(
                redis,
                ledger=ledger,
                account=account,
                venues=venues,
                mark_max_age_s=settings.mark_max_age_s,
            ),
            risk=RedisRiskStateStore(redis, account=account),
        )

    gateway = Gateway(
        settings=settings,
        redis=redis,
        bus=runtime.bus,
        metrics=runtime.metrics,
        books=PerAccount(settings.accounts, book),
        risk=risk,
        marks=marks,
        waiters=Waiters(),
        hub=StreamHub(settings.stream_queue_size),
    )
    runtime.state[STATE_KEY] = gateway
    gate = admission.Admission(
        settings.max_inflight_orders,
        settings.shed_retry_after_s,
        metrics=runtime.metrics,
        max_backlog=settings.max_engine_backlog,
    )
    runtime.state[admission.STATE_KEY] = gate
    if settings.max_engine_backlog:
        watch = BacklogWatch(redis, gate, settings.accounts)
        runtime.add_runner(watch.runner(settings.backlog_poll_s))
    bus, hub, waiters = runtime.bus, gateway.hub, gateway.waiters
    events = fan_out(waiters.on_event, hub.on_entry)
    raw = Bus(redis, BytesCodec())  # orders.events is decoded only while someone listens
    listening = when(lambda: waiters.active or len(hub) > 0, events)
    for reader in raw.broadcast_readers(topology.ORDERS_EVENTS.each(settings.accounts), listening):
        runtime.add_runner(reader)
    control = [topology.POSITIONS_UPDATES, *topology.CONTROL.each(settings.accounts)]
    for decoded in bus.broadcast_readers(control, hub.on_entry):
        runtime.add_runner(decoded)


def _wire_keys(runtime: ServiceRuntime, settings: GatewaySettings) -> None:
    """The KeyRing (and the secret's key list, first among the runners: a missing secret
    stops the start before anything else runs); nothing when auth is disabled."""
    if settings.auth == "disabled":
        log.warning(
            "MMX_GATEWAY_AUTH=disabled: every caller is admitted as an operator and named by "
            "the unverified X-MMX-Actor header; never run this outside development"
        )
        return
    secret_keys = None
    if settings.secrets_env:
        client = keys.secrets_client(f"gateway:{settings.instance}")
        secret_keys = keys.SecretKeys(client, settings.secrets_env, settings.api_keys_refresh_s)
        runtime.add_runner(secret_keys)
    runtime.state[keys.STATE_KEY] = keys.KeyRing(RedisApiKeyStore(runtime.redis), secret_keys)


def when(listening: Callable[[], bool], handler: Handler[Envelope]) -> Handler[bytes]:
    """`handler` over raw entries, decoded only while `listening()`: with no request waiting
    and no WebSocket client, an event costs the gateway no parsing at all."""
    codec = EnvelopeCodec()

    async def handle(delivery: Delivery[bytes]) -> None:
        if listening():
            envelope = codec.decode(delivery.message)
            await handler(Delivery(envelope, delivery.stream, delivery.entry_id, delivery.attempt))

    return handle


def fan_out(*handlers: Handler[Envelope]) -> Handler[Envelope]:
    """One handler that runs each of `handlers`; one failing does not stop the others."""

    async def handle(delivery: Delivery[Envelope]) -> None:
        for handler in handlers:
            try:
                await handler(delivery)
            except Exception:
                log.exception("%s: handler failed on entry %s", delivery.stream, delivery.entry_id)

    return handle
