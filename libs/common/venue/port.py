"""`VenuePort`: what the router needs from a venue. `BybitVenue` implements it.

Mutating calls (`place`, `amend`, `cancel` and their batches) never leave an unknown
outcome unreported: they return an ack (possibly `recovered=True`), raise a final
`VenueRejected`, or raise `OutcomeUnknown` when the router must reconcile.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Protocol

from libs.common.domain.enums import Category
from libs.common.domain.instruments import InstrumentRules
from libs.common.venue.models import (
    AmendOrder,
    BatchItemResult,
    CancelOrder,
    Execution,
    OrderAck,
    PlaceOrder,
    Ticker,
    VenueOrder,
    VenuePosition,
)


class VenuePort(Protocol):
    async def start(self) -> None:
        """Open the connection pool and sync the clock."""

    async def close(self) -> None:
        """Close every connection."""

    async def server_time_ms(self) -> int:
        """The venue's clock, epoch ms."""

    def venue_ms(self, local_ns: int) -> int:
        """A local wall-clock time (ns) as the venue's clock reads it, epoch ms (no I/O)."""

    async def instruments(self, category: Category) -> dict[str, InstrumentRules]:
        """Every instrument of `category` (all pages), cached for `rules`."""

    async def rules(self, category: Category, symbol: str) -> InstrumentRules:
        """One instrument's rules, from the cache or fetched; InvalidOrderRequest if unknown."""

    async def place(self, order: PlaceOrder) -> OrderAck:
        """Validate, round and place one order."""

    async def place_batch(self, orders: Sequence[PlaceOrder]) -> list[BatchItemResult]:
        """Place many orders; one result per order, in input order."""

    async def amend(self, amend: AmendOrder) -> OrderAck:
        """Change a live order's price and/or total quantity."""

    async def amend_batch(self, amends: Sequence[AmendOrder]) -> list[BatchItemResult]:
        """Amend many orders; one result per amend, in input order."""

    async def cancel(self, cancel: CancelOrder) -> OrderAck:
        """Cancel one order; an already final order returns its last snapshot."""

    async def cancel_batch(self, cancels: Sequence[CancelOrder]) -> list[BatchItemResult]:
        """Cancel many orders; one result per cancel, in input order."""

    async def cancel_all(
        self, category: Category, symbol: str | None = None, settle_coin: str | None = None
    ) -> list[OrderAck]:
        """Cancel every open order of a symbol (else of a settle coin)."""

    async def open_orders(
        self, category: Category, symbol: str | None = None, settle_coin: str | None = None
    ) -> list[VenueOrder]:
        """Every open order (all pages)."""

    async def get_order(
        self,
        category: Category,
        symbol: str,
        client_order_id: str | None = None,
        *,
        venue_order_id: str | None = None,
    ) -> VenueOrder | None:
        """One order by client or venue id (open or closed); None if unknown."""

    async def order_history(
        self,
        category: Category,
        symbol: str | None = None,
        *,
        settle_coin: str | None = None,
        start_ms: int | None = None,
        end_ms: int | None = None,
    ) -> list[VenueOrder]:
        """Closed orders (all pages; the venue keeps 1-7 days)."""

    async def executions(
        self,
        category: Category,
        symbol: str | None = None,
        start_ms: int | None = None,
        *,
        end_ms: int | None = None,
    ) -> list[Execution]:
        """Fills since `start_ms` (all pages), oldest first."""

    async def positions(
        self, category: Category, symbol: str | None = None, settle_coin: str | None = None
    ) -> list[VenuePosition]:
        """Positions (all pages)."""

    async def tickers(self, category: Category, symbol: str | None = None) -> list[Ticker]:
        """Best bid / ask, last and mark."""

    async def set_dcp_window(self, seconds: int, product: str = "DERIVATIVES") -> None:
        """Set the venue's disconnect-cancel window (3-300 s)."""
