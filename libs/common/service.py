"""What every mmx service shares: settings, the Redis client, the bus, `/health`, `/ready`,
`/metrics`, and a lifespan that starts and stops its runners in order.

The Redis client of a service is `redis_client(settings)`: one blocking pool of
`redis_pool_size` connections built from `redis_url` (password, ACL user, `rediss://` and its
TLS query parameters as redis-py reads them; or `redis+sentinel://`, whose pool asks the
sentinels where the primary is and follows it through a failover; or `redis+cluster://` /
`rediss+cluster://`, a Redis Cluster client with `redis_pool_size` connections per node; see
`libs.common.redis_url`). When every connection is busy a command waits up to
`redis_pool_timeout_s` for one instead of failing at once ("Too many connections"); past that
it fails with a `ConnectionError` ("No connection available."), which a service's routes
answer as Redis being unavailable. A cluster client does not wait: a node with every
connection busy fails the command at once (`MaxConnectionsError`, a `ConnectionError`).

    def create_app(settings: RouterSettings) -> FastAPI:
        return service_app("router", settings, build=lambda rt: _wire(rt, settings))

`build` runs inside the lifespan (after Redis answers and the consumer groups exist): it adds
runners (consumers, broadcast readers, periodic tasks) and readiness checks to the runtime.
Nothing connects at import time or in `create_app`.

Every service also gets, without wiring anything, a `StreamHealth` runner for the consumer
groups it reads: each `stream_health_interval_s` it sets `stream_lag` and `stream_pending`
(XINFO GROUPS), `dead_letter_length` (XLEN of each `.dlq`) and
`subscriber_last_poll_timestamp_seconds`, and `/ready` fails ("subscribers") when one of its
consumer loops has not polled for `stall_after_s`. A consumer added with `add_runner` is found
by itself; one started inside another runner must be named with `runtime.watch(consumer)`.
"""

from __future__ import annotations

import asyncio
import contextlib
import io
import logging
import socket
import time
from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import dataclass, field
from types import FrameType
from typing import Annotated, Any, Protocol
from urllib.parse import parse_qs, urlsplit

import uvicorn
from fastapi import FastAPI, Response
from fastapi.responses import JSONResponse
from prometheus_client import CollectorRegistry
from pydantic import AliasChoices, BeforeValidator, Field, ValidationInfo, field_validator
from pydantic_settings import BaseSettings, NoDecode, SettingsConfigDict
from redis.asyncio import Redis
from redis.asyncio.connection import parse_url

from libs.common import logs, topology
from libs.common.accounts import DEFAULT_ACCOUNTS, DEFAULT_VENUES, AccountList, VenueList
from libs.common.bus import Bus, EnvelopeCodec, StreamConsumer, ensure_groups
from libs.common.domain.ids import Symbol, parse_symbol
from libs.common.messages import Envelope
from libs.common.metrics import EngineMetrics, render_metrics
from libs.common.migrations import check_layout
from libs.common.redis_connect import redis_from_url
from libs.common.redis_url import is_cluster_url, is_sentinel_url
from libs.common.stream_trim import group_trimmed_streams, trim_acked
from libs.common.tasks import cancel_and_wait, wait_or_timeout

__all__ = [
    "EnvelopeCodec",
    "ReadinessCheck",
    "Runner",
    "ServiceRuntime",
    "ServiceSettings",
    "StreamHealth",
    "SymbolList",
    "redis_client",
    "run",
    "service_app",
    "stalled",
]

log = logging.getLogger(__name__)

ReadinessCheck = Callable[[], Awaitable[str | None]]
"""Returns None when ready, else what is wrong (shown by `/ready`)."""


class Runner(Protocol):
    async def start(self) -> None: ...

    async def stop(self) -> None: ...


def _symbol_list(value: object) -> tuple[Symbol, ...]:
    if isinstance(value, str):
        value = [part.strip() for part in value.split(",") if part.strip()]
    if not isinstance(value, list | tuple) or not value:
        raise ValueError("symbols is empty: expected at least one symbol, e.g. BTCUSDT")
    return tuple(parse_symbol(str(symbol)) for symbol in value)


SymbolList = Annotated[tuple[Symbol, ...], NoDecode, BeforeValidator(_symbol_list)]
"""A settings field of symbols: comma-separated in the environment (`BTCUSDT,ETHUSDT`)."""


