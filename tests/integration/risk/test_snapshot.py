"""`RiskSnapshotReader` over real Redis: what counts as exposure, marks, rate, P&L today."""

from __future__ import annotations

import time
from decimal import Decimal

import pytest
import redis.asyncio as aioredis

from libs.common.domain.enums import OrderType, Side
from libs.common.domain.ids import ClientOrderId, Symbol, VenueOrderId
from libs.common.domain.orders import Order, apply_ack
from libs.common.domain.risk_checks import OpenOrder, RiskLimits, TradingState
from libs.common.domain.time import NS_PER_SECOND
from libs.common.metrics import ALL_SYMBOLS
from libs.common.risk_snapshot import (
    RiskSnapshotReader,
    ensure_pnl_baseline,
    record_order_times,
    utc_day,
    utilisation,
)
from libs.common.stores.marks import Mark
from tests.integration.risk.helpers import BTC, Desk

pytestmark = pytest.mark.integration
D = Decimal
ETH = Symbol("ETHUSDT")


@pytest.fixture
def desk(redis: aioredis.Redis) -> Desk:
    return Desk(redis)


def order(cid: str, qty: str, side: Side = Side.BUY) -> Order:
    return Order(
        client_order_id=ClientOrderId(cid),
        symbol=BTC,
        side=side,
        order_type=OrderType.LIMIT,
        qty=D(qty),
        price=D(100),
        created_ts_ns=1,
        updated_ts_ns=1,
    )


async def test_exposure_counts_approved_orders_only(desk: Desk, redis: aioredis.Redis) -> None:
    await desk.mark("100")
    for cid, qty in (("waiting", "1"), ("approved", "2"), ("working", "3"), ("deciding", "4")):
        await desk.orders.create(order(cid, qty))
    for cid in ("approved", "deciding"):
        await desk.risk.reserve(BTC, Side.BUY, ClientOrderId(cid), D(100), D(10_000))
    await desk.orders.update(ClientOrderId("working"), lambda o: apply_ack(o, None, ts_ns=2))

    view = await RiskSnapshotReader(redis).read(time.time_ns(), exclude={ClientOrderId("deciding")})

    counted = sorted(o.leaves_qty for o in view.snapshot.open_orders[BTC])
    assert counted == [D(2), D(3)]  # Pending without a reservation is not exposure yet
    assert view.reserved_total(BTC, Side.BUY) == D(200)


async def test_stale_marks_stay_out_of_the_snapshot_but_price_the_pnl(
    desk: Desk, redis: aioredis.Redis
) -> None:
    now = time.time_ns()
    stale = Mark(symbol=ETH, mark=D(3_000), ts_ns=now, seen_ns=now - 60 * NS_PER_SECOND)
    await desk.marks.put_many([stale])
    await desk.mark("100")
    await desk.fill("e1", Side.BUY, "1", "2900", symbol=ETH)

    view = await RiskSnapshotReader(redis, mark_max_age_s=30).read(now)

    assert dict(view.snapshot.marks) == {BTC: D(100)}
    assert view.marks[ETH].mark == D(3_000)
    assert view.net_pnl == D(100)


async def test_pnl_today_is_measured_from_the_day_baseline(
    desk: Desk, redis: aioredis.Redis
) -> None:
    now = time.time_ns()
    await desk.mark("100")
    await desk.fill("e1", Side.BUY, "2", "110", fee="0.5")  # net -20.5 at 100
    reader = RiskSnapshotReader(redis)

    before = await reader.read(now)
    baseline = await ensure_pnl_baseline(redis, now, D(-5))
    again = await ensure_pnl_baseline(redis, now, D(-99))  # first writer wins
    after = await reader.read(now)

    assert before.snapshot.pnl_today == 0 and before.pnl_baseline is None
    assert (baseline, again) == (D(-5), D(-5))
    assert after.snapshot.pnl_today == D("-15.5")
    assert utc_day(1_700_000_000 * NS_PER_SECOND) == "20231114"


async def test_recent_order_times_cover_the_last_second(desk: Desk, redis: aioredis.Redis) -> None:
    now = time.time_ns()
    times = [now - 3 * NS_PER_SECOND, now - NS_PER_SECOND // 2, now]
    await record_order_times(
        redis, [(BTC, ClientOrderId(f"o{i}"), ts) for i, ts in enumerate(times)]
    )

    view = await RiskSnapshotReader(redis).read(now, symbols=[BTC])

    recent = view.snapshot.recent_order_ts_ns[BTC]
    assert len(recent) == 2
    assert all(abs(a - b) < 1_000 for a, b in zip(recent, times[1:], strict=True))


async def test_view_carries_state_limits_and_utilisation(desk: Desk, redis: aioredis.Redis) -> None:
    await desk.risk.set_limits(RiskLimits(max_inventory_usd=D(1_000)))
    await desk.risk.set_symbol_overrides(BTC, {"max_inventory_usd": D(500)})
    await desk.risk.set_reducing("test", "ops", 1)
    await desk.mark("100")
    await desk.fill("e1", Side.SELL, "2", "100")
    await desk.orders.create(order("o1", "1", Side.SELL))
    await desk.orders.update(
        ClientOrderId("o1"), lambda o: apply_ack(o, VenueOrderId("v"), ts_ns=2)
    )

    view = await RiskSnapshotReader(redis).read(time.time_ns())
    ratios = utilisation(view)

    assert view.status.state is TradingState.REDUCING
    assert view.limits(BTC).max_inventory_usd == D(500)
    assert view.snapshot.open_orders[BTC] == (
        OpenOrder(side=Side.SELL, leaves_qty=D(1), price=D(100)),
    )
    assert ratios[("max_inventory_usd", BTC)] == pytest.approx(300 / 500)
    assert ratios[("max_open_orders_per_symbol", BTC)] == pytest.approx(1 / 50)
    assert ratios[("max_total_notional", ALL_SYMBOLS)] == pytest.approx(300 / 50_000)
    assert ratios[("daily_loss_limit", ALL_SYMBOLS)] == 0
