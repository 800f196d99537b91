"""Contract of MarkStore: the latest mark never rolls back, and the history answers `at`."""

from __future__ import annotations

import asyncio
from decimal import Decimal

import pytest

from libs.common.domain.ids import Symbol
from libs.common.stores.marks import InMemoryMarkStore, Mark, MarkStore, RedisMarkStore
from tests.contract.conftest import Clients

BTC = Symbol("BTCUSDT")
ETH = Symbol("ETHUSDT")
HISTORY_LEN = 4

Stores = tuple[MarkStore, MarkStore]


@pytest.fixture
def mark_stores(clients: Clients | None) -> Stores:
    if clients is None:
        fake = InMemoryMarkStore(history_len=HISTORY_LEN)
        return fake, fake
    first = RedisMarkStore(clients[0], history_len=HISTORY_LEN)
    return first, RedisMarkStore(clients[1], history_len=HISTORY_LEN)


def mark(price: str, ts_ns: int, *, symbol: Symbol = BTC, seen_ns: int = 0) -> Mark:
    value = Decimal(price)
    made = Mark.of(
        symbol,
        ts_ns=ts_ns,
        seen_ns=seen_ns,
        mark=value,
        bid=value - Decimal("0.5"),
        ask=value + Decimal("0.5"),
    )
    assert made is not None
    return made


async def test_symbol_without_marks_has_none(mark_stores: Stores) -> None:
    store, _ = mark_stores

    assert await store.get(BTC) is None
    assert await store.get_many([BTC, ETH]) == {}
    assert await store.symbols() == []
    assert await store.at(BTC, 10) is None


async def test_mark_round_trips_exactly_between_instances(mark_stores: Stores) -> None:
    writer, reader = mark_stores
    written = Mark(
        symbol=BTC,
        mark=Decimal("60000.123456789"),
        bid=Decimal("59999.9"),
        ask=Decimal("60000.1"),
        mid=Decimal("60000.0"),
        ts_ns=1_700_000_000_123_456_789,
        seen_ns=1_700_000_000_223_456_789,
    )

    assert await writer.put_many([written]) == [written]

    assert await reader.get(BTC) == written
    assert await reader.get_many([BTC, ETH]) == {BTC: written}
    assert await reader.symbols() == [BTC]


async def test_mark_without_bid_and_ask_keeps_them_none(mark_stores: Stores) -> None:
    writer, reader = mark_stores
    only_last = Mark.of(ETH, ts_ns=5, last=Decimal("3000"))
    assert only_last is not None

    await writer.put_many([only_last])

    stored = await reader.get(ETH)
    assert stored is not None
    assert (stored.mark, stored.bid, stored.ask, stored.mid) == (Decimal("3000"), None, None, None)
    assert stored.mid_or_mark == Decimal("3000")


async def test_older_mark_does_not_replace_newer_one(mark_stores: Stores) -> None:
    writer, reader = mark_stores
    await writer.put_many([mark("60000", 2_000)])

    assert await writer.put_many([mark("59000", 1_000)]) == []

    stored = await reader.get(BTC)
    assert stored is not None and stored.mark == Decimal("60000")


async def test_batch_keeps_the_newest_mark_of_each_symbol(mark_stores: Stores) -> None:
    writer, reader = mark_stores
    batch = [mark("1", 30), mark("2", 10), mark("3000", 7, symbol=ETH), mark("4", 40)]

    written = await writer.put_many(batch)

    assert [m.mark for m in written] == [Decimal("1"), Decimal("3000"), Decimal("4")]
    latest = await reader.get_many([BTC, ETH])
    assert {s: m.mark for s, m in latest.items()} == {BTC: Decimal("4"), ETH: Decimal("3000")}
    assert await reader.symbols() == [BTC, ETH]


async def test_at_returns_the_newest_mark_at_or_before_the_time(mark_stores: Stores) -> None:
    writer, reader = mark_stores
    base = 1_700_000_000_000_000_000  # past 2^53: exactness does not rest on float scores
    await writer.put_many([mark("100", base + 10), mark("101", base + 20), mark("102", base + 30)])

    found = [await reader.at(BTC, base + t) for t in (10, 19, 20, 21, 10_000)]

    assert [m.mark if m else None for m in found] == [
        Decimal(p) for p in ["100", "100", "101", "101", "102"]
    ]


