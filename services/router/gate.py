"""The only door to the venue: rate limit, circuit breaker, send barrier, transient retries.

Every place or amend call, batch or single, goes through `VenueGate`, which in order:

1. asks the circuit breaker (open: the call is refused, `circuit_open`);
2. takes its place in the rolling-second window shared by every router instance, per the
   venue's quota groups (single create / amend / cancel share `trade`; batches go in
   chunks of at most one window's `batch` quota, one unit per order), which the venue's
   rate-limit headers can close until their reset time;
3. asks the send barrier (closed while trading is FROZEN: refused, `frozen`); the adapter
   asks it again right before the bytes of every request and every resend go out
   (`libs.common.venue.barrier`), so no create or amend leaves after the barrier closed;
4. calls the adapter, and retries with tenacity only what certainly did not reach the
   venue (rate limited, no connection): never a rejected order, never an unknown outcome.

Cancels skip steps 1 and 3: a cancel only reduces risk, and a freeze needs them most.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass
from enum import StrEnum
from typing import TypeVar

from tenacity import (
    AsyncRetrying,
    RetryCallState,
    retry_if_exception,
    stop_after_attempt,
    stop_any,
    wait_exponential,
    wait_random,
)
from tenacity.stop import stop_base

from libs.common.accounts import scoped_name, venue_scoped
from libs.common.domain.enums import Category
from libs.common.domain.ids import DEFAULT_ACCOUNT, DEFAULT_VENUE, AccountId, VenueId
from libs.common.stores import RateLimiter, throttle
from libs.common.topology import RATE_LIMIT_GROUPS, rate_limit_bucket
from libs.common.venue import (
    AmendOrder,
    AuthenticationFailed,
    BatchErrorKind,
    BatchItemResult,
    CancelOrder,
    InvalidOrderRequest,
    IpBanned,
    OrderAck,
    PlaceOrder,
    RateLimited,
    SendBarrier,
    SendRefused,
    VenueError,
    VenueOrder,
    VenuePort,
    VenueRejected,
    VenueUnavailable,
)
from libs.common.venue.binance.wire import quota_group
from libs.common.venue.errors import RATE_LIMIT_CODE
from services.router.venue_health import VenueHealth

log = logging.getLogger(__name__)

T = TypeVar("T")
R = TypeVar("R", PlaceOrder, AmendOrder, CancelOrder)
Req = PlaceOrder | AmendOrder | CancelOrder

REFUSED_CODE = -1
"""The `code` of a refusal decided by the router itself: the venue was not called."""
FROZEN = "frozen"
CIRCUIT_OPEN = "circuit_open"
LATE = "the rate limit admits it only after the send deadline"


TRADE, BATCH, CANCEL_ALL, QUERY = RATE_LIMIT_GROUPS
_TRADE_PATHS = ("/v5/order/create", "/v5/order/amend", "/v5/order/cancel")


def group_of(path: str) -> str:
    """The venue's quota group of a path: single create / amend / cancel share `trade`; the
    batch calls share `batch` (one unit per order); then `cancel_all`, and `query` (Bybit's
    paths; Binance's by `libs.common.venue.binance.wire.quota_group`)."""
    if path in _TRADE_PATHS:
        return TRADE
    if path.endswith("-batch"):
        return BATCH
    if path == "/v5/order/cancel-all":
        return CANCEL_ALL
    if path.startswith("/fapi/"):  # Binance's paths
        return quota_group(path)
    return QUERY


def lane_bucket(category: Category, group: str, account: AccountId, venue: VenueId) -> str:
    """The rate-limit bucket of an endpoint group for an account at a venue."""
    return venue_scoped(scoped_name(rate_limit_bucket(category, group), account), venue)


def group_for(count: int) -> str:
    """The quota group of a call carrying `count` orders (more than one: a batch)."""
    return TRADE if count == 1 else BATCH


class Outcome(StrEnum):
    ACKED = "acked"
    REJECTED = "rejected"
    """The venue refused it, or it cannot be made valid (never sent)."""
    UNKNOWN = "unknown"
    """The adapter could not establish the outcome even by querying: reconcile."""
    NOT_SENT = "not_sent"
    """Certainly never reached the venue, after the transient retries."""
    REFUSED = "refused"
    """The router did not call the venue: frozen or circuit open (`reason`)."""


@dataclass(frozen=True, slots=True)
class Sent:
    """What became of one order, amend or cancel sent through the gate."""

    outcome: Outcome
    ack: OrderAck | None = None
    code: int = REFUSED_CODE
    reason: str = ""
    retries: int = 0
    """Sends repeated by the gate and the adapter (0 when the first send was answered)."""


class _NotSentYet(Exception):
    """Some items certainly did not reach the venue: try them again (tenacity)."""


def _transient_query(exc: BaseException) -> bool:
    return isinstance(exc, RateLimited | VenueUnavailable)


def result_of(item: BatchItemResult, retries: int) -> Sent:
    """One item of an adapter batch as a `Sent`."""
    if item.ack is not None:
        return Sent(Outcome.ACKED, item.ack, 0, retries=retries + item.ack.attempts - 1)
    if item.error_kind is BatchErrorKind.UNKNOWN:
        return Sent(Outcome.UNKNOWN, code=item.code, reason=item.message, retries=retries)
    if item.error_kind is BatchErrorKind.NOT_SENT:
        return Sent(Outcome.NOT_SENT, code=item.code, reason=item.message, retries=retries)
    if item.error_kind is BatchErrorKind.REFUSED:
        return Sent(Outcome.REFUSED, reason=FROZEN, retries=retries)
    code = item.code if item.error_kind is BatchErrorKind.REJECTED else REFUSED_CODE
    return Sent(Outcome.REJECTED, code=code, reason=item.message, retries=retries)


def classify_error(exc: Exception) -> tuple[BatchErrorKind, int, str]:
    """(kind, code, message) of a single call's error, as the adapter's batches report it."""
    if isinstance(exc, InvalidOrderRequest):
        return BatchErrorKind.INVALID, REFUSED_CODE, str(exc)
    if isinstance(exc, SendRefused):
        return BatchErrorKind.REFUSED, REFUSED_CODE, str(exc)
    if isinstance(exc, VenueRejected):
        return BatchErrorKind.REJECTED, exc.code, exc.venue_message
    if isinstance(exc, VenueUnavailable) and exc.sent:
        return BatchErrorKind.UNKNOWN, 0, str(exc)
    if isinstance(exc, RateLimited):
        return BatchErrorKind.NOT_SENT, RATE_LIMIT_CODE, str(exc)
    if isinstance(exc, VenueUnavailable | IpBanned | AuthenticationFailed):
        return BatchErrorKind.NOT_SENT, 0, str(exc)
    return BatchErrorKind.UNKNOWN, 0, str(exc)  # OutcomeUnknown and anything unforeseen


def error_items(reqs: Sequence[Req], exc: Exception) -> list[BatchItemResult]:
    """The same error for every item of a call that failed as a whole."""
    kind, code, message = classify_error(exc)
    return [
        BatchItemResult(
            client_order_id=r.client_order_id, error_kind=kind, code=code, message=message
        )
        for r in reqs
    ]


async def settle_one(req: Req, call: Awaitable[OrderAck]) -> BatchItemResult:
    """A single call's outcome in the shape of a batch item."""
    try:
        ack = await call
    except VenueError as exc:
        (item,) = error_items([req], exc)
        return item
    return BatchItemResult(
        client_order_id=req.client_order_id, venue_order_id=ack.venue_order_id, ack=ack
    )


class VenueGate:
    """Sends orders, amends, cancels and queries to the venue under the router's rules."""

    def __init__(
        self,
        venue: VenuePort,
        *,
        health: VenueHealth,
        limiter: RateLimiter,
        barrier: SendBarrier,
        window_limit: Callable[[str], int],
        retries: int,
        backoff_s: float,
        account: AccountId = DEFAULT_ACCOUNT,
        venue_id: VenueId = DEFAULT_VENUE,
    ) -> None:
        self.venue = venue
        self.account = account
        """Whose credentials `venue` signs with: the venue counts rates per account, so the
        buckets are the account's (at that venue: `venue_id`)."""
        self.venue_id = venue_id
        self.barrier = barrier
        self._health = health
        self._limiter = limiter
        self._window_limit = window_limit
        self._blocks: set[asyncio.Task[None]] = set()
        self._retries = retries
        self._backoff_s = backoff_s

    # -- orders -----------------------------------------------------------------------------------

    async def place(
        self, orders: Sequence[PlaceOrder], *, deadline: float | None = None
    ) -> list[Sent]:
        """Place orders of one category: `place_batch` for more than one order, in as many
        calls as the batch quota's window needs (the venue counts each order). With a
        `deadline` (`time.monotonic()`), nothing is sent or sent again after it, and no
        wait for the rate limit runs past it: what is left comes back NOT_SENT."""
        return await self._in_windows(orders, self._place_call, deadline=deadline)

    async def amend(self, amend: AmendOrder) -> Sent:
        (sent,) = await self._send_all([amend], self._amend_call)
        return sent

    async def cancel(self, cancels: Sequence[CancelOrder]) -> list[Sent]:
        """Cancel orders (never refused: no freeze check, no breaker)."""
        return await self._in_windows(cancels, self._cancel_call, gated=False)

    async def cancel_all(self, category: Category, symbol: str | None) -> list[OrderAck]:
        """Cancel every open order of `symbol` (None: of the settle coin, every symbol);
        raises what the venue raised after retries."""
        return await self._retrying(
            category, CANCEL_ALL, lambda: self.venue.cancel_all(category, symbol), mutating=True
        )

    def batch_window(self) -> int:
        """Orders one window of the batch quota admits: what can be cancelled by id at once."""
        return self._window_limit(BATCH)

    async def query(self, category: Category, call: Callable[[], Awaitable[T]]) -> T:
        """A read-only call, throttled and retried on transient errors."""
        return await self._retrying(category, QUERY, call, mutating=False)

    async def open_orders(self, category: Category, symbol: str | None = None) -> list[VenueOrder]:
        """Every order open at the venue, of `symbol` or of the whole category (all pages)."""
        return await self.query(category, lambda: self.venue.open_orders(category, symbol))

    async def find_order(
        self,
        category: Category,
        symbol: str,
        client_order_id: str | None,
        venue_order_id: str | None = None,
    ) -> VenueOrder | None:
        """One order as the venue has it, by orderId when known, else by orderLinkId (open
        or in its history); None when the venue knows neither."""
        return await self.query(
            category,
            lambda: self.venue.get_order(
                category,
                symbol,
                client_order_id if venue_order_id is None else None,
                venue_order_id=venue_order_id,
            ),
        )

    def quota_spent(self, path: str, reset_ms: int) -> None:
        """The venue says `path`'s quota is used up until `reset_ms`: close its endpoint
        group's bucket until then, for every router instance (`VenueHealth.on_quota_spent`)."""
        group = group_of(path)
        for category in Category:
            task = asyncio.create_task(self._limiter.block(self.bucket(category, group), reset_ms))
            self._blocks.add(task)
            task.add_done_callback(self._blocks.discard)
        log.warning("venue quota of %s spent until %d: %s paused", path, reset_ms, group)

    # -- the calls, one attempt each -----------------------------------------------------------

    async def _place_call(self, orders: Sequence[PlaceOrder]) -> list[BatchItemResult]:
        if len(orders) == 1:
            return [await settle_one(orders[0], self.venue.place(orders[0]))]
        return await self._batch(orders, self.venue.place_batch(orders))

    async def _amend_call(self, amends: Sequence[AmendOrder]) -> list[BatchItemResult]:
        return [await settle_one(a, self.venue.amend(a)) for a in amends]

    async def _cancel_call(self, cancels: Sequence[CancelOrder]) -> list[BatchItemResult]:
        if len(cancels) == 1:
            return [await settle_one(cancels[0], self.venue.cancel(cancels[0]))]
        return await self._batch(cancels, self.venue.cancel_batch(cancels))

    async def _batch(
        self, reqs: Sequence[Req], call: Awaitable[list[BatchItemResult]]
    ) -> list[BatchItemResult]:
        """A batch call; an error before any item was sent applies to every item."""
        try:
            return await call
        except VenueError as exc:
            return error_items(reqs, exc)

    # -- admission and retries -------------------------------------------------------------------

    async def _in_windows(
        self,
        reqs: Sequence[R],
        call: Callable[[Sequence[R]], Awaitable[list[BatchItemResult]]],
        *,
        gated: bool = True,
        deadline: float | None = None,
    ) -> list[Sent]:
        """`_send_all` in chunks of at most one window's batch quota, each admitted before
        it is sent: paying several windows and then sending everything at once would put
        the whole batch into the venue's one second."""
        most = self._window_limit(BATCH)  # 1: every order goes alone, in the trade quota
        sent: list[Sent] = []
        for start in range(0, len(reqs), most):
            chunk = reqs[start : start + most]
            sent += await self._send_all(chunk, call, gated=gated, deadline=deadline)
        return sent

    async def _send_all(
        self,
        reqs: Sequence[R],
        call: Callable[[Sequence[R]], Awaitable[list[BatchItemResult]]],
        *,
        gated: bool = True,
        deadline: float | None = None,
    ) -> list[Sent]:
        """Send `reqs` (one category) in one call per attempt; retry only the items that
        certainly did not reach the venue, and none after `deadline`."""
        if not reqs:
            return []
        results: dict[int, Sent] = {}
        pending = list(range(len(reqs)))
        retry = retry_if_exception(_is_not_sent_yet)
        try:
            async for attempt in self._retry_policy(retry, deadline):
                with attempt:
                    retries = attempt.retry_state.attempt_number - 1
                    batch = [reqs[i] for i in pending]
                    group = group_for(len(batch))
                    cat = batch[0].category
                    refusal = await self._admit(cat, group, len(batch), gated, deadline)
                    if refusal is LATE:
                        late = Sent(Outcome.NOT_SENT, reason=LATE, retries=retries)
                        results.update(dict.fromkeys(pending, late))
                        return [results[i] for i in range(len(reqs))]
                    if refusal is not None:
                        refused = Sent(Outcome.REFUSED, reason=refusal, retries=retries)
                        results.update(dict.fromkeys(pending, refused))
                        return [results[i] for i in range(len(reqs))]
                    for i, item in zip(pending, await call(batch), strict=True):
                        results[i] = result_of(item, retries)
                    pending = [i for i in pending if results[i].outcome is Outcome.NOT_SENT]
                    if pending:
                        raise _NotSentYet(f"{len(pending)} of {len(batch)} not sent")
        except _NotSentYet:
            log.warning("%d item(s) not sent after the retries", len(pending))
        return [results[i] for i in range(len(reqs))]

    async def _admit(
        self, category: Category, group: str, cost: int, gated: bool, deadline: float | None
    ) -> str | None:
        """Breaker, rate limit (`LATE` when it admits only after `deadline`), then the send
        barrier (which the adapter checks again right before each request and resend)."""
        if gated and not self._health.allow():
            return CIRCUIT_OPEN
        if gated and not self.barrier.is_open:
            return FROZEN
        if not await self._take(category, group, cost, deadline):
            return LATE
        if gated and not self.barrier.is_open:
            return FROZEN
        return None

    async def _take(
        self, category: Category, group: str, cost: int, deadline: float | None = None
    ) -> bool:
        return await throttle(self._limiter, self.bucket(category, group), cost, until=deadline)

    def bucket(self, category: Category, group: str) -> str:
        """The rate-limit bucket of an endpoint group for this gate's account and venue."""
        return lane_bucket(category, group, self.account, self.venue_id)

    async def _retrying(
        self, category: Category, group: str, call: Callable[[], Awaitable[T]], *, mutating: bool
    ) -> T:
        retry = retry_if_exception(_not_sent if mutating else _transient_query)
        async for attempt in self._retry_policy(retry):
            with attempt:
                await self._take(category, group, 1)
                return await call()
        raise AssertionError("unreachable: tenacity re-raises the last error")

    def _retry_policy(
        self, retry: retry_if_exception, deadline: float | None = None
    ) -> AsyncRetrying:
        return AsyncRetrying(
            stop=stop_any(stop_after_attempt(self._retries + 1), _PastDeadline(deadline)),
            wait=wait_exponential(multiplier=self._backoff_s, max=2.0)
            + wait_random(0, self._backoff_s),
            retry=retry,
            reraise=True,
        )


class _PastDeadline(stop_base):
    """Stop retrying once `time.monotonic()` reaches `deadline` (never, when None)."""

    def __init__(self, deadline: float | None) -> None:
        self._deadline = deadline

    def __call__(self, retry_state: RetryCallState) -> bool:
        return self._deadline is not None and time.monotonic() >= self._deadline


def _is_not_sent_yet(exc: BaseException) -> bool:
    return isinstance(exc, _NotSentYet)


def _not_sent(exc: BaseException) -> bool:
    """A mutating call that certainly did not reach the venue: safe to send again."""
    return isinstance(exc, RateLimited) or (isinstance(exc, VenueUnavailable) and not exc.sent)
