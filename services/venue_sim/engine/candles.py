"""Candles (klines) of one market, built from what it printed, as `/v5/market/kline` serves
them: UTC-aligned buckets, newest first, a bucket with nothing in it a flat candle at the
previous close (zero volume), the current bucket open and still moving.

Memory is bounded: a series keeps a few tiers of base candles (1 minute for a day,
15 minutes for ~10 days, 1 hour for ~41 days, 1 day for ~2.7 years) and builds an interval
from the coarsest tier that divides it, so the history an interval reaches back is that
tier's. Nothing before the first sample exists: the market's history starts with the
process (or the last `/sim/reset`).
"""

from __future__ import annotations

from bisect import bisect_right
from collections import deque
from dataclasses import dataclass, replace
from datetime import UTC, datetime
from decimal import Decimal

MINUTE = 60_000
DAY = 1440 * MINUTE
MONTH = 0
"""The length of `M`: calendar months have none."""
INTERVALS: dict[str, int] = {
    **{str(m): m * MINUTE for m in (1, 3, 5, 15, 30, 60, 120, 240, 360, 720)},
    "D": DAY,
    "W": 7 * DAY,
    "M": MONTH,
}
"""Bybit's kline intervals -> bucket length in ms."""
WEEK_OFFSET = 4 * DAY
"""1970-01-01 was a Thursday; Bybit's weekly candles start on Monday 00:00 UTC."""
TIERS = ((MINUTE, 1440), (15 * MINUTE, 1000), (60 * MINUTE, 1000), (DAY, 1000))
"""(base candle length, how many are kept)."""
ZERO = Decimal(0)


def bucket_start(interval: str, time_ms: int) -> int:
    """Start of the `interval` bucket holding `time_ms`."""
    length = INTERVALS[interval]
    if length == MONTH:
        moment = datetime.fromtimestamp(time_ms / 1000, UTC)
        return int(datetime(moment.year, moment.month, 1, tzinfo=UTC).timestamp() * 1000)
    offset = WEEK_OFFSET if interval == "W" else 0
    return time_ms - (time_ms - offset) % length


def _step(interval: str, start: int, months: int) -> int:
    """The bucket `months` (±1) after the one starting at `start`."""
    length = INTERVALS[interval]
    if length != MONTH:
        return start + months * length
    moment = datetime.fromtimestamp(start / 1000, UTC)
    index = moment.year * 12 + moment.month - 1 + months
    return int(datetime(index // 12, index % 12 + 1, 1, tzinfo=UTC).timestamp() * 1000)


def bucket_end(interval: str, start: int) -> int:
    """The last ms of the `interval` bucket starting at `start` (a candle's close time)."""
    return _step(interval, start, 1) - 1


@dataclass(slots=True)
class Candle:
    """One bucket: open/high/low/close, base volume and quote turnover."""

    start: int
    open: Decimal
    high: Decimal
    low: Decimal
    close: Decimal
    volume: Decimal = ZERO
    turnover: Decimal = ZERO

    def add(self, price: Decimal, qty: Decimal) -> None:
        self.high = max(self.high, price)
        self.low = min(self.low, price)
        self.close = price
        self.volume += qty
        self.turnover += qty * price

    def merge(self, later: Candle) -> None:
        """Fold the next candle of the same bucket into this one."""
        self.high = max(self.high, later.high)
        self.low = min(self.low, later.low)
        self.close = later.close
        self.volume += later.volume
        self.turnover += later.turnover


class CandleSeries:
    """The candles of one price stream (trades, or mark samples with no size)."""

    __slots__ = ("_tiers",)

    def __init__(self) -> None:
        self._tiers: dict[int, deque[Candle]] = {
            length: deque(maxlen=kept) for length, kept in TIERS
        }

    def add(self, time_ms: int, price: Decimal, qty: Decimal = ZERO) -> None:
        """Record a print (a sample earlier than the last one, after the clock was moved
        back, counts in the last bucket)."""
        for length, candles in self._tiers.items():
            start = time_ms - time_ms % length
            if candles and start <= candles[-1].start:
                candles[-1].add(price, qty)
            else:
                candles.append(Candle(start, price, price, price, price, qty, qty * price))

    def query(
        self,
        interval: str,
        *,
        start: int | None,
        end: int | None,
        limit: int,
        now: int,
        fallback: Decimal,
    ) -> list[Candle]:
        """At most `limit` candles whose start is within [start, end], newest first: the
        oldest ones from `start` when it is given, else the newest up to `end` (or now).

        With no sample at all, the current bucket is a flat candle at `fallback`."""
        real = self._aggregate(interval)
        if not real:
            real = [Candle(bucket_start(interval, now), *(fallback,) * 4)]
        starts = [c.start for c in real]
        low = real[0].start
        if start is not None:
            low = max(low, bucket_start(interval, start))
            if low < start:
                low = _step(interval, low, 1)
        high = bucket_start(interval, min(now, end) if end is not None else now)
        buckets: list[int] = []
        if start is not None:
            bucket = low
            while bucket <= high and len(buckets) < limit:
                buckets.append(bucket)
                bucket = _step(interval, bucket, 1)
            buckets.reverse()
        else:
            bucket = high
            while bucket >= low and len(buckets) < limit:
                buckets.append(bucket)
                bucket = _step(interval, bucket, -1)
        out: list[Candle] = []
        for bucket in buckets:
            index = bisect_right(starts, bucket) - 1
            found = real[index]
            if found.start == bucket:
                out.append(found)
            else:
                close = found.close
                out.append(Candle(bucket, close, close, close, close))
        return out

    def _aggregate(self, interval: str) -> list[Candle]:
        """The recorded candles of `interval`, oldest first (copies)."""
        length = INTERVALS[interval]
        if length == MONTH or length % DAY == 0:
            base = DAY
        else:
            base = max(tier for tier, _ in TIERS if length % tier == 0)
        merged: list[Candle] = []
        for candle in self._tiers[base]:
            bucket = bucket_start(interval, candle.start)
            if merged and merged[-1].start == bucket:
                merged[-1].merge(candle)
            else:
                merged.append(replace(candle, start=bucket))
        return merged
