"""Placing orders: validate, then write the Pending record and its `PlaceOrder` in one step.

`OrderStore.create_and_send` writes the record, with the terms the client sent (`terms`),
if its clientOrderId is new and, only then, appends the command to `orders.requests`,
atomically per order: a record never exists without its command, and a clientOrderId is
never taken without its record. A client retrying a POST finds the record its first
attempt wrote, gets it back with `created: false` and its first outcome and reason (read
from the record), and nothing is sent again, so a retry never places twice. The same
clientOrderId with other terms writes nothing either and is refused with 409 naming the
terms that differ; the other orders of its batch were placed by then, and the 409 says so.

If Redis fails mid-call, some orders of a batch may have been written (each with its
command) and some not; the client gets a 503 saying so, and a retry with the same
clientOrderIds completes exactly the ones that are missing (one not written is not taken:
any terms place it).
"""

from __future__ import annotations

import logging
from collections import Counter
from collections.abc import Sequence

from redis.exceptions import RedisError

from libs.common import topology
from libs.common.domain.errors import UnknownVenue
from libs.common.domain.ids import AUTO_VENUE, ClientOrderId, new_client_order_id
from libs.common.domain.orders import UNACKNOWLEDGED_STATUSES, Order, OrderStatus
from libs.common.messages import Envelope, PlaceOrder
from services.gateway import terms
from services.gateway.context import Gateway
from services.gateway.errors import Invalid, Unavailable
from services.gateway.schemas import OrderBody, OrderView, Outcome, PlaceResult
from services.gateway.waiters import Resolution, wait_all

log = logging.getLogger(__name__)


async def place(
    gateway: Gateway, bodies: Sequence[OrderBody], wait_ms: int | None
) -> list[PlaceResult]:
    """Place `bodies` (one pipeline of records and commands); wait up to `wait_ms` for
    outcomes if set. A clientOrderId already placed with other terms is a 409 (`terms`):
    nothing is placed for it, the others of a batch are."""
    return await place_commands(gateway, _commands(gateway, bodies), wait_ms)


async def place_commands(
    gateway: Gateway, commands: list[PlaceOrder], wait_ms: int | None
) -> list[PlaceResult]:
    """Place validated `commands` as `place` does (their accounts and venues configured)."""
    now_ns = gateway.clock_ns()
    ids = [c.client_order_id for c in commands]
    accounts = {c.client_order_id: c.account for c in commands}
    with gateway.waiters.expect(ids if wait_ms else (), accounts) as futures:
        stored = await _create_and_send(gateway, commands, now_ns)
        if clashes := terms.clashes(commands, stored):
            placed = [o.client_order_id for o, created in stored if created]
            raise terms.taken_with_other_terms(clashes, placed=placed)
        # a retry of an order still awaiting its outcome waits for it too
        waiting = [o.client_order_id for o, _ in stored if o.status in UNACKNOWLEDGED_STATUSES]
        resolutions = {}
        if wait_ms and waiting:
            waited = {cid: futures[cid] for cid in waiting}
            resolutions = await wait_all(waited, wait_ms / 1000)
    if resolutions:  # the outcome moved the records on: read them again
        fresh = [await gateway.book(o.account).orders.get(o.client_order_id) for o, _ in stored]
        stored = [(f or s, new) for f, (s, new) in zip(fresh, stored, strict=True)]
    return [_result(order, new, resolutions.get(order.client_order_id)) for order, new in stored]


def _commands(gateway: Gateway, bodies: Sequence[OrderBody]) -> list[PlaceOrder]:
    venues = gateway.settings.venues
    for body in bodies:  # an account or venue not configured: 422 before anything is written
        gateway.book(body.account)
        if body.venue == AUTO_VENUE:
            raise Invalid("venue auto routes one order at a time: send it alone to POST /v1/orders")
        if body.venue not in venues:
            raise Invalid(str(UnknownVenue(body.venue, venues)))
    prefix = gateway.settings.client_order_id_prefix
    ids: list[ClientOrderId] = [b.client_order_id or new_client_order_id(prefix) for b in bodies]
    repeated = sorted(cid for cid, n in Counter(ids).items() if n > 1)
    if repeated:
        raise Invalid(
            f"clientOrderId {', '.join(repeated)} appears more than once in the batch: "
            "expected one order per clientOrderId"
        )
    return [body.to_command(cid) for body, cid in zip(bodies, ids, strict=True)]


