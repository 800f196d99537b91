"""`BybitVenue`: the Bybit V5 implementation of `VenuePort`, with the outcome policy.

Outcome policy for create / amend / cancel (the order's orderLinkId is the idempotency key):

* Validate and round against the instrument first; an order that cannot be made valid
  raises `InvalidOrderRequest` and is never sent.
* Certain refusals (10002 after a clock re-sync, 10006 after the bounded wait, auth codes,
  HTTP 403, business retCodes, `VenueUnavailable(sent=False)` when no connection could be
  made) are raised as they are: the venue did not act.
* An *ambiguous* answer (timeout, dropped connection, HTTP 5xx/429, retCode 10000 / 10016 /
  170146 / 170147) is never resent blindly. The order is first looked up by orderLinkId (or
  orderId): realtime, then history.
  - create: found → `OrderAck(recovered=True)`; definitely absent → resent ONCE with the
    SAME orderLinkId; a duplicate answer (110072 / 170141) on any attempt means it is
    there → looked up, `recovered=True`.
  - amend: found with the new price/qty → `recovered=True`; found unchanged and open →
    resent once; found closed → `OrderClosed`; absent → `OrderNotFound`.
  - cancel: found closed → `recovered=True` with the final snapshot; found open → resent
    once; absent → `OrderNotFound`.
  If a lookup fails, or the second attempt is ambiguous too and the lookup does not settle
  it, `OutcomeUnknown` is raised: the router must reconcile. Because every resend reuses
  the orderLinkId, the venue itself refuses a second live order for it.
* 110001 / 170213 (and 110008 / 110010 / 170139 / 170142) on cancel: the final state is
  looked up and returned as an ack (`recovered=True`); already filled or cancelled is not
  an error for a cancel. `OrderNotFound` only if the venue does not know the order.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from decimal import Decimal
from typing import TYPE_CHECKING, Any

from libs.common.domain.enums import Category
from libs.common.venue import batch
from libs.common.venue.errors import (
    ORDER_NOT_FOUND_CODES,
    RATE_LIMIT_CODE,
    OrderClosed,
    OrderNotFound,
    Outcome,
    RateLimited,
    VenueUnavailable,
    classify,
    rejection,
)
from libs.common.venue.models import (
    AmendOrder,
    BatchItemResult,
    CancelOrder,
    OrderAck,
    PlaceOrder,
    VenueOrder,
)
from libs.common.venue.outcomes import Req, answered, lookup, recovered, resent, unknown
from libs.common.venue.port import VenuePort
from libs.common.venue.queries import VenueQueries
from libs.common.venue.rest import Envelope
from libs.common.venue.wire import (
    amend_body,
    cancel_body,
    normalize_amend,
    normalize_place,
    place_body,
)

CREATE = "/v5/order/create"
AMEND = "/v5/order/amend"
CANCEL = "/v5/order/cancel"
_NOT_FOUND = min(ORDER_NOT_FOUND_CODES)
UNKNOWN_OUTCOME = 10000
"""How `_send` reports a request whose outcome is unknown (Bybit's own server-timeout code)."""

Body = Mapping[str, Any]


def _ack(req: Req, result: Mapping[str, Any], attempts: int) -> OrderAck:
    return answered(req, result.get("orderLinkId"), result.get("orderId"), attempts)


def _amended(found: VenueOrder, body: Body) -> bool:
    """Does the order already carry the amend's new price and quantity?"""
    qty, price = body.get("qty"), body.get("price")
    return (qty is None or found.qty == Decimal(qty)) and (
        price is None or found.price == Decimal(price)
    )


class BybitVenue(VenueQueries):
    """Bybit V5 over REST (one keep-alive pool). Use `async with BybitVenue(config) as v:`.

    The lifecycle and read-only calls come from `VenueQueries`; batches run the same
    per-item policy (`libs.common.venue.batch`); the lookups, acks and the single resend
    are `libs.common.venue.outcomes`'.
    """

    # -- sending ----------------------------------------------------------------------------

    async def _send(self, path: str, body: Body) -> Envelope:
        """POST; an unknown outcome is reported as retCode 10000 (server timeout).

        A request that never left raises VenueUnavailable(sent=False): nothing happened.
        """
        try:
            return await self.rest.post(path, body)
        except VenueUnavailable as exc:
            if not exc.sent:
                raise
            return Envelope(UNKNOWN_OUTCOME, str(exc))

    async def _resend(self, op: str, req: Req, path: str, body: Body, reason: str) -> Envelope:
        """The single resend; if it cannot even be sent, the first outcome stays unknown."""
        return await resent(op, req, reason, self._send(path, body))

    # -- create -----------------------------------------------------------------------------

    async def place(self, order: PlaceOrder) -> OrderAck:
        """Place one order; see the module docstring for what happens on ambiguity."""
        rules = await self.rules(order.category, order.symbol)
        body = place_body(order, *normalize_place(rules, order))
        return await self._create_outcome(order, body, await self._send(CREATE, body), 1)

    async def _create_outcome(
        self, order: PlaceOrder, body: Body, env: Envelope, n: int
    ) -> OrderAck:
        code, msg = env.ret_code, env.ret_msg
        outcome = classify(code)
        if outcome is Outcome.OK:
            return _ack(order, env.result, n)
        reason = f"create attempt {n}: retCode {code} {msg}".strip()
        if outcome is Outcome.AMBIGUOUS and n == 1:
            found = await lookup(self, "create", order, reason)
            if found is not None:
                return recovered(found, n)
            # Definitely not at the venue: resend once, same orderLinkId.
            env = await self._resend("create", order, CREATE, body, reason)
            return await self._create_outcome(order, body, env, 2)
        if outcome in (Outcome.AMBIGUOUS, Outcome.DUPLICATE):
            found = await lookup(self, "create", order, reason)
            if found is None:
                raise unknown("create", order, f"{reason}; not found by orderLinkId")
            return recovered(found, n)
        if code == RATE_LIMIT_CODE:  # refused by the quota: certainly not placed
            raise RateLimited(CREATE, None, None)
        raise rejection(code, msg, context=f"create {order.client_order_id}")

    # -- amend ------------------------------------------------------------------------------

    async def amend(self, amend: AmendOrder) -> OrderAck:
        """Change price and/or qty (rounded to the instrument); see the module docstring."""
        rules = await self.rules(amend.category, amend.symbol)
        body = amend_body(amend, *normalize_amend(rules, amend))
        return await self._amend_outcome(amend, body, await self._send(AMEND, body), 1)

    async def _amend_outcome(
        self, amend: AmendOrder, body: Body, env: Envelope, n: int
    ) -> OrderAck:
        code, msg = env.ret_code, env.ret_msg
        outcome = classify(code)
        if outcome is Outcome.OK:
            return _ack(amend, env.result, n)
        context = f"amend {amend.ident}"
        reason = f"amend attempt {n}: retCode {code} {msg}".strip()
        if outcome is Outcome.NOT_FOUND:
            found = await lookup(self, "amend", amend, reason)
            if found is not None and not found.status.is_open:
                raise OrderClosed(code, msg, context=context, order=found)
            raise OrderNotFound(code, msg, context=context, order=found)
        if outcome is not Outcome.AMBIGUOUS:
            raise rejection(code, msg, context=context)
        found = await lookup(self, "amend", amend, reason)
        if found is None:
            raise OrderNotFound(
                _NOT_FOUND, f"{reason}; the venue does not know it", context=context
            )
        if _amended(found, body):
            return recovered(found, n)
        if not found.status.is_open:
            raise OrderClosed(
                code, f"{reason}; order is {found.status}", context=context, order=found
            )
        if n > 1:
            raise unknown("amend", amend, f"{reason}; the order is open without the new values")
        env = await self._resend("amend", amend, AMEND, body, reason)
        return await self._amend_outcome(amend, body, env, 2)

    # -- cancel -----------------------------------------------------------------------------

    async def cancel(self, cancel: CancelOrder) -> OrderAck:
        """Cancel one order. Already filled / cancelled returns its final snapshot."""
        body = cancel_body(cancel)
        return await self._cancel_outcome(cancel, body, await self._send(CANCEL, body), 1)

    async def _cancel_outcome(
        self, cancel: CancelOrder, body: Body, env: Envelope, n: int
    ) -> OrderAck:
        code, msg = env.ret_code, env.ret_msg
        outcome = classify(code)
        if outcome is Outcome.OK:
            return _ack(cancel, env.result, n)
        context = f"cancel {cancel.ident}"
        if outcome not in (Outcome.NOT_FOUND, Outcome.AMBIGUOUS):
            raise rejection(code, msg, context=context)
        reason = f"cancel attempt {n}: retCode {code} {msg}".strip()
        found = await lookup(self, "cancel", cancel, reason)
        if found is None:
            not_found = code if outcome is Outcome.NOT_FOUND else _NOT_FOUND
            raise OrderNotFound(not_found, f"{reason}; the venue does not know it", context=context)
        if not found.status.is_open:
            return recovered(found, n)
        if n > 1:
            raise unknown("cancel", cancel, f"{reason}; the order is still open")
        env = await self._resend("cancel", cancel, CANCEL, body, reason)
        return await self._cancel_outcome(cancel, body, env, 2)

    # -- batches --------------------------------------------------------------------------

    async def place_batch(self, orders: Sequence[PlaceOrder]) -> list[BatchItemResult]:
        """Place many orders: chunks of 20 (linear) / 10 (spot), one result per order in
        input order. Invalid orders are not sent; each item follows the single-order policy."""
        return await batch.place_batch(self, orders)

    async def amend_batch(self, amends: Sequence[AmendOrder]) -> list[BatchItemResult]:
        """Amend many orders; one result per amend, in input order."""
        return await batch.amend_batch(self, amends)

    async def cancel_batch(self, cancels: Sequence[CancelOrder]) -> list[BatchItemResult]:
        """Cancel many orders; one result per cancel, in input order."""
        return await batch.cancel_batch(self, cancels)

    async def cancel_all(
        self, category: Category, symbol: str | None = None, settle_coin: str | None = None
    ) -> list[OrderAck]:
        """Cancel every open order of a symbol (else of a settle coin on linear; all on spot).

        Idempotent, so an ambiguous first attempt is simply resent once. The venue names
        only the ids of what it cancelled: an ack's `symbol` is "" unless `symbol` was given.
        """
        return await batch.cancel_all(self, category, symbol, settle_coin)

    async def set_dcp_window(self, seconds: int, product: str = "DERIVATIVES") -> None:
        """Arm the venue's dead man's switch window (3-300 s); needs a `dcp.*` subscription."""
        await batch.set_dcp_window(self, seconds, product)


if TYPE_CHECKING:
    _conforms: VenuePort = BybitVenue()
