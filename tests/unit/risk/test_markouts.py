"""Markouts: the math per fill, the windowed aggregate in Redis, and the settler's judgement."""

from __future__ import annotations

import asyncio
import time
from decimal import Decimal
from typing import Any

import pytest
import redis.asyncio as aioredis
from prometheus_client import CollectorRegistry
from pydantic import ValidationError

from libs.common.display import bps as shown_bps
from libs.common.domain.enums import Side
from libs.common.domain.ids import ExecId, Symbol, VenueOrderId
from libs.common.domain.risk_checks import TradingState
from libs.common.messages import OrderFilled
from libs.common.metrics import EdgeSource, EngineMetrics, markout_source
from libs.common.stores import InMemoryLeaseStore, InMemoryRiskStateStore
from libs.common.stores.leases import TickLease
from libs.common.stores.marks import InMemoryMarkStore, Mark
from libs.common.topology import MARKOUTS_PENDING_KEY, markout_bucket_key
from services.risk.edge import EdgeBook
from services.risk.markouts import (
    MARKOUT_BUCKETS,
    MARKOUT_LEASE,
    Buckets,
    MarkoutBook,
    MarkoutFreeze,
    MarkoutSettler,
    PendingMarkout,
    markout_bps,
    schedule,
)
from services.risk.rules import EdgeSample
from services.risk.settings import RiskSettings

BTC = Symbol("BTCUSDT")
D = Decimal
MS = 1_000_000


# -- the math --------------------------------------------------------------------------------


def test_a_buy_earns_when_the_mid_rises_and_a_sell_when_it_falls() -> None:
    assert markout_bps(Side.BUY, D(100), D("100.1")) == D(10)
    assert markout_bps(Side.BUY, D(100), D("99.9")) == D(-10)
    assert markout_bps(Side.SELL, D(100), D("99.9")) == D(10)
    assert markout_bps(Side.SELL, D(100), D("100.1")) == D(-10)


def test_a_markout_is_exact_decimal_over_the_fill_price_and_shown_to_2_places() -> None:
    exact = markout_bps(Side.BUY, D("59990"), D("59900.5"))

    assert exact == D(-1) * (D("89.5") / D("59990")) * 10_000
    assert shown_bps(exact) == D("-14.92")


def test_schedule_gives_one_markout_per_horizon_due_after_the_fill() -> None:
    fill = _fill("e1", Side.SELL, "60000", qty="0.5", ts_ns=1_700_000_000_123_456_789)

    pending = schedule(fill, [1_000, 5_000])

    assert [(p.horizon_ms, p.due_ns) for p in pending] == [
        (1_000, fill.ts_event_ns + 1_000 * MS),
        (5_000, fill.ts_event_ns + 5_000 * MS),
    ]
    assert {(p.weight, p.side, p.price) for p in pending} == {(D(30_000), Side.SELL, D(60_000))}
    assert pending[0].due_ms == 1_700_000_001_123


def test_a_pending_markout_survives_its_encoding_even_with_a_bar_in_the_exec_id() -> None:
    (pending,) = schedule(_fill("odd|id", Side.BUY, "0.12345"), [500])

    assert PendingMarkout.decode(pending.encode()) == pending


def test_every_bucket_of_a_window_read_lives_until_it_leaves_the_read() -> None:
    buckets = Buckets(window_ms=300_000)
    now = 1_700_000_123_456

    read = buckets.read(now)

    assert len(read) == MARKOUT_BUCKETS and buckets.of(now) in read
    assert all(buckets.expiry_ms(b) > now for b in read)
    oldest = read[0]
    assert buckets.expiry_ms(oldest) > (oldest + MARKOUT_BUCKETS) * buckets.width_ms
    assert oldest not in buckets.read((oldest + MARKOUT_BUCKETS) * buckets.width_ms)


def test_markout_sources_name_the_horizon_in_seconds() -> None:
    assert markout_source(D(5)) == EdgeSource.MARKOUT_5S
    assert markout_source(D("30.000")) == EdgeSource.MARKOUT_30S
    assert markout_source(D("0.2")) == "markout_0.2s"


# -- settings --------------------------------------------------------------------------------


def test_settings_take_horizons_comma_separated_and_a_freeze_horizon_among_them() -> None:
    settings = RiskSettings(markout_horizons_s="0.2, 0.5,1", markout_freeze_horizon_s=D("0.5"))

    assert settings.markout_horizons_s == (D("0.2"), D("0.5"), D(1))
    assert RiskSettings().markout_horizons_s == (D(1), D(5), D(30))
    assert RiskSettings().markout_freeze_threshold_bps == D(-5)


