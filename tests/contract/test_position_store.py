"""Contract of PositionStore: the domain fold, once per execId, across instances."""

from __future__ import annotations

import asyncio
from decimal import Decimal

from libs.common.domain.enums import Side
from libs.common.domain.ids import ExecId, Symbol, VenueId
from libs.common.domain.positions import Fill, Funding, Position, fold_fills, net_pnl
from libs.common.stores import PositionStore

BTC = Symbol("BTCUSDT")
ETH = Symbol("ETHUSDT")


def make_fill(
    exec_id: str,
    side: Side,
    qty: str,
    price: str,
    *,
    symbol: Symbol = BTC,
    fee: str = "0",
    ts_ns: int = 1,
) -> Fill:
    return Fill(
        exec_id=ExecId(exec_id),
        symbol=symbol,
        side=side,
        qty=Decimal(qty),
        price=Decimal(price),
        fee=Decimal(fee),
        ts_ns=ts_ns,
    )


def without_exec_ids(position: Position) -> Position:
    return position.model_copy(update={"exec_ids": frozenset()})


async def test_get_symbol_without_fills_returns_none(
    position_stores: tuple[PositionStore, PositionStore],
) -> None:
    store, _ = position_stores

    assert await store.get(BTC) is None
    assert await store.all() == []


async def test_position_equals_domain_fold_of_its_fills_including_a_flip(
    position_stores: tuple[PositionStore, PositionStore],
) -> None:
    writer, reader = position_stores
    fills = [
        make_fill("e1", Side.BUY, "1.5", "100.1", fee="0.02", ts_ns=10),
        make_fill("e2", Side.BUY, "0.5", "101.3", fee="-0.01", ts_ns=20),
        make_fill("e3", Side.SELL, "3", "99.9", fee="0.03", ts_ns=30),  # flips short
    ]

    for fill in fills:
        _, applied = await writer.apply_fill(fill)
        assert applied

    expected = without_exec_ids(fold_fills(BTC, fills))
    assert await reader.get(BTC) == expected
    assert expected.qty == Decimal("-1") and expected.avg_entry_price == Decimal("99.9")


async def test_flat_position_is_kept_with_its_realized_pnl(
    position_stores: tuple[PositionStore, PositionStore],
) -> None:
    store, _ = position_stores
    await store.apply_fill(make_fill("e1", Side.BUY, "1", "100"))

    flat, _ = await store.apply_fill(make_fill("e2", Side.SELL, "1", "110"))

    assert flat.is_flat and flat.avg_entry_price is None
    assert await store.get(BTC) == flat
    assert flat.realized_pnl == 10


async def test_fill_replay_returns_position_unchanged_and_not_applied(
    position_stores: tuple[PositionStore, PositionStore],
) -> None:
    first, second = position_stores
    fill = make_fill("e1", Side.BUY, "1", "100")
    position, applied = await first.apply_fill(fill)

    replayed, applied_again = await second.apply_fill(fill)

    assert applied and not applied_again
    assert replayed == position
    assert await first.get(BTC) == position


async def test_positions_from_the_store_carry_no_exec_ids(
    position_stores: tuple[PositionStore, PositionStore],
) -> None:
    store, _ = position_stores

    position, _ = await store.apply_fill(make_fill("e1", Side.BUY, "1", "100"))

    assert position.exec_ids == frozenset()
    stored = await store.get(BTC)
    assert stored is not None and stored.exec_ids == frozenset()


async def test_concurrent_distinct_fills_from_two_instances_sum_exactly(
    position_stores: tuple[PositionStore, PositionStore],
) -> None:
    n = 50
    fills = [
        make_fill(f"e{i}", Side.BUY, f"0.00{i + 1}", "100", fee=f"0.0{i}", ts_ns=i)
        for i in range(n)
    ]

    results = await asyncio.gather(
        *(position_stores[i % 2].apply_fill(f, max_retries=n) for i, f in enumerate(fills))
    )

    assert all(applied for _, applied in results)
    final = await position_stores[0].get(BTC)
    assert final is not None
    assert final.qty == sum(f.qty for f in fills)
    assert final.fees_paid == sum(f.fee for f in fills)
    assert final.avg_entry_price == 100
    assert final.updated_ts_ns == n - 1


