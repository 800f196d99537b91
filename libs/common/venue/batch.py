"""Bulk calls: batch create / amend / cancel, cancel-all and the DCP window.

Bybit answers a batch with two parallel lists, `result.list[i]` and `retExtInfo.list[i]`
(`{code, msg}`), and retCode 0 even when items fail. Each item's code goes through the
same outcome policy as a single call (`BybitVenue._*_outcome`): an ambiguous item, or every
item of a chunk whose request was ambiguous, is looked up by orderLinkId and resent alone
at most once. A chunk refused before the venue looked at it (rate limit, IP ban, auth)
yields `not_sent` items and the remaining chunks are still attempted.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable, Sequence
from typing import TYPE_CHECKING, Any, TypeVar

from libs.common.domain.enums import Category
from libs.common.domain.ids import VenueOrderId
from libs.common.venue.barrier import SendRefused
from libs.common.venue.batch_results import Results, filled, item_ack, item_error
from libs.common.venue.errors import (
    InvalidOrderRequest,
    Outcome,
    OutcomeUnknown,
    RateLimited,
    VenueError,
    VenueRejected,
    classify,
    rejection,
)
from libs.common.venue.models import (
    AmendOrder,
    BatchErrorKind,
    BatchItemResult,
    CancelOrder,
    OrderAck,
    PlaceOrder,
)
from libs.common.venue.rest import Envelope
from libs.common.venue.wire import (
    BATCH_LIMITS,
    amend_item,
    cancel_item,
    chunks,
    link_id,
    normalize_amend,
    normalize_place,
    place_item,
)

if TYPE_CHECKING:
    from libs.common.venue.bybit import BybitVenue

R = TypeVar("R", PlaceOrder, AmendOrder, CancelOrder)
Item = tuple[int, R, dict[str, Any]]
OnItem = Callable[[R, dict[str, Any], Envelope, int], Awaitable[OrderAck]]

CREATE_BATCH = "/v5/order/create-batch"
AMEND_BATCH = "/v5/order/amend-batch"
CANCEL_BATCH = "/v5/order/cancel-batch"
CANCEL_ALL = "/v5/order/cancel-all"
DCP = "/v5/order/disconnected-cancel-all"
CANCEL_ALL_CAP = 500
"""Most orders one linear cancel-all cancels: as many acks means there may be more."""


async def _settle(req: R, outcome: Awaitable[OrderAck]) -> BatchItemResult:
    try:
        ack = await outcome
    except InvalidOrderRequest as exc:
        return item_error(req, BatchErrorKind.INVALID, exc)
    except RateLimited as exc:  # 10006 on this item: certainly not placed, send it again
        return item_error(req, BatchErrorKind.NOT_SENT, exc)
    except VenueRejected as exc:
        return item_error(req, BatchErrorKind.REJECTED, exc)
    except (OutcomeUnknown, VenueError) as exc:
        return item_error(req, BatchErrorKind.UNKNOWN, exc)
    return item_ack(req, ack)


def _item_envelope(k: int, env: Envelope) -> Envelope:
    """Item k's own answer; a missing item counts as an unknown outcome."""
    rows = env.result.get("list") or []
    infos = env.ext_info.get("list") or []
    row = rows[k] if k < len(rows) and isinstance(rows[k], dict) else {}
    info = infos[k] if k < len(infos) and isinstance(infos[k], dict) else None
    if info is not None:
        return Envelope(int(info.get("code", 0)), str(info.get("msg", "")), row)
    if row.get("orderId"):
        return Envelope(0, "OK", row)
    return Envelope(10000, "batch answer has no result for this item", row)


async def _run(
    venue: BybitVenue,
    path: str,
    items: Sequence[Item[R]],
    on_item: OnItem[R],
    results: Results,
) -> None:
    """Send the items in chunks of the venue's batch limit, every chunk at once."""
    by_category: dict[Category, list[Item[R]]] = {}
    for item in items:
        by_category.setdefault(item[1].category, []).append(item)
    await asyncio.gather(
        *(
            _run_chunk(venue, path, category, chunk, on_item, results)
            for category, group in by_category.items()
            for chunk in chunks(group, BATCH_LIMITS[category])
        )
    )