async def test_at_many_answers_each_time_as_at_does_in_the_order_asked(
    mark_stores: Stores,
) -> None:
    writer, reader = mark_stores
    base = 1_700_000_000_000_000_000
    await writer.put_many([mark("100", base + 10), mark("101", base + 20)])
    asked = [(BTC, base + 25), (ETH, base + 25), (BTC, base + 5), (BTC, base + 15)]

    found = await reader.at_many(asked)

    assert found == [await reader.at(symbol, ts) for symbol, ts in asked]
    assert [m.mark if m else None for m in found] == [
        Decimal("101"), None, Decimal("100"), Decimal("100")
    ]  # fmt: skip
    assert await reader.at_many([]) == []


async def test_at_before_the_history_returns_its_oldest_mark(mark_stores: Stores) -> None:
    writer, reader = mark_stores
    await writer.put_many([mark("100", 1_000), mark("101", 2_000)])

    found = await reader.at(BTC, 5)

    assert found is not None and found.mark == Decimal("100")


async def test_history_keeps_the_last_marks_and_takes_late_ones(mark_stores: Stores) -> None:
    writer, reader = mark_stores
    for ts in range(1, 7):  # six marks, HISTORY_LEN kept: ts 3..6
        await writer.put_many([mark(str(100 + ts), ts * 10)])
    await writer.put_many([mark("155", 55)])  # late: history only, kept as 55 > 30

    oldest = await reader.at(BTC, 0)
    late = await reader.at(BTC, 57)
    latest = await reader.get(BTC)

    assert oldest is not None and oldest.ts_ns == 40
    assert late is not None and late.mark == Decimal("155")
    assert latest is not None and latest.mark == Decimal("106")


async def test_touch_moves_seen_forward_only_on_existing_marks(mark_stores: Stores) -> None:
    writer, reader = mark_stores
    await writer.put_many([mark("60000", 1_000, seen_ns=5_000)])

    await writer.touch([BTC, ETH], 9_000)
    await writer.touch([BTC], 7_000)

    stored = await reader.get(BTC)
    assert stored is not None and stored.seen_ns == 9_000
    assert await reader.get(ETH) is None
    assert stored.is_fresh(10_000, 1_000) and not stored.is_fresh(10_001, 1_000)


async def test_newer_mark_keeps_a_later_confirmation(mark_stores: Stores) -> None:
    writer, reader = mark_stores
    await writer.put_many([mark("60000", 1_000, seen_ns=1_000)])
    await writer.touch([BTC], 9_000)

    await writer.put_many([mark("60001", 2_000, seen_ns=3_000)])

    stored = await reader.get(BTC)
    assert stored is not None and (stored.mark, stored.seen_ns) == (Decimal("60001"), 9_000)


async def test_concurrent_writers_end_on_the_newest_mark(mark_stores: Stores) -> None:
    first, second = mark_stores
    writes = [
        (first if ts % 2 else second).put_many([mark(str(60_000 + ts), ts)]) for ts in range(1, 41)
    ]

    await asyncio.gather(*writes)

    stored = await first.get(BTC)
    assert stored is not None and (stored.mark, stored.ts_ns) == (Decimal("60040"), 40)


def test_mark_of_prefers_mark_then_mid_then_last() -> None:
    both = Mark.of(BTC, ts_ns=1, bid=Decimal("99"), ask=Decimal("101"), last=Decimal("7"))
    marked = Mark.of(BTC, ts_ns=1, mark=Decimal("100.5"), bid=Decimal("99"), ask=Decimal("101"))

    assert both is not None and (both.mark, both.mid) == (Decimal("100"), Decimal("100"))
    assert marked is not None and (marked.mark, marked.mid) == (Decimal("100.5"), Decimal("100"))
    assert Mark.of(BTC, ts_ns=1) is None


def test_mark_with_crossed_touch_is_refused() -> None:
    with pytest.raises(ValueError, match="bid 101 is above ask 100"):
        Mark(symbol=BTC, mark=Decimal(100), bid=Decimal(101), ask=Decimal(100), ts_ns=1)