class ServiceSettings(BaseSettings):
    """Settings every service has. Subclasses set `port` and add their own fields."""

    model_config = SettingsConfigDict(env_prefix="MMX_", extra="ignore", frozen=True)

    redis_url: str = Field(
        "redis://127.0.0.1:6379/0", validation_alias=AliasChoices("REDIS_URL", "MMX_REDIS_URL")
    )
    accounts: AccountList = Field(DEFAULT_ACCOUNTS, validation_alias=AliasChoices("MMX_ACCOUNTS"))
    """The desk's accounts (`MMX_ACCOUNTS`, comma-separated, the same for every service;
    `default` when unset): `libs.common.accounts`."""
    venues: VenueList = Field(DEFAULT_VENUES, validation_alias=AliasChoices("MMX_VENUES"))
    """The venues the desk trades (`MMX_VENUES`, comma-separated, the same for every service;
    `bybit` when unset): the router runs a lane per account and venue, the gateway refuses an
    order for another venue (422) and routes `venue: "auto"` among them."""
    host: str = "127.0.0.1"
    port: int
    instance: str = Field(default_factory=lambda: f"{socket.gethostname()}-{_pid()}")
    """Unique per process: consumer names, lease owners, log lines."""
    stall_after_s: float = 30.0
    """A runner that has not made progress for this long makes `/ready` fail."""
    stream_keep_s: float = Field(60.0, ge=0, le=86_400)
    """Entries of the streams groups read are trimmed once every group acknowledged them and
    they are older than this (`libs.common.stream_trim`): the window a reader without a
    group (the gateway's fan-out) can still read back. At 3,000 events/s, 60 s is 180k
    entries, about 90 MB of Redis."""
    stream_health_interval_s: float = Field(5.0, gt=0)
    """How often `stream_lag`, `stream_pending`, `stream_length`, `dead_letter_length` and
    `subscriber_last_poll_timestamp_seconds` are refreshed, and the streams groups read
    trimmed (`stream_keep_s`)."""
    redis_pool_size: int = 64
    """Connections in this process's Redis pool (`{prefix}REDIS_POOL_SIZE`, 1 to 1024). Each
    consumer or broadcast reader holds one during its BLOCK (100 ms); the rest serve the
    routes and the stores. Count every instance of every service against Redis'
    `maxclients` (10000 by default)."""
    redis_pool_timeout_s: float = 5.0
    """How long a command waits for a free connection when all `redis_pool_size` are busy
    (`{prefix}REDIS_POOL_TIMEOUT_S`, above 0, at most 60) before failing as Redis
    unavailable."""

    @field_validator("redis_pool_size")
    @classmethod
    def _pool_size_in_range(cls, value: int, info: ValidationInfo) -> int:
        if not 1 <= value <= REDIS_POOL_SIZE_MAX:
            raise ValueError(
                f"{cls.env_name(info.field_name)}={value} is out of range: expected a number "
                f"of Redis connections from 1 to {REDIS_POOL_SIZE_MAX}"
            )
        return value

    @field_validator("redis_pool_timeout_s")
    @classmethod
    def _pool_timeout_in_range(cls, value: float, info: ValidationInfo) -> float:
        if not 0 < value <= REDIS_POOL_TIMEOUT_MAX_S:  # also refuses NaN
            raise ValueError(
                f"{cls.env_name(info.field_name)}={value} is out of range: expected seconds "
                f"to wait for a free Redis connection, above 0 and at most "
                f"{REDIS_POOL_TIMEOUT_MAX_S:g}"
            )
        return value

    @classmethod
    def env_name(cls, field_name: str | None) -> str:
        """The environment variable of `field_name` for this settings class."""
        return f"{cls.model_config.get('env_prefix', '')}{field_name or ''}".upper()


REDIS_POOL_SIZE_MAX = 1024
"""The largest `redis_pool_size`: a pool past this points at a leak, not at load."""
REDIS_POOL_TIMEOUT_MAX_S = 60.0
"""The longest `redis_pool_timeout_s`: a request waiting longer has been given up on."""
_POOL_QUERY_KEYS = ("max_connections", "timeout")
"""Query parameters of a Redis URL that would override the pool settings."""


