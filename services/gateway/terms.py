"""One clientOrderId, one set of terms: a retry is the same order, other terms are a 409.

The order record keeps the terms it was placed with: its symbol, side, orderType,
timeInForce and reduceOnly never change, and `requested_qty` / `requested_price` keep the
qty and price as the client sent them (the record's own qty and price are rounded by the
router to the instrument's steps and changed by an amend). They are written with the
record and its command in one atomic step (`OrderStore.create_and_send`), so a
clientOrderId is taken exactly when its order exists: no failure can leave it taken by an
order that was never placed.

A POST whose clientOrderId exists with the same terms is a retry: it gets the order back
and places nothing. One with other terms is refused with 409 naming the terms that differ;
nothing is written for it. Terms are compared as values ("0.010" is "0.01"). A record
written before the requested terms were kept (or adopted from the venue) is compared
without its qty and price.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from decimal import Decimal
from typing import Any

from libs.common.domain.orders import Order
from libs.common.messages import PlaceOrder
from services.gateway.errors import Conflict

AMENDABLE = frozenset({"qty", "price"})
"""Terms a record may hold changed (rounded by the router, amended): a record that does not
keep them as requested cannot tell them."""

Terms = Mapping[str, str | None]
Clash = tuple[str, Terms, Terms]
"""(clientOrderId, the terms it is taken with, the terms requested)."""


def terms_of(order: PlaceOrder | Order) -> dict[str, str | None]:
    """The terms of an order as it stands, by their `/v1` names, numbers in a canonical form."""
    return {
        "symbol": order.symbol,
        "side": order.side.value,
        "orderType": order.order_type.value,
        "qty": _number(order.qty),
        "price": _optional_number(order.price),
        "timeInForce": order.time_in_force.value,
        "reduceOnly": str(order.reduce_only).lower(),
        "venue": order.venue,
    }


def placed_terms(order: Order) -> dict[str, str | None]:
    """The terms `order` was placed with; without qty and price when the record does not
    keep them as requested (written before they were kept, or adopted from the venue)."""
    terms = terms_of(order)
    if order.requested_qty is None:
        return {name: value for name, value in terms.items() if name not in AMENDABLE}
    return terms | {
        "qty": _number(order.requested_qty),
        "price": _optional_number(order.requested_price),
    }


def differences(taken: Terms, requested: Terms) -> list[str]:
    """The names of the terms that differ, in `terms_of`'s order; a term `taken` does not
    know is not compared."""
    return [name for name in requested if name in taken and taken[name] != requested[name]]


def clashes(commands: Sequence[PlaceOrder], stored: Sequence[tuple[Order, bool]]) -> list[Clash]:
    """The orders of `commands` whose clientOrderId was already taken (not `created` by this
    call, per `OrderStore.create_and_send`) by an order placed with other terms."""
    found: list[Clash] = []
    for command, (order, created) in zip(commands, stored, strict=True):
        if created:
            continue
        taken, requested = placed_terms(order), terms_of(command)
        if differences(taken, requested):
            found.append((command.client_order_id, taken, requested))
    return found


def taken_with_other_terms(clashes: Sequence[Clash], *, placed: Sequence[str] = ()) -> Conflict:
    """409: each (clientOrderId, terms it is taken with, terms requested), naming the terms
    that differ; `placed` are the orders of the same batch this request did place."""
    details: list[dict[str, Any]] = []
    parts = []
    for cid, taken, requested in clashes:
        names = differences(taken, requested)
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


def _optional_number(value: Decimal | None) -> str | None:
    return None if value is None else _number(value)
