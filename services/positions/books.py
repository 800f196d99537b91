"""The book feed for the smart order router: each venue's book top, fees and rules in Redis.

While the desk trades more than one venue (`MMX_VENUES`), the holder of the `books` lease
reads, for each venue, every `book_interval_s` the top `book_depth` levels of each symbol
(public REST: `/v5/market/orderbook`, `/fapi/v1/depth`), and every `book_fees_interval_s`
the desk's fee rates (the `default` account's, signed) and the instrument rules there; it
writes each venue's round of books in one step (`libs.common.route_books.write_books`).
Each venue runs on its own: one that fails (its book is then missing, and expires) leaves
the others' current. The gateway
reads them when it routes an order with `venue: "auto"`.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Callable, Mapping, Sequence
from typing import Protocol

from redis.asyncio import Redis

from libs.common.domain.enums import Category
from libs.common.domain.ids import Symbol, VenueId
from libs.common.domain.instruments import InstrumentRules
from libs.common.route_books import write_books
from libs.common.tasks import wait_or_timeout
from libs.common.venue.models import FeeRates, OrderBook

log = logging.getLogger(__name__)

BOOKS_LEASE = "positions-books"
"""The lease of the book feed: one instance reads the books for the whole desk."""


class BookSource(Protocol):
    """What the feed needs of a venue adapter."""

    async def start(self) -> None: ...

    async def close(self) -> None: ...

    async def rules(self, category: Category, symbol: str) -> InstrumentRules: ...

    async def order_book(self, category: Category, symbol: str, depth: int = 50) -> OrderBook: ...

    async def fee_rates(self, category: Category, symbol: str) -> FeeRates: ...


class BookFeed:
    """The `books` lease holder's work: `run` until released."""

    def __init__(
        self,
        *,
        redis: Redis,
        venues: Mapping[VenueId, Callable[[], BookSource]],
        symbols: Sequence[Symbol],
        interval_s: float,
        depth: int,
        fees_interval_s: float,
    ) -> None:
        self._redis = redis
        self._venues = venues
        self._symbols = tuple(symbols)
        self._interval_s = interval_s
        self._depth = depth
        self._fees_interval_s = fees_interval_s
        self.written = 0
        """Books written by this instance (each venue and symbol once per round)."""

    async def run(self, release: asyncio.Event) -> None:
        """Follow every venue's books until `release` is set."""
        await asyncio.gather(
            *(self._follow(venue, open_, release) for venue, open_ in self._venues.items())
        )

    async def _follow(
        self, venue: VenueId, open_venue: Callable[[], BookSource], release: asyncio.Event
    ) -> None:
        """One venue's books until `release`; a failure is logged and retried, with backoff,
        on a fresh connection."""
        backoff = self._interval_s
        while not release.is_set():
            source = open_venue()
            try:
                await source.start()
                await self._poll(venue, source, release)
            except Exception as error:
                log.warning("books of %s: %r; retrying in %.1f s", venue, error, backoff)
                await wait_or_timeout(release, backoff)
                backoff = min(backoff * 2, 10.0)
            finally:
                await source.close()

    async def _poll(self, venue: VenueId, source: BookSource, release: asyncio.Event) -> None:
        category = Category.LINEAR
        terms: dict[Symbol, tuple[FeeRates, InstrumentRules]] = {}
        terms_at = -float("inf")
        while not release.is_set():
            started = time.monotonic()
            if started - terms_at >= self._fees_interval_s:
                for symbol in self._symbols:
                    rules = await source.rules(category, symbol)
                    terms[symbol] = (await source.fee_rates(category, symbol), rules)
                terms_at = started
            books = await asyncio.gather(
                *(source.order_book(category, s, self._depth) for s in self._symbols)
            )
            read = [(book, *terms[Symbol(book.symbol)]) for book in books]
            await write_books(self._redis, venue, read, now_ns=time.time_ns())
            self.written += len(read)
            elapsed = time.monotonic() - started
            await wait_or_timeout(release, max(0.0, self._interval_s - elapsed))