def redis_client(settings: ServiceSettings) -> Redis:
    """A bytes client for `settings.redis_url` on a pool that waits when it is full.

    Built by `libs.common.redis_connect.redis_from_url`: a `redis://`, `rediss://` or
    `unix://` URL is read exactly as `Redis.from_url` reads it (scheme, user, password, db,
    TLS query parameters), a `redis+sentinel://`, `redis+cluster://` or `rediss+cluster://`
    URL as `libs.common.redis_url` describes. The pool's size and wait come from the settings
    only, so a URL that sets `max_connections` or `timeout` is refused rather than silently
    winning. For a cluster, `redis_pool_size` is per node and `redis_pool_timeout_s` does not
    apply (a `RedisCluster` has no wait for a free connection; see `redis_from_url`). Nothing
    connects until the first command. Closing the client closes its pool (and, for Sentinel,
    the connections to the sentinels; for a cluster, every node's connections).
    """
    url = settings.redis_url
    query = (
        parse_qs(urlsplit(url).query)
        if is_sentinel_url(url) or is_cluster_url(url)
        else parse_url(url)
    )
    conflicting = [key for key in _POOL_QUERY_KEYS if key in query]
    if conflicting:
        raise ValueError(
            f"the Redis URL sets {', '.join(conflicting)} in its query: expected the pool to be "
            f"configured by {settings.env_name('redis_pool_size')} and "
            f"{settings.env_name('redis_pool_timeout_s')} only; remove it from the URL"
        )
    return redis_from_url(
        settings.redis_url,
        pool_size=settings.redis_pool_size,
        pool_timeout_s=settings.redis_pool_timeout_s,
    )


def _pid() -> int:
    import os

    return os.getpid()


@dataclass
class ServiceRuntime:
    """The live parts of one service process, built in the lifespan."""

    name: str
    settings: ServiceSettings
    redis: Redis
    bus: Bus[Envelope]
    registry: CollectorRegistry
    metrics: EngineMetrics
    runners: list[Runner] = field(default_factory=list)
    checks: dict[str, ReadinessCheck] = field(default_factory=dict)
    state: dict[str, Any] = field(default_factory=dict)
    """Service-specific objects that routes need (stores, the venue adapter, ...)."""
    watched: list[StreamConsumer[Any]] = field(default_factory=list)

    def add_runner(self, runner: Runner) -> None:
        self.runners.append(runner)

    def watch(self, consumer: StreamConsumer[Any]) -> None:
        """Report on `consumer` (stream metrics, stall readiness) although it is not one of
        `runners` itself: for a consumer started inside another runner."""
        if consumer not in self.watched:
            self.watched.append(consumer)

    def consumers(self) -> list[StreamConsumer[Any]]:
        """The consumer-group readers of this process: those among `runners`, and watched."""
        found = [r for r in self.runners if isinstance(r, StreamConsumer)]
        return found + [c for c in self.watched if c not in found]

    def add_check(self, name: str, check: ReadinessCheck) -> None:
        self.checks[name] = check

    async def readiness(self) -> dict[str, str | None]:
        results = await asyncio.gather(*(check() for check in self.checks.values()))
        return dict(zip(self.checks, results, strict=True))


def service_app(
    name: str,
    settings: ServiceSettings,
    *,
    build: Callable[[ServiceRuntime], Awaitable[None]],
    app: FastAPI | None = None,
) -> FastAPI:
    """Make the service's FastAPI app: health, readiness, metrics and the lifespan."""

    @contextlib.asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        redis = redis_client(settings)
        try:
            await redis.ping()
            await check_layout(redis)  # data of an older layout: `mmx migrate` first
            await ensure_groups(redis, topology.consumed(settings.accounts))
            registry = CollectorRegistry()
            runtime = ServiceRuntime(
                name=name,
                settings=settings,
                redis=redis,
                bus=Bus(redis, EnvelopeCodec()),
                registry=registry,
                metrics=EngineMetrics(registry),
            )
            runtime.add_check("redis", lambda: _redis_check(redis))
            await build(runtime)
            health = StreamHealth(runtime)
            runtime.add_check("subscribers", health.readiness)
            runtime.add_runner(health)
            app.state.runtime = runtime
            for runner in runtime.runners:
                await runner.start()
            try:
                yield
            finally:
                await _stop_in_reverse(runtime.runners, name)
        finally:
            await redis.aclose()

    if app is None:
        app = FastAPI(title=f"mmx {name}", lifespan=lifespan)
    else:
        app.router.lifespan_context = lifespan

    @app.get("/health", include_in_schema=False)
    async def health() -> dict[str, str]:
        """Liveness: the process answers."""
        return {"status": "ok", "service": name, "instance": settings.instance}

    @app.get("/ready", include_in_schema=False)
    async def ready() -> JSONResponse:
        """Readiness: Redis answers and every runner is making progress."""
        runtime: ServiceRuntime = app.state.runtime
        problems = {k: v for k, v in (await runtime.readiness()).items() if v is not None}
        return JSONResponse(
            {"ready": not problems, "problems": problems}, status_code=503 if problems else 200
        )

    @app.get("/metrics", include_in_schema=False)
    async def metrics() -> Response:
        runtime: ServiceRuntime = app.state.runtime
        exposition = render_metrics(runtime.registry)
        return Response(exposition.body, media_type=exposition.content_type)

    return app


