"""`?wait=true`: futures per (account, clientOrderId), resolved by the first outcome on
`orders.events` (a clientOrderId is unique per account only).

Every gateway instance follows `orders.events` without a group (a `BroadcastReader`), so the
instance holding the HTTP request sees the outcome whichever instance of risk or the router
produced it. A waiter is registered before its command is published, so the outcome cannot
slip past it.
"""

from __future__ import annotations

import asyncio
from collections.abc import Iterable, Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass
from types import MappingProxyType

from libs.common.bus_types import Delivery
from libs.common.domain.ids import DEFAULT_ACCOUNT, AccountId, ClientOrderId
from libs.common.messages import (
    Envelope,
    OrderAcknowledged,
    OrderCanceled,
    OrderDenied,
    OrderFilled,
    OrderRejected,
)
from services.gateway.schemas import Outcome

OUTCOMES: Mapping[str, Outcome] = MappingProxyType(
    {
        OrderAcknowledged.TYPE: Outcome.ACCEPTED,
        # A fill or a cancel (IOC with nothing to match) can overtake the ack: the venue
        # took the order all the same.
        OrderFilled.TYPE: Outcome.ACCEPTED,
        OrderCanceled.TYPE: Outcome.ACCEPTED,
        OrderDenied.TYPE: Outcome.DENIED,
        OrderRejected.TYPE: Outcome.REJECTED,
    }
)
"""The event types that answer a placed order, and what each means for the client."""


@dataclass(frozen=True, slots=True)
class Resolution:
    outcome: Outcome
    reason: str | None
    event_type: str


Book = tuple[str, str]
"""(account, clientOrderId): what names an order across the desk."""


class Waiters:
    """Futures of the orders that HTTP requests are waiting on, by account and clientOrderId."""

    def __init__(self) -> None:
        self._futures: dict[Book, list[asyncio.Future[Resolution]]] = {}

    def __len__(self) -> int:
        return sum(len(futures) for futures in self._futures.values())

    @property
    def active(self) -> bool:
        """True while some request waits for an outcome."""
        return bool(self._futures)

    @contextmanager
    def expect(
        self,
        client_order_ids: Iterable[ClientOrderId],
        accounts: Mapping[ClientOrderId, AccountId] | None = None,
    ) -> Iterator[dict[ClientOrderId, asyncio.Future[Resolution]]]:
        """Register a future per id (of its account in `accounts`, `default` when absent)
        for the duration of the block; unregister after it."""
        loop = asyncio.get_running_loop()
        futures = {cid: loop.create_future() for cid in client_order_ids}
        books = {cid: ((accounts or {}).get(cid, DEFAULT_ACCOUNT), cid) for cid in futures}
        for cid, future in futures.items():
            self._futures.setdefault(books[cid], []).append(future)
        try:
            yield futures
        finally:
            for cid, future in futures.items():
                self._forget(books[cid], future)

    async def on_event(self, delivery: Delivery[Envelope]) -> None:
        """Resolve the waiters of the event's order if the event is an outcome."""
        envelope = delivery.message
        outcome = OUTCOMES.get(envelope.type)
        if outcome is None:
            return
        cid = envelope.payload.get("client_order_id")
        account = envelope.payload.get("account") or DEFAULT_ACCOUNT
        futures = self._futures.get((str(account), cid)) if isinstance(cid, str) else None
        if not futures:
            return
        reason = envelope.payload.get("reason")
        resolution = Resolution(outcome, reason if isinstance(reason, str) else None, envelope.type)
        for future in futures:
            if not future.done():
                future.set_result(resolution)

    def _forget(self, book: Book, future: asyncio.Future[Resolution]) -> None:
        futures = self._futures.get(book, [])
        if future in futures:
            futures.remove(future)
        if not futures:
            self._futures.pop(book, None)
        future.cancel()


async def wait_all(
    futures: Mapping[ClientOrderId, asyncio.Future[Resolution]], timeout_s: float
) -> dict[ClientOrderId, Resolution]:
    """Wait up to `timeout_s` for every future; return the resolutions that arrived."""
    pending = [f for f in futures.values() if not f.done()]
    if pending:
        await asyncio.wait(pending, timeout=timeout_s)
    return {cid: f.result() for cid, f in futures.items() if f.done() and not f.cancelled()}