@pytest.mark.parametrize(
    ("horizons", "complaint"),
    [
        ("5,1,30", "not strictly increasing"),
        ("1,1", "not strictly increasing"),
        ("0,5", "out of range"),
        ("1,5,600", "out of range: expected above 0 and at most 120 s"),
        ("0.0005,5", "not a whole number of ms"),
        ("1,2,3,4,5,6", "expected 5 at most"),
        ("1,x", "not numbers of seconds"),
    ],
)
def test_settings_refuse_bad_horizons(horizons: str, complaint: str) -> None:
    with pytest.raises(ValidationError, match=complaint):
        RiskSettings(markout_horizons_s=horizons)


def test_settings_refuse_a_freeze_horizon_that_is_not_a_horizon() -> None:
    with pytest.raises(ValidationError, match="MMX_RISK_MARKOUT_FREEZE_HORIZON_S=2 is not one"):
        RiskSettings(markout_horizons_s="1,5", markout_freeze_horizon_s=D(2))


# -- the aggregate in Redis ------------------------------------------------------------------


async def test_the_window_is_the_notional_weighted_mean_and_counts_a_markout_once(
    redis: aioredis.Redis,
) -> None:
    book = MarkoutBook(redis, window_s=60)
    now_ms = time.time_ns() // MS
    big, small = _pending("big", "3", now_ms - 500), _pending("small", "1", now_ms - 400)
    await _schedule(redis, big, small)

    first = await book.settle([(big, D(20)), (small, D(-50))], now_ms, judge_horizon_ms=1_000)
    again = await book.settle([(big, D(20))], now_ms, judge_horizon_ms=1_000)
    window = await book.window(BTC, 1_000, now_ms)

    assert (first, again) == ([True, True], [False])
    assert await book.unjudged() == {BTC: 2}  # counted once each, at the judged horizon
    assert (window.fills, window.notional) == (2, D(400))
    assert window.mean_bps == (D(300) * 20 + D(100) * -50) / D(400)
    assert await book.pending_count() == 0


async def test_due_lists_only_markouts_due_by_then_oldest_first(redis: aioredis.Redis) -> None:
    book = MarkoutBook(redis, window_s=60)
    now_ms = time.time_ns() // MS
    late, early, future = (
        _pending(n, "1", now_ms + d) for n, d in (("b", -10), ("a", -20), ("c", 5))
    )
    await _schedule(redis, late, early, future)

    assert await book.due(now_ms) == [early, late]
    assert await book.due(now_ms, limit=1) == [early]


async def test_an_unreadable_pending_member_is_removed_not_left_to_block_the_rest(
    redis: aioredis.Redis,
) -> None:
    book = MarkoutBook(redis, window_s=60)
    now_ms = time.time_ns() // MS
    good = _pending("ok", "1", now_ms - 10)
    await _schedule(redis, good)
    await redis.zadd(MARKOUTS_PENDING_KEY, {"garbage": now_ms - 20, "1|B|Buy|x|1|1|e": now_ms - 5})

    assert await book.due(now_ms) == [good]
    assert await book.pending_count() == 1


async def test_markouts_leave_the_window_and_the_windows_are_per_horizon(
    redis: aioredis.Redis,
) -> None:
    book = MarkoutBook(redis, window_s=10)
    now_ms = time.time_ns() // MS
    one_s, five_s = _pending("e", "1", now_ms - 1, 1_000), _pending("e", "1", now_ms - 1, 5_000)
    await _schedule(redis, one_s, five_s)
    await book.settle([(one_s, D(-7)), (five_s, D(3))], now_ms, judge_horizon_ms=5_000)

    assert (await book.window(BTC, 1_000, now_ms)).mean_bps == D(-7)
    assert (await book.window(BTC, 5_000, now_ms)).mean_bps == D(3)
    later = await book.window(BTC, 1_000, now_ms + 11_000)
    assert (later.fills, later.mean_bps) == (0, None)
    assert 0 < await redis.pttl(_bucket_key(book, one_s)) <= 12_000


async def test_a_dropped_or_out_of_window_markout_is_removed_and_counts_nothing(
    redis: aioredis.Redis,
) -> None:
    book = MarkoutBook(redis, window_s=10)
    now_ms = time.time_ns() // MS
    dropped, stale = _pending("gone", "1", now_ms - 1), _pending("old", "1", now_ms - 60_000)
    await _schedule(redis, dropped, stale)

    removed = await book.settle([(dropped, None), (stale, D(-100))], now_ms, judge_horizon_ms=1_000)

    assert removed == [True, True]
    assert await book.pending_count() == 0
    assert await book.unjudged() == {}  # nothing counted: nothing to judge
    assert (await book.window(BTC, 1_000, now_ms)).fills == 0
    assert await redis.exists(_bucket_key(book, stale)) == 0


