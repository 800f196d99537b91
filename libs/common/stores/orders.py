"""The order store: order records by client order id, changed only by compare-and-set.

The client order id (Bybit `orderLinkId`) is the idempotency key end to end: `create` is a
set-if-absent, so a redelivered command finds the record the first delivery wrote. The
record keeps the terms it was requested with (`Order.requested_qty`, `requested_price`),
written with it and never changed by an update, so that a repeated id can be compared.

Every change goes through `update(id, fn)`: read the record, apply a pure domain function
(`apply_fill`, `apply_ack`, `apply_cancel`, ...) in Python, and write the result only if the
stored `Order.version` is still the one read; otherwise read again and re-apply. `fn` may
therefore run more than once and must have no side effects. A result equal to the record
read is not written (a replayed fill changes nothing, not even the version).

The store keeps two indexes in step with the records, in the same atomic write: the open
orders of each symbol (`open_orders`) and the venue order id (`find_by_venue_id`); and the
order's contribution to the exposure ledger (`libs.common.stores.exposure`).
"""

from __future__ import annotations

import asyncio
from abc import ABC, abstractmethod
from collections.abc import Callable, Mapping, Sequence
from enum import Enum
from typing import Protocol

from libs.common.domain.ids import DEFAULT_ACCOUNT, AccountId, ClientOrderId, Symbol, VenueOrderId
from libs.common.domain.orders import Order, is_open
from libs.common.stores._support import backoff
from libs.common.stores.errors import ConcurrentUpdateError, InvalidUpdate, OrderNotFound
from libs.common.stores.exposure import LedgerState
from libs.common.topology import AccountStream

UpdateFn = Callable[[Order], Order]
"""A pure function from the stored order to the next one, e.g. `partial(apply_cancel, ts_ns=t)`."""
UpdateResult = Order | Exception
"""Per item of `update_many`: the order after the item's function, or why it was not applied."""


class Announcer(Protocol):
    """What a change of a record means on the bus (see `OrderStore.update_many`)."""

    stream: AccountStream
    """Where the entries go: the stream of the record's account."""

    def __call__(self, before: Order, after: Order) -> Sequence[bytes]:
        """The entries to append when `before` is replaced by `after`."""
        ...


DEFAULT_MAX_RETRIES = 16
"""Conflicts tolerated per update. Each conflict means another writer succeeded, so with N
writers on one order at most N - 1 conflicts can happen to any of them."""


class OrderStore(Protocol):
    """Order records keyed by client order id, with open-order and venue-id indexes."""

    async def create(self, order: Order) -> tuple[Order, bool]:
        """Store `order` unless its client order id exists; return (stored record, created)."""
        ...

    async def create_and_send(
        self, items: Sequence[tuple[Order, bytes]], stream: AccountStream
    ) -> list[tuple[Order, bool] | Exception]:
        """For each (order, entry): create the record unless its id exists and, only if this
        call created it, append `entry` to its account's `stream`, in one atomic step per
        order (pipelined for the batch); return (stored record, created) per item, or the
        error of an item that wrote nothing. A record is never written without its command,
        nor a command sent twice for one id. Raises if the store could not be reached at all."""
        ...

    async def get(self, client_order_id: ClientOrderId) -> Order | None:
        """The order, or None if the store has no such id."""
        ...

    async def get_many(self, client_order_ids: Sequence[ClientOrderId]) -> list[Order | None]:
        """The orders in the order asked, None for unknown ids; one round trip."""
        ...

    async def update(
        self, client_order_id: ClientOrderId, fn: UpdateFn, *, max_retries: int = ...
    ) -> Order:
        """Apply `fn` by compare-and-set and return the stored result.

        Raises OrderNotFound, ConcurrentUpdateError after `max_retries` lost races,
        InvalidUpdate if `fn` broke the rules, or whatever `fn` raised (nothing is written).
        """
        ...

    async def update_many(
        self,
        items: Sequence[tuple[ClientOrderId, UpdateFn]],
        *,
        max_retries: int = ...,
        known: Mapping[ClientOrderId, Order] | None = None,
        announce: Announcer | None = None,
    ) -> list[UpdateResult]:
        """Apply each item's `fn` as `update` would, batched; results in item order.

        One read round trip and one write round trip per attempt; only the orders whose
        write lost a race are read and written again. Items on the same id are composed in
        item order and written once. An error (as `update` raises it) takes the place of
        its item's result and the other items still apply. `known` records (as the caller
        just read or wrote them) are not read again on the first attempt: one that has
        moved on loses its compare-and-set, and the next attempt reads it. `announce` gives
        the bus entries each write means (from the record read and the record written);
        they are appended to its stream in the same atomic step as the write, and only if
        the write wins: a transition is never written without its events, nor announced
        twice.
        """
        ...

    async def open_orders(self, symbol: Symbol) -> list[Order]:
        """The orders on `symbol` that are not terminal (Pending included), oldest first."""
        ...

    async def open_orders_of(self, symbols: Sequence[Symbol]) -> list[Order]:
        """`open_orders` of each of `symbols`, in their order: two round trips for all."""
        ...

    async def find_by_venue_id(self, venue_order_id: VenueOrderId) -> Order | None:
        """The order the venue calls `venue_order_id`, once an ack recorded that id."""
        ...

    async def order_symbols(self) -> list[Symbol]:
        """Every symbol that has, or once had, an open order, sorted: where to look for open
        orders without scanning (a symbol stays listed once seen)."""
        ...


