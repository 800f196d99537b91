"""Bulk calls: batch create / amend / cancel, and cancel-all.

`POST /fapi/v1/batchOrders` takes 5 orders and `DELETE /fapi/v1/batchOrders` 10 ids of
one symbol; both answer a list in request order, each item an order object or
`{"code","msg"}`. Each item's code goes through the single-call outcome policy
(`BinanceVenue._*_outcome`): an ambiguous item, or every item of a chunk whose request
was ambiguous, is looked up and resent alone at most once. A chunk refused before the
venue looked at it (rate limit, IP ban, auth) yields `not_sent` items; the other chunks
are still attempted. Binance has no amend batch worth its limits: amends go one PUT each.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Sequence
from typing import TYPE_CHECKING, Any

from libs.common.domain.enums import Category
from libs.common.venue.barrier import SendRefused
from libs.common.venue.batch_results import Results, filled, item_ack, item_error
from libs.common.venue.binance import wire
from libs.common.venue.binance.answer import Answer
from libs.common.venue.binance.errors import classify, rejection
from libs.common.venue.errors import (
    InvalidOrderRequest,
    Outcome,
    OutcomeUnknown,
    RateLimited,
    VenueError,
    VenueRejected,
)
from libs.common.venue.models import (
    AmendOrder,
    BatchErrorKind,
    BatchItemResult,
    CancelOrder,
    OrderAck,
    PlaceOrder,
)
from libs.common.venue.outcomes import Req
from libs.common.venue.wire import chunks, normalize_place

if TYPE_CHECKING:
    from libs.common.venue.binance.venue import BinanceVenue

log = logging.getLogger(__name__)


async def _settle(req: Req, outcome: Awaitable[OrderAck]) -> BatchItemResult:
    try:
        ack = await outcome
    except InvalidOrderRequest as exc:
        return item_error(req, BatchErrorKind.INVALID, exc)
    except SendRefused as exc:  # a closed barrier on a resend: frozen, never sent
        return item_error(req, BatchErrorKind.REFUSED, exc)
    except RateLimited as exc:  # refused by the quota: certainly not placed
        return item_error(req, BatchErrorKind.NOT_SENT, exc)
    except VenueRejected as exc:
        return item_error(req, BatchErrorKind.REJECTED, exc)
    except VenueError as exc:  # OutcomeUnknown, or anything that leaves it open
        kind = BatchErrorKind.UNKNOWN
        if not getattr(exc, "sent", True):  # the venue said it failed: safe to send again
            kind = BatchErrorKind.NOT_SENT
        return item_error(req, kind, exc)
    return item_ack(req, ack)


async def _send_chunk(
    venue: BinanceVenue, method: str, params: dict[str, Any], reqs: Sequence[Req]
) -> Answer | list[BatchItemResult]:
    """The chunk's answer, or every item's error when the venue did not take it."""
    try:
        answer = await venue._send(method, wire.BATCH_ORDERS, params)
    except SendRefused as exc:  # a closed barrier: frozen, never sent
        return [item_error(r, BatchErrorKind.REFUSED, exc) for r in reqs]
    except VenueError as exc:  # refused before the venue acted
        return [item_error(r, BatchErrorKind.NOT_SENT, exc) for r in reqs]
    top = classify(answer.code)
    if top not in (Outcome.OK, Outcome.AMBIGUOUS):
        refused = rejection(answer.code, answer.msg, context=f"{method} {wire.BATCH_ORDERS}")
        return [item_error(r, BatchErrorKind.REJECTED, refused) for r in reqs]
    return answer


def _item(k: int, answer: Answer) -> Answer:
    """Item k's own answer; a missing item (or an ambiguous chunk) is an unknown outcome."""
    if not answer.ok:
        return answer
    rows = answer.rows
    if k < len(rows) and isinstance(rows[k], dict):
        return Answer.item(rows[k])
    return Answer.unknown("batch answer has no result for this item")


# -- create ---------------------------------------------------------------------------------


async def place_batch(venue: BinanceVenue, orders: Sequence[PlaceOrder]) -> list[BatchItemResult]:
    results: Results = [None] * len(orders)
    items: list[tuple[int, PlaceOrder, dict[str, Any]]] = []
    for i, order in enumerate(orders):
        try:
            wire.check_linear(order.category, f"create {order.client_order_id}")
            rules = await venue.rules(order.category, order.symbol)
            items.append((i, order, wire.place_params(order, *normalize_place(rules, order))))
        except InvalidOrderRequest as exc:
            results[i] = item_error(order, BatchErrorKind.INVALID, exc)
    for symbol in sorted({order.symbol for _, order, _ in items}):
        await venue._arm_dcp_for(symbol)
    await asyncio.gather(
        *(_place_chunk(venue, chunk, results) for chunk in chunks(items, wire.PLACE_BATCH_LIMIT))
    )
    return filled(results)


