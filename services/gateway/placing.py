"""Placing orders: validate, write the Pending record, then publish `PlaceOrder`.

The record is written first with `OrderStore.create`, a set-if-absent on the clientOrderId:
a client retrying a POST finds the record its first attempt wrote, gets it back with
`created: false`, and nothing is published again, so a retry can never place twice.

Publishing after the record is not one atomic step (the store's create is its own script).
If the publish fails, the record stays Pending with no command behind it and the client gets
a 503 that says so: the order's outcome is unknown to the client until reconciliation settles
the record (it never reached the venue), and a retry with the same clientOrderId is safe.
"""

from __future__ import annotations

import asyncio
import logging
from collections import Counter
from collections.abc import Sequence

from libs.common import topology
from libs.common.domain.ids import ClientOrderId, new_client_order_id
from libs.common.domain.orders import Order, OrderStatus
from libs.common.messages import Envelope, PlaceOrder
from services.gateway.context import Gateway
from services.gateway.errors import Invalid, Unavailable
from services.gateway.schemas import OrderBody, OrderView, Outcome, PlaceResult
from services.gateway.waiters import Resolution, wait_all

log = logging.getLogger(__name__)


async def place(
    gateway: Gateway, bodies: Sequence[OrderBody], wait_ms: int | None
) -> list[PlaceResult]:
    """Place `bodies` (one pipeline of commands); wait up to `wait_ms` for outcomes if set."""
    commands = _commands(gateway, bodies)
    now_ns = gateway.clock_ns()
    ids = [c.client_order_id for c in commands]
    with gateway.waiters.expect(ids if wait_ms else ()) as futures:
        stored = await _create(gateway, commands, now_ns)
        created = [c for c, (_, new) in zip(commands, stored, strict=True) if new]
        await _publish(gateway, created)
        resolutions = {}
        if wait_ms and created:
            waited = {c.client_order_id: futures[c.client_order_id] for c in created}
            resolutions = await wait_all(waited, wait_ms / 1000)
    if resolutions:  # the outcome moved the records on: read them again
        fresh = await gateway.orders.get_many(ids)
        stored = [(f or s, new) for f, (s, new) in zip(fresh, stored, strict=True)]
    return [_result(order, new, resolutions.get(order.client_order_id)) for order, new in stored]


def _commands(gateway: Gateway, bodies: Sequence[OrderBody]) -> list[PlaceOrder]:
    prefix = gateway.settings.client_order_id_prefix
    ids: list[ClientOrderId] = [b.client_order_id or new_client_order_id(prefix) for b in bodies]
    repeated = sorted(cid for cid, n in Counter(ids).items() if n > 1)
    if repeated:
        raise Invalid(
            f"clientOrderId {', '.join(repeated)} appears more than once in the batch: "
            "expected one order per clientOrderId"
        )
    return [body.to_command(cid) for body, cid in zip(bodies, ids, strict=True)]


async def _create(
    gateway: Gateway, commands: list[PlaceOrder], now_ns: int
) -> list[tuple[Order, bool]]:
    """Create every record; if some failed, still publish those created, then say so."""
    replies = await asyncio.gather(
        *(gateway.orders.create(c.to_order(now_ns)) for c in commands), return_exceptions=True
    )
    stored = [r for r in replies if not isinstance(r, BaseException)]
    if len(stored) == len(commands):
        return stored
    pairs = list(zip(commands, replies, strict=True))
    failed = [c.client_order_id for c, r in pairs if isinstance(r, BaseException)]
    created = [c for c, r in pairs if not isinstance(r, BaseException) and r[1]]
    await _publish(gateway, created)
    placed = f" (order(s) {', '.join(c.client_order_id for c in created)} were placed)"
    raise Unavailable(
        f"could not record order(s) {', '.join(failed)}: nothing was placed for them; "
        f"retry with the same clientOrderId{placed if created else ''}"
    )


async def _publish(gateway: Gateway, commands: Sequence[PlaceOrder]) -> None:
    if not commands:
        return
    try:
        await gateway.bus.publish_many(
            topology.ORDERS_REQUESTS, [Envelope.wrap(command) for command in commands]
        )
    except Exception as error:
        ids = ", ".join(c.client_order_id for c in commands)
        log.error("orders %s recorded Pending but not published: %r", ids, error)
        raise Unavailable(
            f"order(s) {ids} were recorded as Pending but the command could not be published "
            f"({type(error).__name__}); the outcome is unknown until reconciliation settles "
            "them. Check GET /v1/orders/{clientOrderId}; a retry with the same clientOrderId "
            "never places twice."
        ) from error


def _result(order: Order, created: bool, resolution: Resolution | None) -> PlaceResult:
    if resolution is not None:
        outcome, reason = resolution.outcome, resolution.reason
    else:
        outcome, reason = (Outcome.PENDING if created else _outcome_of(order.status)), None
    return PlaceResult(order=OrderView.of(order), outcome=outcome, reason=reason, created=created)


def _outcome_of(status: OrderStatus) -> Outcome:
    """What a stored order's status says about its first outcome (for a repeated POST)."""
    if status is OrderStatus.PENDING:
        return Outcome.PENDING
    if status is OrderStatus.REJECTED:
        return Outcome.REJECTED
    return Outcome.ACCEPTED