async def _run_chunk(
    venue: BybitVenue,
    path: str,
    category: Category,
    chunk: Sequence[Item[R]],
    on_item: OnItem[R],
    results: Results,
) -> None:
    body = {"category": category.value, "request": [b for _, _, b in chunk]}
    try:
        env = await venue._send(path, body)
    except SendRefused as exc:  # a closed barrier: frozen, never sent
        for i, req, _ in chunk:
            results[i] = item_error(req, BatchErrorKind.REFUSED, exc)
        return
    except VenueError as exc:  # refused before the venue acted
        for i, req, _ in chunk:
            results[i] = item_error(req, BatchErrorKind.NOT_SENT, exc)
        return
    top = classify(env.ret_code)
    if top not in (Outcome.OK, Outcome.AMBIGUOUS):
        refused = VenueRejected(env.ret_code, env.ret_msg, context=path)
        for i, req, _ in chunk:
            results[i] = item_error(req, BatchErrorKind.REJECTED, refused)
        return
    settled = await asyncio.gather(
        *(
            _settle(
                req,
                on_item(
                    req,
                    {"category": category.value, **b},
                    _item_envelope(k, env) if top is Outcome.OK else env,
                    1,
                ),
            )
            for k, (_, req, b) in enumerate(chunk)
        )
    )
    for (i, _, _), result in zip(chunk, settled, strict=True):
        results[i] = result


async def place_batch(venue: BybitVenue, orders: Sequence[PlaceOrder]) -> list[BatchItemResult]:
    results: Results = [None] * len(orders)
    items: list[Item[PlaceOrder]] = []
    for i, order in enumerate(orders):
        rules = await venue.rules(order.category, order.symbol)
        try:
            items.append((i, order, place_item(order, *normalize_place(rules, order))))
        except InvalidOrderRequest as exc:
            results[i] = item_error(order, BatchErrorKind.INVALID, exc)
    await _run(venue, CREATE_BATCH, items, venue._create_outcome, results)
    return filled(results)


async def amend_batch(venue: BybitVenue, amends: Sequence[AmendOrder]) -> list[BatchItemResult]:
    results: Results = [None] * len(amends)
    items: list[Item[AmendOrder]] = []
    for i, amend in enumerate(amends):
        rules = await venue.rules(amend.category, amend.symbol)
        try:
            items.append((i, amend, amend_item(amend, *normalize_amend(rules, amend))))
        except InvalidOrderRequest as exc:
            results[i] = item_error(amend, BatchErrorKind.INVALID, exc)
    await _run(venue, AMEND_BATCH, items, venue._amend_outcome, results)
    return filled(results)


async def cancel_batch(venue: BybitVenue, cancels: Sequence[CancelOrder]) -> list[BatchItemResult]:
    results: Results = [None] * len(cancels)
    items = [(i, cancel, cancel_item(cancel)) for i, cancel in enumerate(cancels)]
    await _run(venue, CANCEL_BATCH, items, venue._cancel_outcome, results)
    return filled(results)


async def cancel_all(
    venue: BybitVenue, category: Category, symbol: str | None, settle_coin: str | None
) -> list[OrderAck]:
    body: dict[str, Any] = {"category": category.value}
    if symbol is not None:
        body["symbol"] = symbol
    elif category is Category.LINEAR:
        body["settleCoin"] = settle_coin or venue.config.settle_coin
    reason = ""
    for _ in range(2):
        env = await venue._send(CANCEL_ALL, body)
        if classify(env.ret_code) is not Outcome.AMBIGUOUS:
            if env.ret_code != 0:
                raise rejection(env.ret_code, env.ret_msg, context=f"cancel-all {body}")
            return [
                OrderAck(
                    category=category,
                    symbol=str(item.get("symbol") or symbol or ""),
                    client_order_id=link_id(item.get("orderLinkId")),
                    venue_order_id=VenueOrderId(str(item["orderId"])),
                )
                for item in env.result.get("list") or []
            ]
        reason = f"retCode {env.ret_code} {env.ret_msg}"
    raise OutcomeUnknown("cancel-all", f"both attempts ambiguous: {reason}")


async def set_dcp_window(venue: BybitVenue, seconds: int, product: str) -> None:
    if not 3 <= seconds <= 300:
        raise ValueError(f"DCP window {seconds} s is invalid: expected 3-300 seconds")
    body = {"product": product, "timeWindow": seconds}
    env = await venue._send(DCP, body)
    if classify(env.ret_code) is Outcome.AMBIGUOUS:  # idempotent: resend once
        env = await venue._send(DCP, body)
    if env.ret_code != 0:
        raise rejection(env.ret_code, env.ret_msg, context=f"set DCP window {product}")
