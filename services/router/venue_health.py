"""Venue health: every HTTP exchange with the venue feeds the metrics and the circuit breaker.

`on_request` is the adapter's hook (synchronous, after every exchange): it observes
`venue_request_seconds`, sets `venue_rate_limit_remaining` from the answer's headers, hands
them to the `HeadroomBoard` (the headroom per endpoint in Redis, for the console) and tells
the breaker whether the venue answered. Breaker changes are shown at once in
`venue_circuit_state` and written, by a background task, to `venue_circuit_key(instance)`;
when the circuit OPENS that task freezes trading (`FreezeReason.VENUE_CIRCUIT`) if the desk
trades this venue alone (`freeze_on_open`; with more venues an open circuit freezes nothing:
this lane's gate refuses its sends, `circuit_open`, and the smart order router routes
around it, while the desk trades on elsewhere), as it does
when the venue refuses our credentials (`FreezeReason.AUTH`: nothing can trade), unless a
`CredentialKeeper` is set: it refreshes the credentials once first and reports here only
what it could not cure (`auth_failed`). The same task asks the venue's server time every
`probe_interval_s`: the readiness of the venue.

After an unfreeze the circuit does not wait out its cooldown: the `FreezeWatcher`, which
follows the trading state, calls `on_resume` when trading turns ACTIVE under a newer epoch,
and while the circuit is not closed the task asks the venue once, signed (the open orders of
`category`: one page after a freeze's sweep), straight through the adapter. An answer closes
the circuit (`CircuitBreaker.close`); a failure leaves it open. Either way the circuit key
records `probed_epoch`, the epoch it probed for, so that the gateway's unfreeze can answer
with the state the routers found. Until that probe has answered (one venue round trip after
the trading state is seen), an order may still be refused `circuit_open`.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING

from redis.asyncio import Redis

from libs.common.domain.enums import Category
from libs.common.domain.ids import DEFAULT_ACCOUNT, DEFAULT_VENUE, AccountId, VenueId
from libs.common.freeze import trigger_freeze
from libs.common.metrics import (
    RET_CODE_CONNECTION_ERROR,
    CircuitState,
    EngineMetrics,
    FreezeReason,
    http_ret_code,
)
from libs.common.stores import RiskStateStore
from libs.common.tasks import cancel_and_wait
from libs.common.topology import VENUE_CIRCUITS_KEY, VENUE_HEADROOM_KEY, venue_circuit_key
from libs.common.venue import LiveVenue
from libs.common.venue.errors import AUTH_CODES, RATE_LIMIT_CODE
from services.router.circuit import CircuitBreaker, CircuitChange
from services.router.credentials import CredentialKeeper
from services.router.headroom import HeadroomBoard

if TYPE_CHECKING:  # freeze_watch imports the router context, which imports this module
    from services.router.freeze_watch import News

log = logging.getLogger(__name__)

TRANSPORT_ERROR = -1
"""The adapter's `ret_code` for an exchange that got no HTTP answer."""
_BUSY_CODES = frozenset({10000, 10016})
"""Bybit "server timeout / busy": the venue is struggling, as with an HTTP 5xx."""


def ret_code_label(ret_code: int) -> str:
    """`venue_request_seconds{ret_code}` for the adapter's `ret_code` (see `OnRequest`)."""
    if ret_code == TRANSPORT_ERROR:
        return RET_CODE_CONNECTION_ERROR
    return http_ret_code(-ret_code) if ret_code < 0 else str(ret_code)


def failure_of(ret_code: int) -> tuple[str, bool] | None:
    """(why, fatal) when an exchange counts as a venue failure; None when the venue answered."""
    if ret_code == TRANSPORT_ERROR:
        return "no answer (connection error or timeout)", False
    if ret_code == -403:
        return "HTTP 403: the IP is banned", True
    if ret_code <= -500 or ret_code == -429:
        return f"HTTP {-ret_code}", False
    if ret_code in _BUSY_CODES:
        return f"retCode {ret_code} (server busy)", False
    return None


@dataclass(frozen=True, slots=True)
class Resumed:
    """Trading turned ACTIVE under `news` while the circuit was not closed: probe afresh."""

    news: News