async def test_measuring_a_fill_twice_schedules_its_markouts_once(redis: aioredis.Redis) -> None:
    edges = EdgeBook(redis, window=10)
    fill = _fill("e1", Side.BUY, "100")
    markouts = schedule(fill, [200, 500])
    sample = EdgeSample(weight=D(100), edge_bps=D(1))

    added = [(await edges.add_fill(BTC, fill.exec_id, sample, markouts))[0] for _ in range(2)]

    assert added == [True, False]
    members: Any = await redis.zrange(MARKOUTS_PENDING_KEY, 0, -1, withscores=True)
    assert [(m.decode(), s) for m, s in members] == [(p.encode(), p.due_ms) for p in markouts]


# -- the settler -----------------------------------------------------------------------------


class Desk:
    """A settler over real Redis with the in-memory marks, leases and freeze state."""

    def __init__(self, redis: aioredis.Redis, *, min_fills: int = 2) -> None:
        self.redis = redis
        self.marks = InMemoryMarkStore()
        self.risk = InMemoryRiskStateStore()
        self.leases = InMemoryLeaseStore()
        self.metrics = EngineMetrics(CollectorRegistry())
        self.edges = EdgeBook(redis, window=10, markout_sources=["markout_0.2s", "markout_0.5s"])
        self.book = MarkoutBook(redis, window_s=60)
        self.freeze = MarkoutFreeze(horizon_ms=500, threshold_bps=D(-5), min_fills=min_fills)

    def settler(self, owner: str = "r1") -> MarkoutSettler:
        return MarkoutSettler(
            book=self.book,
            figures=self.edges,
            marks=self.marks,
            risk=self.risk,
            lease=TickLease(self.leases, MARKOUT_LEASE, owner, 60_000),
            metrics=self.metrics,
            horizons_ms=[200, 500],
            freeze=self.freeze,
            settle_delay_ms=0,
            actor="risk:test",
            clock=time.time_ns,
        )

    async def mid(self, price: str, ts_ns: int) -> None:
        mark = Mark.of(BTC, ts_ns=ts_ns, seen_ns=ts_ns, bid=D(price) - 1, ask=D(price) + 1)
        assert mark is not None
        await self.marks.put_many([mark])

    async def fill(self, exec_id: str, price: str, ts_ns: int) -> None:
        fill = _fill(exec_id, Side.BUY, price, ts_ns=ts_ns)
        sample = EdgeSample(weight=fill.qty * fill.price, edge_bps=D(0))
        await self.edges.add_fill(BTC, fill.exec_id, sample, schedule(fill, [200, 500]))

    def gauge(self, source: str) -> float | None:
        return self.metrics.registry.get_sample_value("edge_bps", {"symbol": BTC, "source": source})


async def test_the_settler_publishes_each_horizon_and_freezes_on_the_freeze_horizon(
    redis: aioredis.Redis,
) -> None:
    desk = Desk(redis)
    t0 = time.time_ns() - 2_000 * MS  # both fills' markouts are due already
    await desk.mid("100", t0 - MS)
    await desk.fill("e1", "99.9", t0)
    await desk.fill("e2", "99.9", t0 + MS)
    await desk.mid("99.8", t0 + 100 * MS)  # 100 ms after the fills: the market ran through

    counted = await desk.settler().run()

    assert counted == 4
    figures = await desk.edges.all()
    expected = (D("99.8") - D("99.9")) / D("99.9") * 10_000  # about -10 bps
    assert figures[(BTC, "markout_0.2s")] == figures[(BTC, "markout_0.5s")] == expected
    assert desk.gauge("markout_0.5s") == pytest.approx(float(expected))
    status = await desk.risk.trading_state()
    assert status.state is TradingState.FROZEN
    assert status.reason == (
        "markout_edge: markout edge -10.01 bps at +0.5s on BTCUSDT over 2 fills in 60 s "
        "is below the threshold -5 bps"
    )
    assert (
        desk.metrics.registry.get_sample_value("freeze_triggered_total", {"reason": "markout_edge"})
        == 1
    )


async def test_below_min_fills_or_above_the_threshold_nothing_freezes(
    redis: aioredis.Redis,
) -> None:
    desk = Desk(redis, min_fills=3)
    t0 = time.time_ns() - 2_000 * MS
    await desk.mid("100", t0 - MS)
    await desk.fill("e1", "99.9", t0)
    await desk.fill("e2", "99.9", t0 + MS)
    await desk.mid("99.8", t0 + 100 * MS)

    await desk.settler().run()

    assert (await desk.risk.trading_state()).state is TradingState.ACTIVE
    assert desk.gauge("markout_0.5s") is not None  # published all the same


