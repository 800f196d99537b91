"""One clientOrderId, one set of terms: a retry is the same order, other terms are a 409.

The gateway keeps the terms each clientOrderId was first placed with (`RedisFirstValueStore`,
namespace `order-terms`, for `TERMS_TTL_S`), in the step before the record is written. A
POST whose clientOrderId is kept with the same terms is a retry: it gets the order back and
places nothing. One with other terms (symbol, side, orderType, qty, price, timeInForce,
reduceOnly) is refused with 409 naming the terms that differ, before anything is written.

The record alone cannot tell: the router rounds qty and price to the instrument's steps and
an amend changes them, so the record's qty and price are not what the client sent. Terms
are compared as values ("0.010" is "0.01"). When the kept terms have expired (or the order
was placed before they were kept) the record stands in for them, without its qty and price.
"""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from decimal import Decimal
from typing import Any

from libs.common.domain.orders import Order
from libs.common.messages import PlaceOrder
from libs.common.stores.idempotency import FirstValueStore
from libs.common.stores.orders_redis import DEFAULT_TERMINAL_RETENTION_S
from services.gateway.errors import Conflict

TERMS_NAMESPACE = "order-terms"
TERMS_TTL_S = float(DEFAULT_TERMINAL_RETENTION_S)
"""How long the terms of a clientOrderId are kept (then only the record can be compared):
as long as the order store keeps a terminal record."""
AMENDABLE = frozenset({"qty", "price"})
"""Terms the record may hold changed (rounded by the router, amended): not compared."""

Terms = Mapping[str, str | None]


def terms_of(order: PlaceOrder | Order) -> dict[str, str | None]:
    """The terms of an order, by their `/v1` names, numbers in a canonical form."""
    return {
        "symbol": order.symbol,
        "side": order.side.value,
        "orderType": order.order_type.value,
        "qty": _number(order.qty),
        "price": None if order.price is None else _number(order.price),
        "timeInForce": order.time_in_force.value,
        "reduceOnly": str(order.reduce_only).lower(),
    }


def differences(
    taken: Terms, requested: Terms, *, ignore: frozenset[str] = frozenset()
) -> list[str]:
    """The names of the terms that differ, in `terms_of`'s order."""
    return [name for name in requested if name not in ignore and taken.get(name) != requested[name]]


async def keep(store: FirstValueStore, commands: Sequence[PlaceOrder]) -> list[bool]:
    """Keep each command's terms under its clientOrderId; True where kept by this call.
    Raises `Conflict` (nothing kept by this call is left behind) when an id is kept with
    other terms."""
    requested = [terms_of(command) for command in commands]
    items = [(c.client_order_id, _encode(t)) for c, t in zip(commands, requested, strict=True)]
    held = await store.keep_first(TERMS_NAMESPACE, items, TERMS_TTL_S)
    clashes = [
        (command.client_order_id, json.loads(value), terms)
        for command, terms, value in zip(commands, requested, held, strict=True)
        if value is not None and differences(json.loads(value), terms)
    ]
    kept_now = [value is None for value in held]
    if clashes:
        await store.forget_many(
            TERMS_NAMESPACE, [cid for (cid, _), new in zip(items, kept_now, strict=True) if new]
        )
        raise taken_with_other_terms(clashes)
    return kept_now


def taken_with_other_terms(
    clashes: Sequence[tuple[str, Terms, Terms]],
    *,
    placed: Sequence[str] = (),
    ignore: frozenset[str] = frozenset(),
) -> Conflict:
    """409: each (clientOrderId, terms it is taken with, terms requested), naming the terms
    that differ (but those in `ignore`)."""
    details: list[dict[str, Any]] = []
    parts = []
    for cid, taken, requested in clashes:
        names = differences(taken, requested, ignore=ignore)
        details += [
            {"clientOrderId": cid, "field": n, "taken": taken.get(n), "requested": requested[n]}
            for n in names
        ]
        said = ", ".join(f"{n} {taken.get(n)} (this request: {requested[n]})" for n in names)
        parts.append(f"clientOrderId {cid} is taken by an order with other terms: {said}")
    also = f"; order(s) {', '.join(placed)} of this batch were placed" if placed else ""
    return Conflict(
        f"{'; '.join(parts)}. Nothing was placed for it: a clientOrderId names one order, "
        f"retry with its original terms or send a new clientOrderId{also}",
        details=details,
    )


def _number(value: Decimal) -> str:
    return format(value.normalize(), "f")


def _encode(terms: Terms) -> str:
    return json.dumps(terms, separators=(",", ":"))