class VenueHealth:
    """The adapter hook, the breaker's publisher and the venue probe (a Runner)."""

    def __init__(
        self,
        *,
        breaker: CircuitBreaker,
        metrics: EngineMetrics,
        redis: Redis,
        risk: RiskStateStore,
        instance: str,
        probe_interval_s: float,
        category: Category = Category.LINEAR,
        headroom_key: str = VENUE_HEADROOM_KEY,
        account: AccountId = DEFAULT_ACCOUNT,
        venue_id: VenueId = DEFAULT_VENUE,
        freeze_on_open: bool = True,
    ) -> None:
        self.breaker = breaker
        self.freeze_on_open = freeze_on_open
        """Freeze trading when the circuit opens: when the desk trades this venue alone."""
        self.account = account
        self.venue_id = venue_id
        self.latency_ms: float | None = None
        """An exponentially weighted mean of the venue's answer times (ms), for routing."""
        self.venue: LiveVenue | None = None
        self.credentials: CredentialKeeper | None = None
        """Refreshes the credentials once before a refusal freezes (None: freeze at once)."""
        self.on_quota_spent: Callable[[str, int], None] | None = None
        """Told (path, reset wall ms) when the venue says a quota is used up: the router's
        shared limiter then admits nothing on that endpoint group until the reset."""
        self._metrics = metrics
        self._redis = redis
        self._risk = risk
        self._instance = instance
        self._probe_interval_s = probe_interval_s
        self._category = category
        self._events: asyncio.Queue[CircuitChange | str | Resumed] = asyncio.Queue()
        """Breaker changes to publish, credential refusals (their text) to freeze on, and
        resumes of trading to probe for."""
        self._probe_error: str | None = "the venue was not probed yet"
        self._probe_at = 0.0
        self._task: asyncio.Task[None] | None = None
        from services.router.gate import group_of  # gate imports this module: not at the top

        self.headroom = HeadroomBoard(redis, group_of=group_of, key=headroom_key)
        metrics.set_circuit_state(breaker.state, venue_id)

    # -- synchronous hooks --------------------------------------------------------------------

    def on_request(self, path: str, ret_code: int, seconds: float) -> None:
        """`BybitVenue(on_request=...)`: runs after every HTTP exchange with the venue."""
        label = ret_code_label(ret_code)
        venue = self.venue_id
        self._metrics.venue_request.labels(venue=venue, endpoint=path, ret_code=label).observe(
            seconds
        )
        ms = seconds * 1000
        self.latency_ms = ms if self.latency_ms is None else 0.8 * self.latency_ms + 0.2 * ms
        status = self.venue.rest.rate_limits.get(path) if self.venue is not None else None
        if status is not None and status.remaining is not None:
            remaining = self._metrics.venue_rate_limit_remaining.labels(venue=venue, endpoint=path)
            remaining.set(status.remaining)
        self.headroom.observe(path, status)
        spent = ret_code == RATE_LIMIT_CODE or (status is not None and status.remaining == 0)
        if spent and self.on_quota_spent is not None:
            reset_ms = status.reset_ms if status is not None else None
            self.on_quota_spent(path, reset_ms or int(time.time() * 1000) + 1000)
        if ret_code in AUTH_CODES or ret_code == -401:
            refusal = f"{path}: venue refused the credentials ({ret_code})"
            if self.credentials is None:
                self.auth_failed(refusal)
            else:  # the request was signed when its exchange started, `seconds` ago
                self.credentials.refused(refusal, signed_at=time.perf_counter() - seconds)
        failure = failure_of(ret_code)
        if failure is None:
            self._changed(self.breaker.record_success())
        else:
            why, fatal = failure
            self._changed(self.breaker.record_failure(f"{path}: {why}", fatal=fatal))

    def auth_failed(self, detail: str) -> None:
        """The venue refuses the credentials for good: freeze trading (reason `auth`)."""
        self._events.put_nowait(detail)

    def allow(self) -> bool:
        """May a new order or amend go to the venue now (the breaker's gate)?"""
        allowed, change = self.breaker.allow()
        self._changed(change)
        return allowed

    def _changed(self, change: CircuitChange | None) -> None:
        if change is None:
            return
        self._metrics.set_circuit_state(change.state, self.venue_id)
        level = logging.ERROR if change.state is CircuitState.OPEN else logging.WARNING
        log.log(
            level,
            "venue circuit %s -> %s after %d failures: %s",
            change.previous,
            change.state,
            change.failures,
            change.reason,
        )
        self._events.put_nowait(change)

    # -- readiness ------------------------------------------------------------------------------

    async def readiness(self) -> str | None:
        """None while the last probe of the venue answered recently; else what is wrong."""
        if self._probe_error is not None:
            return self._probe_error
        age = time.monotonic() - self._probe_at
        if age > 3 * self._probe_interval_s:
            return f"venue probe is {age:.0f} s old (every {self._probe_interval_s:.0f} s)"
        return None

    # -- the background task --------------------------------------------------------------------

    async def start(self) -> None:
        await self.headroom.start()
        self._task = asyncio.create_task(self._run(), name="router:venue-health")

    async def stop(self) -> None:
        if self._task is not None:
            await cancel_and_wait(self._task)
            self._task = None
        await self.headroom.stop()

    async def _run(self) -> None:
        next_probe = 0.0
        while True:
            self._changed(self.breaker.tick())  # before the probe: its answer may close it
            now = time.monotonic()
            if now >= next_probe:
                next_probe = now + self._probe_interval_s
                await self._probe()
            try:
                async with asyncio.timeout(max(0.01, next_probe - time.monotonic())):
                    event = await self._events.get()
            except TimeoutError:
                continue
            await self._publish(event)

    async def _probe(self) -> None:
        if self.venue is None:
            return
        try:
            await self.venue.server_time_ms()
        except Exception as exc:  # any failure means the venue is not usable; say which
            self._probe_error = f"venue unreachable: {type(exc).__name__}: {exc}"
        else:
            self._probe_error = None
            self._probe_at = time.monotonic()
        with contextlib.suppress(Exception):  # best effort; the next probe writes it again
            await self._write_state(self.breaker.state)

    # -- after an unfreeze ------------------------------------------------------------------

    def on_resume(self, news: News) -> None:
        """Trading turned ACTIVE under `news` (told by the `FreezeWatcher`): probe afresh
        when the circuit is not closed."""
        if self.breaker.state is not CircuitState.CLOSED:
            self._events.put_nowait(Resumed(news))

    async def _fresh_probe(self, news: News) -> None:
        """Ask the venue once, signed; close the circuit if it answers."""
        if self.venue is not None and self.breaker.state is not CircuitState.CLOSED:
            try:
                await self.venue.open_orders(self._category)
            except Exception as exc:  # the hook counted the failure; the circuit stays open
                log.warning("trading resumed (epoch %d): the fresh probe failed: %s", news[1], exc)
            else:
                self._changed(
                    self.breaker.close(f"trading resumed (epoch {news[1]}): a fresh probe answered")
                )
        await self._write_state(self.breaker.state, probed_epoch=news[1])

    async def _publish(self, event: CircuitChange | str | Resumed) -> None:
        """Write the state to Redis and freeze when due (or probe after a resume), retrying
        until Redis takes it."""
        delay = 0.05
        while True:
            try:
                if isinstance(event, Resumed):
                    await self._fresh_probe(event.news)
                    return
                if isinstance(event, str):
                    await self._freeze(FreezeReason.AUTH, event)
                    return
                await self._write_state(event.state)
                if event.state is CircuitState.OPEN and self.freeze_on_open:
                    detail = f"{event.failures} consecutive venue failures, last: {event.reason}"
                    await self._freeze(FreezeReason.VENUE_CIRCUIT, detail)
                return
            except Exception:
                log.exception("venue health: could not publish %s; retrying", event)
                await asyncio.sleep(delay)
                delay = min(delay * 2, 2.0)

    async def _write_state(self, state: CircuitState, *, probed_epoch: int | None = None) -> None:
        key = venue_circuit_key(self._instance)
        async with self._redis.pipeline(transaction=True) as pipe:
            pipe.hset(
                key,
                mapping={
                    "state": state.value,
                    "failures": self.breaker.failures,
                    "reason": self.breaker.last_failure,
                    "updated_ns": time.time_ns(),
                    "account": self.account,
                    "venue": self.venue_id,
                    "latency_ms": "" if self.latency_ms is None else f"{self.latency_ms:.1f}",
                },
            )
            if probed_epoch is not None:
                pipe.hset(key, "probed_epoch", probed_epoch)
            ttl_ms = int(max(60.0, 3 * self._probe_interval_s) * 1000)
            pipe.pexpire(key, ttl_ms)
            now_ms = time.time_ns() // 1_000_000
            pipe.zadd(VENUE_CIRCUITS_KEY, {self._instance: now_ms})
            pipe.zremrangebyscore(VENUE_CIRCUITS_KEY, "-inf", now_ms - 24 * 3600 * 1000)
            await pipe.execute()

    async def _freeze(self, reason: FreezeReason, detail: str) -> None:
        result = await trigger_freeze(
            self._risk,
            self._metrics,
            reason=reason,
            detail=detail,
            actor=f"router:{self._instance}",
            now_ns=time.time_ns(),
        )
        log.error("%s (%s): trading frozen, epoch %d, changed %s", reason, detail, *result)
