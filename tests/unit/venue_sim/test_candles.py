"""Candles as `/v5/market/kline` builds them: UTC buckets, aggregation of the base tiers,
flat candles for empty buckets, the start/end/limit window, newest first."""

from __future__ import annotations

from datetime import UTC, datetime
from decimal import Decimal

from libs.common.domain.enums import Category, Side
from services.venue_sim.engine import Exchange
from services.venue_sim.engine.candles import DAY, MINUTE, Candle, CandleSeries, bucket_start

from .helpers import FakeClock

T0 = 1_700_000_040_000
"""A whole minute (2023-11-14 22:14 UTC)."""


def ms(*args: int) -> int:
    return int(datetime(*args, tzinfo=UTC).timestamp() * 1000)


def row(c: Candle) -> tuple[int | Decimal, ...]:
    return (c.start, c.open, c.high, c.low, c.close, c.volume)


def test_buckets_align_on_utc_minutes_days_mondays_and_months() -> None:
    t = ms(2024, 5, 15, 13, 47, 12)  # a Wednesday
    assert bucket_start("1", t) == ms(2024, 5, 15, 13, 47)
    assert bucket_start("15", t) == ms(2024, 5, 15, 13, 45)
    assert bucket_start("240", t) == ms(2024, 5, 15, 12)
    assert bucket_start("D", t) == ms(2024, 5, 15)
    assert bucket_start("W", t) == ms(2024, 5, 13)  # Monday
    assert bucket_start("M", t) == ms(2024, 5, 1)


def test_trades_make_ohlcv_and_an_empty_minute_is_flat_at_the_previous_close() -> None:
    series = CandleSeries()
    series.add(T0 + 1_000, Decimal(100), Decimal(2))
    series.add(T0 + 20_000, Decimal(103), Decimal(1))
    series.add(T0 + 59_000, Decimal(99), Decimal(1))
    series.add(T0 + 2 * MINUTE + 5_000, Decimal(101), Decimal(3))

    candles = series.query(
        "1", start=None, end=None, limit=10, now=T0 + 2 * MINUTE + 9_000, fallback=Decimal(0)
    )

    assert [row(c) for c in candles] == [
        (T0 + 2 * MINUTE, 101, 101, 101, 101, 3),
        (T0 + MINUTE, 99, 99, 99, 99, 0),  # nothing traded: flat at the close before
        (T0, 100, 103, 99, 99, 4),
    ]
    assert candles[-1].turnover == Decimal(200 + 103 + 99)


def test_a_longer_interval_merges_base_candles_and_runs_on_to_now() -> None:
    series = CandleSeries()
    start = bucket_start("5", T0)
    for minute, price in enumerate((10, 12, 9, 11, 10, 15)):
        series.add(start + minute * MINUTE, Decimal(price), Decimal(1))

    candles = series.query(
        "5", start=None, end=None, limit=5, now=start + 12 * MINUTE, fallback=Decimal(0)
    )

    assert [row(c) for c in candles] == [
        (start + 10 * MINUTE, 15, 15, 15, 15, 0),
        (start + 5 * MINUTE, 15, 15, 15, 15, 1),
        (start, 10, 12, 9, 10, 5),
    ]


def test_start_takes_the_oldest_and_end_the_newest_within_the_limit() -> None:
    series = CandleSeries()
    for minute in range(10):
        series.add(T0 + minute * MINUTE, Decimal(100 + minute))
    now = T0 + 9 * MINUTE

    def minutes(start: int | None, end: int | None) -> list[int]:
        found = series.query("1", start=start, end=end, limit=3, now=now, fallback=Decimal(0))
        return [(c.start - T0) // MINUTE for c in found]

    assert minutes(None, None) == [9, 8, 7]
    assert minutes(T0 + 2 * MINUTE, None) == [4, 3, 2]
    assert minutes(None, T0 + 5 * MINUTE + 1) == [5, 4, 3]
    assert minutes(T0 + 4 * MINUTE, T0 + 5 * MINUTE) == [5, 4]
    assert minutes(T0 - DAY, T0 - MINUTE) == []  # before the history began


def test_no_print_yet_is_one_flat_candle_at_the_fallback_price() -> None:
    candles = CandleSeries().query(
        "D", start=None, end=None, limit=200, now=T0, fallback=Decimal(60000)
    )
    assert [row(c) for c in candles] == [(bucket_start("D", T0), 60000, 60000, 60000, 60000, 0)]


def test_markets_record_their_trades_on_the_tape_and_their_mids_as_marks(
    ex: Exchange, clock: FakeClock
) -> None:
    ex.public_trade(Category.LINEAR, "BTCUSDT", Decimal("60000.1"), Decimal("0.5"), Side.BUY)
    clock.advance(MINUTE)
    ex.set_mid(Category.LINEAR, "BTCUSDT", Decimal("60100"))
    ex.public_trade(Category.LINEAR, "BTCUSDT", Decimal("60099.9"), Decimal("0.2"), Side.SELL)

    market = ex.markets[(Category.LINEAR, "BTCUSDT")]
    assert [(t.seq, t.price, t.side) for t in market.tape] == [
        (1, Decimal("60000.1"), Side.BUY),
        (2, Decimal("60099.9"), Side.SELL),
    ]
    [latest, first] = market.candles.query(
        "1", start=None, end=None, limit=5, now=clock.now, fallback=Decimal(0)
    )
    assert (first.close, first.volume, latest.close, latest.volume) == (
        Decimal("60000.1"),
        Decimal("0.5"),
        Decimal("60099.9"),
        Decimal("0.2"),
    )
    [mark] = market.marks.query(
        "1", start=None, end=None, limit=5, now=clock.now, fallback=Decimal(0)
    )
    assert mark.close == Decimal(60100)