async def _place_chunk(
    venue: BinanceVenue,
    chunk: Sequence[tuple[int, PlaceOrder, dict[str, Any]]],
    results: Results,
) -> None:
    sent_ms = venue.rest.clock.now_ms()
    reqs = [order for _, order, _ in chunk]
    answer = await _send_chunk(venue, "POST", {"batchOrders": [p for _, _, p in chunk]}, reqs)
    if isinstance(answer, list):
        for (i, _, _), error in zip(chunk, answer, strict=True):
            results[i] = error
        return
    settled = await asyncio.gather(
        *(
            _settle(order, venue._create_outcome(order, params, _item(k, answer), 1, sent_ms))
            for k, (_, order, params) in enumerate(chunk)
        )
    )
    for (i, _, _), result in zip(chunk, settled, strict=True):
        results[i] = result


# -- amend and cancel -------------------------------------------------------------------------


async def amend_batch(venue: BinanceVenue, amends: Sequence[AmendOrder]) -> list[BatchItemResult]:
    return list(await asyncio.gather(*(_settle(a, venue.amend(a)) for a in amends)))


async def cancel_batch(
    venue: BinanceVenue, cancels: Sequence[CancelOrder]
) -> list[BatchItemResult]:
    results: Results = [None] * len(cancels)
    groups: dict[tuple[str, bool], list[tuple[int, CancelOrder]]] = {}
    for i, cancel in enumerate(cancels):
        try:
            wire.check_linear(cancel.category, f"cancel {cancel.ident}")
            if cancel.venue_order_id is not None:
                wire.order_id_number(cancel)
        except InvalidOrderRequest as exc:
            results[i] = item_error(cancel, BatchErrorKind.INVALID, exc)
            continue
        groups.setdefault((cancel.symbol, cancel.venue_order_id is not None), []).append(
            (i, cancel)
        )
    await asyncio.gather(
        *(
            _cancel_chunk(venue, symbol, chunk, results)
            for (symbol, _), group in groups.items()
            for chunk in chunks(group, wire.CANCEL_BATCH_LIMIT)
        )
    )
    return filled(results)


async def _cancel_chunk(
    venue: BinanceVenue,
    symbol: str,
    chunk: Sequence[tuple[int, CancelOrder]],
    results: Results,
) -> None:
    reqs = [cancel for _, cancel in chunk]
    answer = await _send_chunk(venue, "DELETE", wire.cancel_list_params(symbol, reqs), reqs)
    if isinstance(answer, list):
        for (i, _), error in zip(chunk, answer, strict=True):
            results[i] = error
        return
    settled = await asyncio.gather(
        *(
            _settle(
                cancel,
                venue._cancel_outcome(cancel, wire.cancel_params(cancel), _item(k, answer), 1),
            )
            for k, (_, cancel) in enumerate(chunk)
        )
    )
    for (i, _), result in zip(chunk, settled, strict=True):
        results[i] = result


# -- cancel-all ---------------------------------------------------------------------------------


async def cancel_all(venue: BinanceVenue, category: Category, symbol: str | None) -> list[OrderAck]:
    wire.check_linear(category, f"cancel-all {symbol or '(every symbol)'}")
    listed = await venue.open_orders(category, symbol)
    symbols = [symbol] if symbol else sorted({o.symbol for o in listed} | venue.tracked_symbols)
    await asyncio.gather(*(_cancel_symbol(venue, s) for s in symbols))
    return [
        OrderAck(
            category=category,
            symbol=o.symbol,
            client_order_id=o.client_order_id,
            venue_order_id=o.venue_order_id,
        )
        for o in listed
    ]


async def _cancel_symbol(venue: BinanceVenue, symbol: str) -> None:
    """`DELETE /fapi/v1/allOpenOrders`; idempotent, so an ambiguous answer is resent once."""
    reason = ""
    for _ in range(2):
        answer = await venue._send("DELETE", wire.ALL_OPEN_ORDERS, {"symbol": symbol})
        if classify(answer.code) is not Outcome.AMBIGUOUS:
            if not answer.ok:
                raise rejection(answer.code, answer.msg, context=f"cancel-all {symbol}")
            return
        reason = f"code {answer.code} {answer.msg}"
    raise OutcomeUnknown("cancel-all", f"{symbol}: both attempts ambiguous: {reason}")