async def _stop_in_reverse(runners: list[Runner], service: str) -> None:
    """Stop runners one at a time, last started first; a failure is logged, not raised, so
    every runner gets its stop."""
    for runner in reversed(runners):
        stopping = asyncio.create_task(runner.stop())
        done, _ = await asyncio.wait({stopping}, timeout=SLOW_STOP_S)
        if not done:  # say what it waits for: a stop that never ends costs a SIGKILL
            log.warning(
                "%s: stopping %r takes over %.0f s; the tasks still running:\n%s",
                service,
                runner,
                SLOW_STOP_S,
                _task_stacks(),
            )
        try:
            await stopping
        except Exception:
            log.exception("%s: stopping %r failed", service, runner)


LAG_COUNT_CAP = 1001
"""When Redis cannot tell a group's lag, the entries after its last delivered one are counted
up to this: exact up to the StreamLagHigh threshold (1000), and past it when beyond."""

SLOW_STOP_S = 2.0
"""A runner's stop taking longer than this is logged with every task's stack."""


def _task_stacks() -> str:
    out = io.StringIO()
    for task in asyncio.all_tasks():
        if task is not asyncio.current_task():
            task.print_stack(limit=8, file=out)
    return out.getvalue()


async def _redis_check(redis: Redis) -> str | None:
    try:
        await asyncio.wait_for(redis.ping(), timeout=1.0)
    except Exception as error:  # any failure means not ready; say which
        return f"redis unreachable: {type(error).__name__}: {error}"
    return None