class CasOutcome(Enum):
    """What a compare-and-set write did."""

    WRITTEN = "written"
    CONFLICT = "conflict"
    """The stored version is no longer the one read: read again."""
    MISSING = "missing"


class CasBackend(ABC):
    """The compare-and-set primitives of a store, and `update` / `update_many` built on them."""

    @abstractmethod
    async def read(self, ids: Sequence[ClientOrderId]) -> list[Order | None]:
        """The stored records of `ids`, None where absent."""

    @abstractmethod
    async def write(
        self, writes: Sequence[tuple[Order, Order]], announce: Announcer | None = None
    ) -> list[CasOutcome]:
        """Write each (read, new) pair if the stored version is still `read.version`, with
        `announce(read, new)` appended in the same step when it is written."""

    async def update(
        self,
        client_order_id: ClientOrderId,
        fn: UpdateFn,
        *,
        max_retries: int = DEFAULT_MAX_RETRIES,
    ) -> Order:
        """See `OrderStore.update`."""
        (result,) = await run_updates(self, [(client_order_id, fn)], max_retries)
        return unwrap(result)

    async def update_many(
        self,
        items: Sequence[tuple[ClientOrderId, UpdateFn]],
        *,
        max_retries: int = DEFAULT_MAX_RETRIES,
        known: Mapping[ClientOrderId, Order] | None = None,
        announce: Announcer | None = None,
    ) -> list[UpdateResult]:
        """See `OrderStore.update_many`."""
        return await run_updates(self, items, max_retries, known, announce)


async def run_updates(
    backend: CasBackend,
    items: Sequence[tuple[ClientOrderId, UpdateFn]],
    max_retries: int,
    known: Mapping[ClientOrderId, Order] | None = None,
    announce: Announcer | None = None,
) -> list[UpdateResult]:
    """The compare-and-set loop of `update_many`, shared by every OrderStore."""
    if max_retries < 0:
        raise ValueError(f"max_retries {max_retries} is invalid: expected >= 0")
    results: list[UpdateResult | None] = [None] * len(items)
    groups: dict[ClientOrderId, list[int]] = {}
    for index, (client_order_id, _) in enumerate(items):
        groups.setdefault(client_order_id, []).append(index)
    pending = list(groups)
    for attempt in range(max_retries + 1):
        if attempt:
            await backoff(attempt)
        hint = known if attempt == 0 else None
        pending = await _attempt(backend, items, groups, pending, results, hint, announce)
        if not pending:
            break
    for cid in pending:
        error = ConcurrentUpdateError(
            f"order {cid}: other writers changed it before each of {max_retries + 1} writes; "
            "gave up (raise max_retries if this contention is expected)"
        )
        _fail(results, groups[cid], error)
    assert all(result is not None for result in results), "every item has a result"
    return [result for result in results if result is not None]


async def _attempt(
    backend: CasBackend,
    items: Sequence[tuple[ClientOrderId, UpdateFn]],
    groups: dict[ClientOrderId, list[int]],
    pending: list[ClientOrderId],
    results: list[UpdateResult | None],
    known: Mapping[ClientOrderId, Order] | None,
    announce: Announcer | None,
) -> list[ClientOrderId]:
    """Read `pending` (but `known` ones), apply their items, write the changed ones; return
    those that lost."""
    writes: list[tuple[Order, Order]] = []
    given = known or {}
    unknown = [cid for cid in pending if cid not in given]
    read = dict(zip(unknown, await backend.read(unknown), strict=True)) if unknown else {}
    for cid in pending:
        order = given[cid] if cid in given else read[cid]
        if order is None:
            _fail(results, groups[cid], _not_found(cid))
        elif (new := _apply(order, [(i, items[i][1]) for i in groups[cid]], results)) != order:
            writes.append((order, new))
    lost: list[ClientOrderId] = []
    for (old, _), outcome in zip(writes, await backend.write(writes, announce), strict=True):
        cid = old.client_order_id
        if outcome is CasOutcome.CONFLICT:
            lost.append(cid)
        elif outcome is CasOutcome.MISSING:  # expired between the read and the write
            _fail(results, groups[cid], _not_found(cid))
    return lost


def unwrap(result: UpdateResult) -> Order:
    """The order of a single update's result, or raise its error."""
    if isinstance(result, Exception):
        raise result
    return result


def _apply(
    order: Order, steps: list[tuple[int, UpdateFn]], results: list[UpdateResult | None]
) -> Order:
    """Compose the steps over `order`; record each step's result (or error) at its index."""
    state = order
    for index, fn in steps:
        try:
            state = _checked(state, fn(state))
        except Exception as exc:  # as gather(return_exceptions=True): the item's own failure
            results[index] = exc
        else:
            results[index] = state
    return state


