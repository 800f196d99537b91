"""`RiskReader` over real Redis: terms for the ledger, marks, P&L today, utilisation."""

from __future__ import annotations

import time
from decimal import Decimal

import pytest
import redis.asyncio as aioredis

from libs.common.domain.enums import OrderType, Side
from libs.common.domain.exposure import position_units, to_units
from libs.common.domain.ids import DEFAULT_ACCOUNT, ClientOrderId, Symbol, VenueOrderId
from libs.common.domain.orders import Order, admit, apply_ack
from libs.common.domain.risk_checks import RiskLimits, TradingState
from libs.common.domain.time import NS_PER_SECOND
from libs.common.metrics import ALL_SYMBOLS
from libs.common.risk_view import RiskReader, ensure_pnl_baseline, utc_day, utilisation
from libs.common.stores.marks import Mark
from tests.integration.risk.helpers import BTC, Desk

pytestmark = pytest.mark.integration
D = Decimal
ETH = Symbol("ETHUSDT")


@pytest.fixture
def desk(redis: aioredis.Redis) -> Desk:
    return Desk(redis)


def reader(desk: Desk, mark_max_age_s: float = 30.0) -> RiskReader:
    return RiskReader(desk.redis, ledger=desk.ledger, mark_max_age_s=mark_max_age_s)


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


async def test_terms_value_the_position_at_a_fresh_mark_with_its_version(desk: Desk) -> None:
    await desk.mark("100")
    await desk.fill("e1", Side.SELL, "2", "100")

    view = await reader(desk).read(time.time_ns())

    terms = view.terms(BTC)
    assert terms is not None
    assert (terms.position, terms.position_version) == (position_units(D(-2), D(100)), 1)
    assert terms.inventory_limit == to_units(RiskLimits().max_inventory_usd, round_up=False)


async def test_a_position_without_a_fresh_mark_has_no_terms_but_still_prices_the_pnl(
    desk: Desk,
) -> None:
    now = time.time_ns()
    stale = Mark(symbol=ETH, mark=D(3_000), ts_ns=now, seen_ns=now - 60 * NS_PER_SECOND)
    await desk.marks.put_many([stale])
    await desk.mark("100")
    await desk.fill("e1", Side.BUY, "1", "2900", symbol=ETH)

    view = await reader(desk, mark_max_age_s=30).read(now)

    assert dict(view.fresh) == {BTC: D(100)}
    assert view.terms(ETH) is None
    assert view.marks[ETH].mark == D(3_000)
    assert view.net_pnl == D(100)


async def test_pnl_today_is_measured_from_the_day_baseline(desk: Desk) -> None:
    now = time.time_ns()
    await desk.mark("100")
    await desk.fill("e1", Side.BUY, "2", "110", fee="0.5")  # net -20.5 at 100

    before = await reader(desk).read(now)
    baseline = await ensure_pnl_baseline(desk.redis, DEFAULT_ACCOUNT, now, D(-5))
    again = await ensure_pnl_baseline(desk.redis, DEFAULT_ACCOUNT, now, D(-99))  # first writer wins
    after = await reader(desk).read(now)

    assert before.pnl_today == 0 and before.pnl_baseline is None
    assert (baseline, again) == (D(-5), D(-5))
    assert after.pnl_today == D("-15.5")
    assert utc_day(1_700_000_000 * NS_PER_SECOND) == "20231114"


async def test_view_carries_state_limits_books_and_utilisation(desk: Desk) -> None:
    await desk.risk.set_limits(RiskLimits(max_inventory_usd=D(1_000)))
    await desk.risk.set_symbol_overrides(BTC, {"max_inventory_usd": D(500)})
    await desk.risk.set_reducing("test", "ops", 1)
    await desk.mark("100")
    await desk.fill("e1", Side.SELL, "2", "100")
    await desk.orders.create(order("o1", "1", Side.SELL))
    cid = ClientOrderId("o1")
    await desk.orders.update(cid, lambda o: admit(o, D(100), ts_ns=2))
    await desk.orders.update(cid, lambda o: apply_ack(o, VenueOrderId("v"), ts_ns=3))

    view = await reader(desk).read(time.time_ns(), books=True)
    ratios = utilisation(view)

    assert view.status.state is TradingState.REDUCING
    assert view.limits(BTC).max_inventory_usd == D(500)
    assert view.books[BTC].sell == to_units(D(100), round_up=True)
    assert ratios[("max_inventory_usd", BTC)] == pytest.approx(300 / 500)
    assert ratios[("max_open_orders_per_symbol", BTC)] == pytest.approx(1 / 50)
    assert ratios[("max_total_notional", ALL_SYMBOLS)] == pytest.approx(300 / 50_000)
    assert ratios[("daily_loss_limit", ALL_SYMBOLS)] == 0
    assert ratios[("max_positions_lag_s", ALL_SYMBOLS)] == 0