class StreamHealth:
    """The stream gauges and the stall check of the consumers of one process.

    Gauges of shared state (lag, pending, dead letters) are read from Redis, so every instance
    of a service reports the same values (queries take `max`); the last poll is this
    instance's own.
    """

    def __init__(self, runtime: ServiceRuntime) -> None:
        self._runtime = runtime
        self._interval_s = runtime.settings.stream_health_interval_s
        self._stall_after_s = runtime.settings.stall_after_s
        self._started = time.monotonic()
        self._task: asyncio.Task[None] | None = None
        self._stop = asyncio.Event()
        self._trimmed = {s.name: s for s in group_trimmed_streams(runtime.settings.accounts)}

    async def start(self) -> None:
        self._started = time.monotonic()
        self._stop.clear()
        self._task = asyncio.create_task(self._loop(), name=f"{self._runtime.name}:stream-health")

    async def stop(self) -> None:
        """Let the current refresh finish (a Redis call is not cut in half), then end."""
        task, self._task = self._task, None
        if task is None:
            return
        self._stop.set()
        try:
            await asyncio.wait_for(asyncio.shield(task), timeout=5.0)
        except TimeoutError:
            await cancel_and_wait(task)

    async def readiness(self) -> str | None:
        """Which consumer loops have not polled for `stall_after_s` (since start, if never)."""
        now = time.monotonic()
        stalled_ = [
            f"{c.spec.stream.name}/{c.spec.group} {now - since:.0f} s"
            for c in self._runtime.consumers()
            if now - (since := max(c.stats.last_poll, self._started)) > self._stall_after_s
        ]
        if not stalled_:
            return None
        return f"no poll for over {self._stall_after_s:.0f} s: {', '.join(stalled_)}"

    async def refresh(self) -> None:
        """Set every gauge once: one pipeline of XINFO GROUPS and XLEN for all streams; then
        trim the group-read ones below what every group acknowledged (`stream_trim`)."""
        consumers = self._runtime.consumers()
        metrics = self._runtime.metrics
        wall_minus_mono = time.time() - time.monotonic()
        for c in consumers:
            if c.stats.last_poll:
                labels = {"stream": c.spec.stream.name, "group": str(c.spec.group)}
                metrics.subscriber_last_poll.labels(**labels).set(
                    c.stats.last_poll + wall_minus_mono
                )
        groups = sorted({(c.spec.stream.name, str(c.spec.group)) for c in consumers})
        by_name = {c.spec.stream.name: c.spec.stream for c in consumers}
        streams = sorted(by_name)
        if not streams:
            return
        async with self._runtime.redis.pipeline(transaction=False) as pipe:
            for stream in streams:
                pipe.xinfo_groups(stream)
                pipe.xlen(by_name[stream].dlq.name)
                pipe.xlen(stream)
            replies = await pipe.execute(raise_on_error=False)
        read: dict[str, Any] = {}
        lengths: dict[str, int] = {}
        unknown_lag: list[tuple[dict[str, str], str]] = []
        for index, stream in enumerate(streams):
            infos, dead, length = replies[3 * index : 3 * index + 3]
            if isinstance(dead, int):
                metrics.dead_letter_length.labels(stream=stream).set(dead)
            if isinstance(length, int):
                metrics.stream_length.labels(stream=stream).set(length)
                lengths[stream] = length
            if isinstance(infos, Exception):
                continue  # the stream is gone (FLUSHDB); its consumer re-creates it
            if stream in self._trimmed:
                read[stream] = infos
            for info in infos:
                group = _text(info.get("name"))
                if (stream, group) not in groups:
                    continue
                labels = {"stream": stream, "group": group}
                metrics.stream_pending.labels(**labels).set(int(info.get("pending") or 0))
                if (lag := info.get("lag")) is not None:
                    metrics.stream_lag.labels(**labels).set(int(lag))
                else:  # nil: Redis cannot tell (entries deleted); counted below
                    unknown_lag.append((labels, _text(info.get("last-delivered-id") or "0-0")))
        if unknown_lag:  # the entries after the last delivered one, up to one past the alert
            async with self._runtime.redis.pipeline(transaction=False) as pipe:
                for labels, after in unknown_lag:
                    pipe.xrange(labels["stream"], min=f"({after}", count=LAG_COUNT_CAP)
                unread = await pipe.execute()
            for (labels, _), entries in zip(unknown_lag, unread, strict=True):
                metrics.stream_lag.labels(**labels).set(len(entries or []))
        if read:  # trim what every group is done with, from the XINFO replies just read
            await trim_acked(
                self._runtime.redis,
                self._runtime.settings.stream_keep_s,
                [self._trimmed[name] for name in read],
                infos=list(read.values()),
                lengths=lengths,
            )

    async def _loop(self) -> None:
        while not self._stop.is_set():
            try:
                await self.refresh()
            except Exception as error:  # Redis away: /ready says so; keep trying
                log.warning("%s: stream health refresh failed: %r", self._runtime.name, error)
            await wait_or_timeout(self._stop, self._interval_s)


def _text(value: object) -> str:
    return value.decode() if isinstance(value, bytes) else str(value)


def stalled(last_progress_monotonic: Callable[[], float], limit_s: float) -> ReadinessCheck:
    """A readiness check that fails when a loop has not made progress for `limit_s`."""

    async def check() -> str | None:
        idle = time.monotonic() - last_progress_monotonic()
        return f"no progress for {idle:.0f} s (limit {limit_s:.0f} s)" if idle > limit_s else None

    return check


STARTUP_FAILURE = 3
"""uvicorn's exit status when the app did not start (`uvicorn.main.STARTUP_FAILURE`)."""


class _Server(uvicorn.Server):
    """uvicorn's server, telling the log filters when a stop signal arrives."""

    def handle_exit(self, sig: int, frame: FrameType | None) -> None:
        logs.mark_stopping()
        super().handle_exit(sig, frame)


def run(app: FastAPI, settings: ServiceSettings, *, name: str) -> None:
    """Serve `app` in the foreground (uvloop, no access log) until SIGINT / SIGTERM, logging
    one line per record (`libs.common.logs`) as service `name`."""
    logs.configure_logging(name, settings.instance, redis_url=settings.redis_url)
    config = uvicorn.Config(
        app,
        host=settings.host,
        port=settings.port,
        loop="uvloop",
        http="httptools",
        access_log=False,
        log_level="info",
        log_config=None,  # the root logger's handler (configure_logging) writes uvicorn's too
    )
    server = _Server(config)
    with contextlib.suppress(KeyboardInterrupt):
        server.run()
    if not server.started:  # as uvicorn.run: a failed start-up is exit status 3
        raise SystemExit(STARTUP_FAILURE)