def _checked(old: Order, new: Order) -> Order:
    if new == old:
        return old
    if new.client_order_id != old.client_order_id or new.symbol != old.symbol:
        raise InvalidUpdate(
            f"order {old.client_order_id} {old.symbol}: an update returned "
            f"{new.client_order_id} {new.symbol}; the id and symbol of an order never change"
        )
    if (new.requested_qty, new.requested_price) != (old.requested_qty, old.requested_price):
        raise InvalidUpdate(
            f"order {old.client_order_id}: an update changed the requested terms "
            f"({old.requested_qty} @ {old.requested_price} -> {new.requested_qty} @ "
            f"{new.requested_price}); they are what the client placed and never change"
        )
    if new.version <= old.version:
        raise InvalidUpdate(
            f"order {old.client_order_id}: an update changed it without bumping the version "
            f"({old.version} -> {new.version}); build new orders with the domain functions"
        )
    return new


def _not_found(client_order_id: ClientOrderId) -> OrderNotFound:
    return OrderNotFound(f"order {client_order_id} is not in the store")


def _fail(results: list[UpdateResult | None], indexes: list[int], error: Exception) -> None:
    for index in indexes:
        results[index] = error


class InMemoryOrderStore(CasBackend):
    """The OrderStore fake: a dict, with the same compare-and-set loop as the Redis store.

    It yields to the event loop between a read and its write, so concurrent updates in a
    test do conflict and retry (and call `fn` again), as they would against Redis. Records
    never expire here.
    """

    def __init__(
        self, ledger: LedgerState | None = None, *, account: AccountId = DEFAULT_ACCOUNT
    ) -> None:
        self.account = account
        self._records: dict[ClientOrderId, Order] = {}
        self.ledger = ledger or LedgerState()
        """The exposure ledger this store keeps in step with every record it writes."""
        self.sent: list[tuple[str, bytes]] = []
        """What `create_and_send` appended, by stream name."""

    async def create(self, order: Order) -> tuple[Order, bool]:
        if order.account != self.account:
            raise InvalidUpdate(
                f"order {order.client_order_id} is of account {order.account}: expected "
                f"{self.account}, the account of this store"
            )
        existing = self._records.get(order.client_order_id)
        if existing is not None:
            return existing, False
        self._records[order.client_order_id] = order
        self.ledger.set_order(order)
        return order, True

    async def create_and_send(
        self, items: Sequence[tuple[Order, bytes]], stream: AccountStream
    ) -> list[tuple[Order, bool] | Exception]:
        results: list[tuple[Order, bool] | Exception] = []
        for order, entry in items:
            stored, created = await self.create(order)
            if created:
                self.sent.append((stream.of(self.account).name, entry))
            results.append((stored, created))
        return results

    async def get(self, client_order_id: ClientOrderId) -> Order | None:
        return self._records.get(client_order_id)

    async def get_many(self, client_order_ids: Sequence[ClientOrderId]) -> list[Order | None]:
        return [self._records.get(cid) for cid in client_order_ids]

    async def open_orders(self, symbol: Symbol) -> list[Order]:
        orders = [o for o in self._records.values() if o.symbol == symbol and is_open(o.status)]
        return sorted(orders, key=lambda o: (o.created_ts_ns, o.client_order_id))

    async def open_orders_of(self, symbols: Sequence[Symbol]) -> list[Order]:
        return [o for symbol in symbols for o in await self.open_orders(symbol)]

    async def find_by_venue_id(self, venue_order_id: VenueOrderId) -> Order | None:
        return next((o for o in self._records.values() if o.venue_order_id == venue_order_id), None)

    async def order_symbols(self) -> list[Symbol]:
        return sorted({o.symbol for o in self._records.values()})

    def force_put(self, order: Order) -> None:
        """Overwrite the record as is, bypassing compare-and-set: a test's foreign writer."""
        self._records[order.client_order_id] = order
        self.ledger.set_order(order)

    # -- CasBackend --------------------------------------------------------------------------

    async def read(self, ids: Sequence[ClientOrderId]) -> list[Order | None]:
        return [self._records.get(cid) for cid in ids]

    async def write(
        self, writes: Sequence[tuple[Order, Order]], announce: Announcer | None = None
    ) -> list[CasOutcome]:
        await asyncio.sleep(0)  # yield as a round trip would: concurrent updates interleave
        outcomes: list[CasOutcome] = []
        for old, new in writes:
            current = self._records.get(old.client_order_id)
            if current is None:
                outcomes.append(CasOutcome.MISSING)
            elif current.version != old.version:
                outcomes.append(CasOutcome.CONFLICT)
            else:
                self._records[old.client_order_id] = new
                self.ledger.set_order(new)
                if announce is not None:
                    stream = announce.stream.of(self.account).name
                    self.sent += [(stream, e) for e in announce(old, new)]
                outcomes.append(CasOutcome.WRITTEN)
        return outcomes