async def test_only_the_lease_holder_settles_and_no_new_markout_means_no_new_judgement(
    redis: aioredis.Redis,
) -> None:
    desk = Desk(redis, min_fills=1)
    t0 = time.time_ns() - 2_000 * MS
    await desk.mid("100", t0 - MS)
    await desk.fill("e1", "99.9", t0)
    await desk.mid("99.8", t0 + 100 * MS)
    holder, other = desk.settler("r1"), desk.settler("r2")

    counts = [await holder.run(), await other.run()]
    await desk.risk.unfreeze("checked", "ops", time.time_ns(), 0, force=True)
    again = await holder.run()

    assert (counts, again) == ([2, 0], 0)
    assert (await desk.risk.trading_state()).state is TradingState.ACTIVE  # not undone


async def test_a_markout_the_history_no_longer_reaches_is_dropped_not_guessed(
    redis: aioredis.Redis,
) -> None:
    desk = Desk(redis, min_fills=1)
    t0 = time.time_ns() - 2_000 * MS
    await desk.fill("e1", "99.9", t0)
    await desk.mid("50", t0 + 900 * MS)  # the oldest mark kept is after both due times

    counted = await desk.settler().run()

    assert counted == 0
    assert await desk.book.pending_count() == 0
    assert await desk.edges.all() == {}
    assert (await desk.risk.trading_state()).state is TradingState.ACTIVE


async def test_an_emptied_window_removes_its_figure_and_gauge(redis: aioredis.Redis) -> None:
    desk = Desk(redis, min_fills=10)
    desk.book = MarkoutBook(redis, window_s=1)  # buckets of 100 ms
    t0 = time.time_ns() - 700 * MS
    await desk.mid("100", t0 - MS)
    await desk.fill("e1", "99.9", t0)
    settler = desk.settler()
    await settler.run()
    published = dict(await desk.edges.all())

    await asyncio.sleep(1.3)
    await settler.run()

    assert set(published) == {(BTC, "markout_0.2s"), (BTC, "markout_0.5s")}
    assert await desk.edges.all() == {}
    assert desk.gauge("markout_0.2s") is None


# -- helpers ---------------------------------------------------------------------------------


def _fill(
    exec_id: str, side: Side, price: str, *, qty: str = "1", ts_ns: int | None = None
) -> OrderFilled:
    return OrderFilled(
        client_order_id=None,
        venue_order_id=VenueOrderId("v-" + exec_id),
        symbol=BTC,
        exec_id=ExecId(exec_id),
        side=side,
        qty=D(qty),
        price=D(price),
        fee=D(0),
        is_maker=True,
        ts_event_ns=time.time_ns() if ts_ns is None else ts_ns,
    )


def _pending(exec_id: str, qty: str, due_ms: int, horizon_ms: int = 1_000) -> PendingMarkout:
    return PendingMarkout(
        symbol=BTC,
        side=Side.BUY,
        price=D(100),
        weight=D(qty) * 100,
        horizon_ms=horizon_ms,
        due_ns=due_ms * MS,
        exec_id=ExecId(exec_id),
    )


async def _schedule(redis: aioredis.Redis, *pending: PendingMarkout) -> None:
    await redis.zadd(MARKOUTS_PENDING_KEY, {p.encode(): p.due_ms for p in pending})


def _bucket_key(book: MarkoutBook, pending: PendingMarkout) -> str:
    return markout_bucket_key(BTC, pending.horizon_ms, book.buckets.of(pending.due_ms))


async def test_a_settler_stopped_between_settling_and_judging_leaves_the_freeze_to_the_next(
    redis: aioredis.Redis,
) -> None:
    desk = Desk(redis)
    t0 = time.time_ns() - 2_000 * MS
    await desk.mid("100", t0 - MS)
    await desk.fill("e1", "99.9", t0)
    await desk.fill("e2", "99.9", t0 + MS)
    await desk.mid("99.8", t0 + 100 * MS)
    now_ms = time.time_ns() // MS
    due = await desk.book.due(now_ms)  # the first holder settles, then dies before judging
    mids = await desk.marks.at_many([(p.symbol, p.due_ns) for p in due])
    values = [
        markout_bps(p.side, p.price, m.mid_or_mark) for p, m in zip(due, mids, strict=True) if m
    ]
    await desk.book.settle(list(zip(due, values, strict=True)), now_ms, judge_horizon_ms=500)
    left = await desk.book.unjudged()

    counted = await desk.settler("r2").run()  # the next holder: nothing new to settle

    assert (left, counted) == ({BTC: 2}, 0)
    status = await desk.risk.trading_state()
    assert status.state is TradingState.FROZEN
    assert status.reason.startswith("markout_edge: markout edge -10.01 bps at +0.5s")
    assert await desk.book.unjudged() == {}  # judged once
