"""Each venue's book top, in Redis for the smart order router: written by the positions
service's `BookFeed`, read by the gateway when it routes an order (`venue: "auto"`).

`topology.book_key(venue, symbol)` is a hash: `bids` and `asks` (JSON `[[price, qty], ...]`,
best first, decimal strings), `ts_ns` (when the feed received it, local clock),
`venue_ts_ms` (the venue's time of the book), `taker_fee` and `maker_fee` (the desk's
default account's rates there), and `rules`, the instrument's rules there (JSON of
`InstrumentRules`: tick, qty step, min qty and notional). It expires `BOOK_TTL_MS` after
the last write: a venue whose feed stopped has no book, and the router says so.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from decimal import Decimal
from typing import Any

import orjson
from redis.asyncio import Redis

from libs.common.domain.ids import Symbol, VenueId
from libs.common.domain.instruments import InstrumentRules
from libs.common.stores._support import text
from libs.common.topology import book_key
from libs.common.venue.models import FeeRates, OrderBook

BOOK_TTL_MS = 30_000
"""A book not written again for this long is gone."""

Level = tuple[Decimal, Decimal]


@dataclass(frozen=True, slots=True)
class StoredBook:
    """One venue's book top on a symbol, with the fees and rules the router needs."""

    venue: VenueId
    bids: tuple[Level, ...]
    asks: tuple[Level, ...]
    ts_ns: int
    taker_fee: Decimal
    maker_fee: Decimal
    rules: InstrumentRules


def _levels(levels: Sequence[Level]) -> bytes:
    return orjson.dumps([[str(p), str(q)] for p, q in levels])


async def write_books(
    redis: Redis,
    venue: VenueId,
    books: Sequence[tuple[OrderBook, FeeRates, InstrumentRules]],
    *,
    now_ns: int,
) -> None:
    """Replace `venue`'s book of each symbol, with its fees and rules, in one MULTI (one slot,
    `{books}`: the fields never mix two reads of a book)."""
    async with redis.pipeline(transaction=True) as pipe:
        for book, fees, rules in books:
            key = book_key(venue, Symbol(book.symbol))
            pipe.hset(key, mapping=_fields(book, fees, rules, now_ns))
            pipe.pexpire(key, BOOK_TTL_MS)
        await pipe.execute()


def _fields(book: OrderBook, fees: FeeRates, rules: InstrumentRules, now_ns: int) -> Any:
    return {
        "bids": _levels(book.bids),
        "asks": _levels(book.asks),
        "ts_ns": now_ns,
        "venue_ts_ms": book.ts_ms,
        "taker_fee": str(fees.taker),
        "maker_fee": str(fees.maker),
        "rules": rules.model_dump_json(),
    }


async def read_books(
    redis: Redis, venues: Sequence[VenueId], symbol: Symbol
) -> dict[VenueId, StoredBook | None]:
    """Each venue's stored book of `symbol` (None where there is none), in one round trip."""
    async with redis.pipeline(transaction=False) as pipe:
        for venue in venues:
            pipe.hgetall(book_key(venue, symbol))
        replies: list[Any] = await pipe.execute()
    return {v: _decode(v, symbol, r) for v, r in zip(venues, replies, strict=True)}


def _decode(venue: VenueId, symbol: Symbol, raw: dict[Any, Any]) -> StoredBook | None:
    if not raw:
        return None
    fields = {text(k): text(v) for k, v in raw.items()}

    def levels(name: str) -> tuple[Level, ...]:
        return tuple((Decimal(p), Decimal(q)) for p, q in orjson.loads(fields[name]))

    rules = InstrumentRules.model_validate_json(fields["rules"])
    return StoredBook(
        venue=venue,
        bids=levels("bids"),
        asks=levels("asks"),
        ts_ns=int(fields["ts_ns"]),
        taker_fee=Decimal(fields["taker_fee"]),
        maker_fee=Decimal(fields["maker_fee"]),
        rules=rules,
    )