async def _create_and_send(
    gateway: Gateway, commands: list[PlaceOrder], now_ns: int
) -> list[tuple[Order, bool]]:
    """Write each record with its command; a Redis failure is a 503 that says what to do.
    An order placed alone is logged with its command's correlation id (`[cid=...]`)."""
    envelopes = [Envelope.wrap(c) for c in commands]
    items = [(c.to_order(now_ns), e.to_json()) for c, e in zip(commands, envelopes, strict=True)]
    alone = {"cid": envelopes[0].correlation_id} if len(envelopes) == 1 else None
    try:
        results = await _create_per_account(gateway, items)
    except RedisError as error:
        ids = ", ".join(c.client_order_id for c in commands)
        log.error("orders %s: record and command not confirmed: %r", ids, error, extra=alone)
        raise Unavailable(
            f"order(s) {ids}: Redis failed while recording them ({type(error).__name__}); "
            "each was either recorded with its command or not at all. Retry with the same "
            "clientOrderIds: a retry never places twice."
        ) from error
    stored = [r for r in results if not isinstance(r, Exception)]
    if len(stored) == len(commands):
        if alone is not None and stored[0][1]:
            command = commands[0]
            log.debug(
                "order %s: place sent (%s %s %s)",
                command.client_order_id,
                command.symbol,
                command.side,
                command.qty,
                extra=alone,
            )
        return stored
    pairs = list(zip(commands, results, strict=True))
    failed = [c.client_order_id for c, r in pairs if isinstance(r, Exception)]
    placed = [c.client_order_id for c, r in pairs if not isinstance(r, Exception) and r[1]]
    log.error(
        "orders %s not recorded: %s",
        failed,
        [r for r in results if isinstance(r, Exception)],
        extra=alone,
    )
    said = f" (order(s) {', '.join(placed)} were placed)" if placed else ""
    raise Unavailable(
        f"could not record order(s) {', '.join(failed)}: nothing was written or sent for "
        f"them; retry with the same clientOrderId{said}"
    )


async def _create_per_account(
    gateway: Gateway, items: list[tuple[Order, bytes]]
) -> list[tuple[Order, bool] | Exception]:
    """`create_and_send` in each account's store (one call for a batch of one account);
    the results in the order of `items`."""
    accounts = {order.account for order, _ in items}
    if len(accounts) == 1:
        store = gateway.book(accounts.pop()).orders
        return await store.create_and_send(items, topology.ORDERS_REQUESTS)
    results: list[tuple[Order, bool] | Exception | None] = [None] * len(items)
    for account in sorted(accounts):
        indexes = [k for k, (order, _) in enumerate(items) if order.account == account]
        store = gateway.book(account).orders
        done = await store.create_and_send([items[k] for k in indexes], topology.ORDERS_REQUESTS)
        for k, result in zip(indexes, done, strict=True):
            results[k] = result
    return [r for r in results if r is not None]


def _result(order: Order, created: bool, resolution: Resolution | None) -> PlaceResult:
    if resolution is not None:
        outcome, reason = resolution.outcome, resolution.reason
    else:
        outcome, reason = outcome_of(order)
    return PlaceResult(order=OrderView.of(order), outcome=outcome, reason=reason, created=created)


def outcome_of(order: Order) -> tuple[Outcome, str | None]:
    """The first outcome a stored order records, and why (a repeated POST answers it): a
    Rejected order risk never admitted (no risk price) was denied by risk, one it admitted
    was rejected by the router or the venue; the record keeps the reason of either."""
    if order.status in UNACKNOWLEDGED_STATUSES:
        return Outcome.PENDING, None
    if order.status is OrderStatus.REJECTED:
        denied = order.risk_price is None
        return (Outcome.DENIED if denied else Outcome.REJECTED), order.reason or None
    return Outcome.ACCEPTED, None
