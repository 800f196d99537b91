"""`BinanceVenue`: the Binance USDⓈ-M implementation of `VenuePort`, with the outcome policy.

The policy is Bybit's (`libs.common.venue.bybit`), in Binance's codes; the order's
`newClientOrderId` (our client order id) is the idempotency key:

* Validate and round against the instrument first; an order that cannot be made valid
  raises `InvalidOrderRequest` and is never sent.
* Certain refusals (-1021 after a clock re-sync, 429 after the bounded wait, auth codes,
  HTTP 418, business codes, `VenueUnavailable(sent=False)`: no connection, -1000 / -1001 /
  -1008, 503 "Service Unavailable") are raised as they are: the venue did not act.
* An *ambiguous* answer (timeout, dropped connection, HTTP 5xx "Unknown error", -1006 /
  -1007) is never resent blindly: the order is looked up by origClientOrderId (orderId).
  - create: found → `OrderAck(recovered=True)`. Absent → looked up again once the first
    request's recvWindow (+ `resend_guard_ms`) has passed, when the matching engine would
    refuse it (-5028); still absent → resent ONCE with the SAME newClientOrderId (a
    resend the venue certainly did not act on raises as it is: nothing was placed).
    -4116 (duplicate newClientOrderId) on any attempt means it is there → looked up,
    `recovered=True`. Binance refuses a duplicate newClientOrderId only while the first
    order is OPEN, so -4116 alone does not prevent a double placement: what does is that
    every resend here is preceded by a lookup by client order id.
  - amend: found with the new price/qty → `recovered=True`; found unchanged and open →
    resent once; found final → `OrderClosed`; absent → `OrderNotFound`.
  - cancel: found final → `recovered=True` with the final snapshot; found open → resent
    once; absent → `OrderNotFound`.
  If a lookup fails, or the second attempt is ambiguous too and the lookup does not settle
  it, `OutcomeUnknown` is raised: the router must reconcile.
* -2011 on cancel: the order is looked up; final → its last snapshot as a recovered ack
  (already filled or cancelled is not an error for a cancel); unknown → `OrderNotFound`.
* Amend: Binance's PUT needs side, quantity and price; what the amend leaves out is read
  from the order first. -5027 ("No need to modify") is a recovered ack when the order
  already carries the new values.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Sequence
from typing import TYPE_CHECKING

from libs.common.domain.enums import Category
from libs.common.venue.binance import batch, dcp, wire
from libs.common.venue.binance.acks import Params, ack_of, carries, did_not_act
from libs.common.venue.binance.answer import Answer
from libs.common.venue.binance.config import BinanceConfig
from libs.common.venue.binance.errors import (
    CANCEL_REJECTED,
    FAILED_CODES,
    NO_CHANGE_CODE,
    NO_SUCH_ORDER,
    classify,
    rejection,
)
from libs.common.venue.binance.queries import BinanceQueries
from libs.common.venue.errors import (
    OrderClosed,
    OrderNotFound,
    Outcome,
    VenueError,
    VenueUnavailable,
)
from libs.common.venue.http import OnRequest
from libs.common.venue.models import (
    AmendOrder,
    BatchItemResult,
    CancelOrder,
    OrderAck,
    PlaceOrder,
    VenueOrder,
)
from libs.common.venue.outcomes import Req, lookup, recovered, resent, unknown
from libs.common.venue.port import VenuePort
from libs.common.venue.wire import normalize_amend, normalize_place

log = logging.getLogger(__name__)


class BinanceVenue(BinanceQueries):
    """Binance USDⓈ-M futures over REST (one keep-alive pool), one-way position mode.

    `async with BinanceVenue(BinanceConfig()) as v:`. The lifecycle and read-only calls come
    from `BinanceQueries`; batches run the same per-item policy (`binance.batch`).
    """

    def __init__(
        self, config: BinanceConfig | None = None, *, on_request: OnRequest | None = None
    ) -> None:
        super().__init__(config, on_request=on_request)
        self.dcp_window_ms: int | None = None
        """The countdown `set_dcp_window` armed (None: not armed); `BinancePrivateStream`
        renews it while connected."""
        self.dcp_symbols: set[str] = set()
        """The symbols the countdown is armed on."""

    # -- sending and lookups -----------------------------------------------------------------

    async def _send(self, method: str, path: str, params: Params) -> Answer:
        """A mutating call; an unknown outcome is an `Answer.unknown` (code -1007).

        VenueUnavailable(sent=False) (the venue did not act) is raised as it is.
        """
        try:
            return await self.rest.send(method, path, params)
        except VenueUnavailable as exc:
            if not exc.sent:
                raise
            return Answer.unknown(str(exc))

    async def _resend(self, op: str, req: Req, method: str, params: Params, why: str) -> Answer:
        """The single resend; if it cannot even be sent, the first outcome stays unknown."""
        return await resent(op, req, why, self._send(method, wire.ORDER, params))

    async def _outlast_recv_window(self, sent_ms: int) -> None:
        """Sleep until a request signed at `sent_ms` (venue clock) can no longer execute."""
        expires_ms = sent_ms + self.config.recv_window + self.config.resend_guard_ms
        wait_ms = expires_ms - self.rest.clock.now_ms()
        if wait_ms > 0:
            await asyncio.sleep(wait_ms / 1000)

    # -- create -----------------------------------------------------------------------------

    async def place(self, order: PlaceOrder) -> OrderAck:
        """Place one order; see the module docstring for what happens on ambiguity."""
        wire.check_linear(order.category, f"create {order.client_order_id}")
        rules = await self.rules(order.category, order.symbol)
        params = wire.place_params(order, *normalize_place(rules, order))
        await self._arm_dcp_for(order.symbol)
        sent_ms = self.rest.clock.now_ms()
        answer = await self._send("POST", wire.ORDER, params)
        return await self._create_outcome(order, params, answer, 1, sent_ms)

    async def _create_outcome(
        self, order: PlaceOrder, params: Params, answer: Answer, n: int, sent_ms: int
    ) -> OrderAck:
        outcome = classify(answer.code)
        if outcome is Outcome.OK:
            return ack_of(order, answer, n)
        reason = f"create attempt {n}: code {answer.code} {answer.msg}".strip()
        if outcome is Outcome.AMBIGUOUS and n == 1:
            found = await lookup(self, "create", order, reason)
            if found is None:
                await self._outlast_recv_window(sent_ms)
                found = await lookup(self, "create", order, reason)
            if found is not None:
                return recovered(found, n)
            # Definitely not at the venue, and the first request can no longer land: a
            # resend the venue certainly did not act on leaves nothing placed (raised as is).
            sent_ms = self.rest.clock.now_ms()
            try:
                answer = await self._send("POST", wire.ORDER, params)
            except VenueError as exc:
                if did_not_act(exc):
                    raise
                raise unknown("create", order, f"{reason}; the resend failed: {exc}") from exc
            return await self._create_outcome(order, params, answer, 2, sent_ms)
        if outcome in (Outcome.AMBIGUOUS, Outcome.DUPLICATE):
            found = await lookup(self, "create", order, reason)
            if found is None:
                raise unknown("create", order, f"{reason}; not found by origClientOrderId")
            return recovered(found, n)
        if answer.code in FAILED_CODES:  # the venue says it failed: nothing was placed
            raise VenueUnavailable(wire.ORDER, reason, sent=False)
        raise rejection(answer.code, answer.msg, context=f"create {order.client_order_id}")

    # -- amend ------------------------------------------------------------------------------

    async def amend(self, amend: AmendOrder) -> OrderAck:
        """Change price and/or qty (rounded to the instrument); see the module docstring."""
        wire.check_linear(amend.category, f"amend {amend.ident}")
        rules = await self.rules(amend.category, amend.symbol)
        qty, price = normalize_amend(rules, amend)
        if qty is None or price is None:
            current = await self._current(amend)
            qty = current.qty if qty is None else qty
            price = current.price if price is None else price
            if price is None:
                raise OrderClosed(
                    NO_SUCH_ORDER,
                    "the order has no price to keep: only Limit orders amend",
                    context=f"amend {amend.ident}",
                    order=current,
                )
        params = wire.amend_params(amend, amend.side, qty, price)
        answer = await self._send("PUT", wire.ORDER, params)
        return await self._amend_outcome(amend, params, answer, 1)

    async def _current(self, amend: AmendOrder) -> VenueOrder:
        """The live order whose quantity or price an amend keeps."""
        context = f"amend {amend.ident}"
        found = await self.get_order(
            amend.category,
            amend.symbol,
            amend.client_order_id if amend.venue_order_id is None else None,
            venue_order_id=amend.venue_order_id,
        )
        if found is None:
            raise OrderNotFound(NO_SUCH_ORDER, "the venue does not know it", context=context)
        if not found.status.is_open:
            raise OrderClosed(
                NO_SUCH_ORDER, f"order is {found.status}", context=context, order=found
            )
        return found

    async def _amend_outcome(
        self, amend: AmendOrder, params: Params, answer: Answer, n: int
    ) -> OrderAck:
        outcome = classify(answer.code)
        if outcome is Outcome.OK:
            return ack_of(amend, answer, n)
        context = f"amend {amend.ident}"
        reason = f"amend attempt {n}: code {answer.code} {answer.msg}".strip()
        if answer.code == NO_CHANGE_CODE:
            found = await lookup(self, "amend", amend, reason)
            if found is not None and carries(found, params):
                return recovered(found, n)
            raise rejection(answer.code, answer.msg, context=context)
        if outcome is Outcome.NOT_FOUND:
            found = await lookup(self, "amend", amend, reason)
            if found is not None and not found.status.is_open:
                raise OrderClosed(answer.code, answer.msg, context=context, order=found)
            raise OrderNotFound(answer.code, answer.msg, context=context, order=found)
        if outcome is not Outcome.AMBIGUOUS:
            raise rejection(answer.code, answer.msg, context=context)
        found = await lookup(self, "amend", amend, reason)
        if found is None:
            raise OrderNotFound(
                NO_SUCH_ORDER, f"{reason}; the venue does not know it", context=context
            )
        if carries(found, params):
            return recovered(found, n)
        if not found.status.is_open:
            raise OrderClosed(
                answer.code, f"{reason}; order is {found.status}", context=context, order=found
            )
        if n > 1:
            raise unknown("amend", amend, f"{reason}; the order is open without the new values")
        answer = await self._resend("amend", amend, "PUT", params, reason)
        return await self._amend_outcome(amend, params, answer, 2)

    # -- cancel -----------------------------------------------------------------------------

    async def cancel(self, cancel: CancelOrder) -> OrderAck:
        """Cancel one order. Already filled / cancelled returns its final snapshot."""
        wire.check_linear(cancel.category, f"cancel {cancel.ident}")
        params = wire.cancel_params(cancel)
        answer = await self._send("DELETE", wire.ORDER, params)
        return await self._cancel_outcome(cancel, params, answer, 1)

    async def _cancel_outcome(
        self, cancel: CancelOrder, params: Params, answer: Answer, n: int
    ) -> OrderAck:
        outcome = classify(answer.code)
        if outcome is Outcome.OK:
            return ack_of(cancel, answer, n)
        context = f"cancel {cancel.ident}"
        if outcome not in (Outcome.NOT_FOUND, Outcome.AMBIGUOUS):
            raise rejection(answer.code, answer.msg, context=context)
        reason = f"cancel attempt {n}: code {answer.code} {answer.msg}".strip()
        found = await lookup(self, "cancel", cancel, reason)
        if found is None:
            code = answer.code if outcome is Outcome.NOT_FOUND else CANCEL_REJECTED
            raise OrderNotFound(code, f"{reason}; the venue does not know it", context=context)
        if not found.status.is_open:
            return recovered(found, n)
        if n > 1:
            raise unknown("cancel", cancel, f"{reason}; the order is still open")
        answer = await self._resend("cancel", cancel, "DELETE", params, reason)
        return await self._cancel_outcome(cancel, params, answer, 2)

    # -- batches, cancel-all, the dead man's switch ------------------------------------------

    async def place_batch(self, orders: Sequence[PlaceOrder]) -> list[BatchItemResult]:
        """Place many orders: `batchOrders` chunks of 5, one result per order in input
        order. Invalid orders are not sent; each item follows the single-order policy."""
        return await batch.place_batch(self, orders)

    async def amend_batch(self, amends: Sequence[AmendOrder]) -> list[BatchItemResult]:
        """Amend many orders (one PUT each, concurrently); one result per amend, in order."""
        return await batch.amend_batch(self, amends)

    async def cancel_batch(self, cancels: Sequence[CancelOrder]) -> list[BatchItemResult]:
        """Cancel many orders: `batchOrders` DELETEs of up to 10 ids per symbol; one result
        per cancel, in input order."""
        return await batch.cancel_batch(self, cancels)

    async def cancel_all(
        self, category: Category, symbol: str | None = None, settle_coin: str | None = None
    ) -> list[OrderAck]:
        """Cancel every open order of `symbol` (else of every symbol with one; `settle_coin`
        is ignored). Binance names nothing it cancelled: the acks are the orders open just
        before, one per order listed then (not capped at `CANCEL_ALL_CAP`; an order that
        filled meanwhile is among them)."""
        return await batch.cancel_all(self, category, symbol)

    async def set_dcp_window(self, seconds: int, product: str = "DERIVATIVES") -> None:
        """Arm Binance's dead man's switch with a `seconds` countdown (3-300 s).

        Binance's switch is per symbol (`countdownCancelAll`): it is armed on every symbol
        with an open order and every symbol placed through this adapter (each newly placed
        symbol is armed before its first order), and `BinancePrivateStream` renews it every
        third of the window while it is connected, so the venue cancels a symbol's orders
        `seconds` after we vanish, as Bybit's DCP does when its private stream drops.
        `product` is Bybit's and ignored.
        """
        await dcp.set_dcp_window(self, seconds)

    async def renew_dcp(self) -> None:
        """Send the countdown again on every armed symbol (the heartbeat); no-op unarmed."""
        await dcp.renew(self)

    async def _arm_dcp_for(self, symbol: str) -> None:
        self.track([symbol])
        await dcp.arm(self, symbol)


if TYPE_CHECKING:
    _conforms: VenuePort = BinanceVenue()