async def test_concurrent_replays_of_one_fill_apply_it_exactly_once(
    position_stores: tuple[PositionStore, PositionStore],
) -> None:
    fill = make_fill("e1", Side.SELL, "2", "100")

    results = await asyncio.gather(
        *(position_stores[i % 2].apply_fill(fill, max_retries=10) for i in range(10))
    )

    assert sum(applied for _, applied in results) == 1
    assert {position.qty for position, _ in results} == {Decimal(-2)}
    final = await position_stores[1].get(BTC)
    assert final is not None and final.qty == -2


async def test_all_returns_every_symbol_in_symbol_order(
    position_stores: tuple[PositionStore, PositionStore],
) -> None:
    writer, reader = position_stores
    await writer.apply_fill(make_fill("e1", Side.BUY, "1", "100"))
    await writer.apply_fill(make_fill("e2", Side.SELL, "3", "20", symbol=ETH))

    positions = await reader.all()

    assert [(p.symbol, p.qty) for p in positions] == [(BTC, Decimal(1)), (ETH, Decimal(-3))]


def make_funding(exec_id: str, amount: str, *, qty: str = "1", ts_ns: int = 50) -> Funding:
    return Funding(
        exec_id=ExecId(exec_id),
        symbol=BTC,
        amount=Decimal(amount),
        rate=Decimal("0.0001"),
        position_qty=Decimal(qty),
        mark_price=Decimal("100"),
        ts_ns=ts_ns,
    )


async def test_funding_moves_only_the_funding_paid_once_per_exec_id(
    position_stores: tuple[PositionStore, PositionStore],
) -> None:
    first, second = position_stores
    opened, _ = await first.apply_fill(make_fill("e1", Side.BUY, "1", "100", fee="0.01"))

    paid, applied = await first.apply_funding(make_funding("f1", "0.01"))
    received, applied_second = await second.apply_funding(make_funding("f2", "-0.004"))
    replayed, applied_again = await first.apply_funding(make_funding("f1", "0.01"))

    assert (applied, applied_second, applied_again) == (True, True, False)
    assert paid.funding_paid == Decimal("0.01")
    assert received.funding_paid == replayed.funding_paid == Decimal("0.006")
    assert (received.qty, received.avg_entry_price) == (opened.qty, opened.avg_entry_price)
    assert (received.realized_pnl, received.fees_paid) == (opened.realized_pnl, opened.fees_paid)
    assert await second.get(BTC) == received
    assert net_pnl(received, Decimal("101")) == Decimal("1") - Decimal("0.01") - Decimal("0.006")


async def test_a_fill_after_funding_keeps_the_funding_paid(
    position_stores: tuple[PositionStore, PositionStore],
) -> None:
    store, _ = position_stores
    await store.apply_fill(make_fill("e1", Side.BUY, "2", "100"))
    await store.apply_funding(make_funding("f1", "0.02", qty="2"))

    after, _ = await store.apply_fill(make_fill("e2", Side.SELL, "2", "110", ts_ns=60))

    assert after.is_flat and after.realized_pnl == 20
    assert after.funding_paid == Decimal("0.02") and after.updated_ts_ns == 60
    assert (await store.versioned([BTC]))[BTC][1] == 3


async def test_each_venue_keeps_its_own_position_of_a_symbol_and_refuses_the_others_fills(
    venue_position_stores: tuple[PositionStore, PositionStore],
) -> None:
    bybit, binance = venue_position_stores
    at_binance = make_fill("b1", Side.SELL, "2", "101").model_copy(
        update={"venue": VenueId("binance-usdm")}
    )

    await bybit.apply_fill(make_fill("y1", Side.BUY, "1", "100"))
    await binance.apply_fill(at_binance)

    (mine,) = await bybit.all()
    (theirs,) = await binance.all()
    assert (mine.venue, mine.qty, theirs.venue, theirs.qty) == (
        "bybit", Decimal(1), "binance-usdm", Decimal(-2),
    )  # fmt: skip
    try:
        await bybit.apply_fill(at_binance)
    except ValueError as refused:
        assert "binance-usdm" in str(refused)
    else:
        raise AssertionError("a Bybit store folded a Binance fill")
