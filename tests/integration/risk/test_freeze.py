"""Risk freezes trading on collapsed edge (reported or measured) and on the daily loss, and
goes REDUCING on the soft daily loss."""

from __future__ import annotations

import asyncio
import time
from decimal import Decimal

import pytest
import redis.asyncio as aioredis

from libs.common import topology
from libs.common.domain.enums import Side
from libs.common.domain.ids import DEFAULT_ACCOUNT, ExecId, Symbol, VenueOrderId
from libs.common.domain.risk_checks import FreezeClass, TradingState
from libs.common.messages import (
    EdgeMeasured,
    FreezeTrading,
    OrderFilled,
    ReportEdge,
    TradingStateChanged,
)
from libs.common.risk_view import utc_day
from libs.common.service import ServiceRuntime
from libs.common.topology import keys_of
from tests.integration.bus.helpers import wait_until
from tests.integration.risk.helpers import BTC, Desk, handled, running_risk, sample

pytestmark = pytest.mark.integration


@pytest.fixture
def desk(redis: aioredis.Redis) -> Desk:
    return Desk(redis)


async def test_reported_edge_below_threshold_freezes_once_across_two_instances(
    desk: Desk, redis_url: str
) -> None:
    await desk.limits(edge_freeze_threshold_bps=Decimal(200))
    report = ReportEdge(symbol=BTC, edge_bps=Decimal("150.5"), source="mm-demo")

    async with (
        running_risk(redis_url, batch_size=1) as first,
        running_risk(redis_url, batch_size=1) as second,
    ):
        for _ in range(100):  # until both instances have handled reports
            await desk.send(report)
            await asyncio.sleep(0.005)
            if min(handled(first), handled(second)) >= 2:
                break
        await wait_until(lambda: _all_handled(desk, first, second))
        freezes = [_freezes(r, "edge_collapse") for r in (first, second)]
        gauge = sample(first, "edge_bps", symbol=BTC, source="reported")

    assert min(handled(first), handled(second)) >= 2
    assert sum(freezes) == 1
    (changed,) = await desk.messages(topology.CONTROL.desk, TradingStateChanged)
    assert changed.state is TradingState.FROZEN
    assert changed.reason.startswith("edge_collapse: reported edge 150.5 bps on BTCUSDT")
    assert (await desk.risk.trading_state()).state is TradingState.FROZEN
    assert gauge == 150.5


async def test_reported_edge_at_or_above_threshold_leaves_trading_active(
    desk: Desk, redis_url: str
) -> None:
    await desk.limits(edge_freeze_threshold_bps=Decimal(200))

    async with running_risk(redis_url) as risk:
        await desk.send(ReportEdge(symbol=BTC, edge_bps=Decimal(200), source="mm-demo"))
        await wait_until(lambda: sample(risk, "edge_bps", symbol=BTC, source="reported") == 200)

    assert (await desk.risk.trading_state()).state is TradingState.ACTIVE
    assert await desk.read(topology.CONTROL.desk) == []


async def test_an_edge_report_is_taken_on_a_desk_without_the_default_account(
    desk: Desk, redis_url: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("MMX_ACCOUNTS", "alpha")
    await desk.limits(edge_freeze_threshold_bps=Decimal(200))

    async with running_risk(redis_url) as risk:
        report = ReportEdge(symbol=BTC, edge_bps=Decimal(250), source="mm-alpha")
        await desk.send(report, topology.ORDERS_REQUESTS.desk)  # where the gateway sends it
        await wait_until(lambda: sample(risk, "edge_bps", symbol=BTC, source="reported") == 250)

    assert await desk.read(topology.ORDERS_REQUESTS.desk.dlq) == []


async def test_measured_edge_collapse_freezes_without_any_report(
    desk: Desk, redis_url: str
) -> None:
    await desk.limits(edge_freeze_threshold_bps=Decimal(0))
    await desk.mark("100", spread="1")  # mid 100
    fills = [_fill(f"e{i}", Side.BUY, "100.4") for i in range(3)]  # -40 bps each

    async with running_risk(redis_url, edge_min_fills=3, edge_window_fills=5) as risk:
        for fill in fills[:2]:
            await desk.send(fill, topology.ORDERS_EVENTS.of(DEFAULT_ACCOUNT))
        await wait_until(lambda: _count(desk, EdgeMeasured, 2))
        await asyncio.sleep(0.05)
        state_after_two = (await desk.risk.trading_state()).state
        await desk.send(fills[2], topology.ORDERS_EVENTS.of(DEFAULT_ACCOUNT))
        await wait_until(lambda: _frozen(desk))
        gauge = sample(risk, "edge_bps", symbol=BTC, source="measured")
        freezes = _freezes(risk, "edge_collapse")

    assert state_after_two is TradingState.ACTIVE  # fewer than edge_min_fills fills
    measured = await desk.messages(topology.ORDERS_EVENTS.of(DEFAULT_ACCOUNT), EdgeMeasured)
    assert [(m.exec_id, m.mid, m.edge_bps) for m in measured] == [
        (f"e{i}", Decimal(100), Decimal(-40)) for i in range(3)
    ]
    status = await desk.risk.trading_state()
    assert status.reason == (
        "edge_collapse: measured edge -40.00 bps on BTCUSDT over its last 3 fills "
        "is below the threshold 0 bps"
    )
    assert (gauge, freezes) == (-40.0, 1)


async def test_measured_edge_weighs_fills_by_size_and_counts_a_replayed_fill_once(
    desk: Desk, redis_url: str
) -> None:
    await desk.limits(edge_freeze_threshold_bps=Decimal(-100))
    await desk.mark("100", spread="1")
    big = _fill("big", Side.SELL, "100.2", qty="3")  # +20 bps on 300.6 USD
    small = _fill("small", Side.BUY, "100.5", qty="1")  # -50 bps on 100.5 USD

    async with running_risk(redis_url) as risk:
        for fill in (big, small, small):
            await desk.send(fill, topology.ORDERS_EVENTS.of(DEFAULT_ACCOUNT))
        await wait_until(lambda: _count(desk, EdgeMeasured, 3))
        await wait_until(lambda: handled(risk, "orders.events") == 6)  # 3 fills, 3 EdgeMeasured
        gauge = sample(risk, "edge_bps", symbol=BTC, source="measured")

    expected = (Decimal("300.6") * 20 + Decimal("100.5") * -50) / Decimal("401.1")
    assert gauge == pytest.approx(float(expected))
    measured = [
        e
        for e in await desk.read(topology.ORDERS_EVENTS.of(DEFAULT_ACCOUNT))
        if e.type == "EdgeMeasured"
    ]
    assert len({e.event_id for e in measured}) == 2  # the replay is announced under its id
    assert (await desk.risk.trading_state()).state is TradingState.ACTIVE


async def test_daily_loss_freezes_once_and_not_again_after_an_operator_resumes(
    desk: Desk, redis: aioredis.Redis, redis_url: str
) -> None:
    await desk.limits(daily_loss_limit=Decimal(50))
    await desk.mark("100")
    day_key = keys_of(DEFAULT_ACCOUNT).pnl_baseline(utc_day(time.time_ns()))

    async with running_risk(redis_url) as risk:
        await wait_until(lambda: _exists(redis, day_key))  # the day's baseline: flat, 0
        await desk.fill("f1", Side.BUY, "10", "100", fee="1")
        await desk.fill("f2", Side.SELL, "10", "95.1", fee="1")  # realized -49, fees 2
        await wait_until(lambda: _frozen(desk))
        status = await desk.risk.trading_state()
        await desk.risk.unfreeze("operator checked", "ops", time.time_ns(), 0)
        await asyncio.sleep(0.3)  # several refreshes
        state_after_resume = (await desk.risk.trading_state()).state
        freezes = _freezes(risk, "daily_loss")
        ratio = sample(risk, "risk_utilisation_ratio", limit="daily_loss_limit", symbol="ALL")

    assert status.reason == ("daily_loss: P&L today -51.00 USD reached the daily loss limit 50 USD")
    assert state_after_resume is TradingState.ACTIVE
    assert freezes == 1
    assert ratio == pytest.approx(51 / 50)


async def test_daily_loss_at_the_soft_limit_reduces_and_at_the_limit_freezes(
    desk: Desk, redis: aioredis.Redis, redis_url: str
) -> None:
    await desk.limits(daily_loss_limit=Decimal(50), daily_loss_soft_limit=Decimal(20))
    await desk.mark("100")
    day_key = keys_of(DEFAULT_ACCOUNT).pnl_baseline(utc_day(time.time_ns()))

    async with running_risk(redis_url) as risk:
        await wait_until(lambda: _exists(redis, day_key))
        await desk.fill("f1", Side.BUY, "10", "100", fee="1")
        await desk.fill("f2", Side.SELL, "10", "98", fee="1")  # realized -20, fees 2
        await wait_until(lambda: _state_is(desk, TradingState.REDUCING))
        reducing = await desk.risk.trading_state()
        await desk.fill("f3", Side.BUY, "10", "100", fee="1")
        await desk.fill("f4", Side.SELL, "10", "97", fee="1")  # realized -30, fees 2 more
        await wait_until(lambda: _frozen(desk))
        frozen = await desk.risk.trading_state()
        counts = (_freezes(risk, "daily_loss_soft"), _freezes(risk, "daily_loss"))

    assert reducing.reason == (
        "daily_loss_soft: P&L today -22.00 USD reached the soft daily loss limit 20 USD: only "
        "orders that reduce a position until an operator resumes trading"
    )
    assert (reducing.code, reducing.freeze_class) == ("daily_loss_soft", FreezeClass.HARD)
    assert frozen.reason == "daily_loss: P&L today -54.00 USD reached the daily loss limit 50 USD"
    announced = await desk.messages(topology.CONTROL.desk, TradingStateChanged)
    assert [m.state for m in announced] == [TradingState.REDUCING, TradingState.FROZEN]
    assert counts == (1, 1)


async def test_the_soft_daily_loss_reducing_waits_for_an_operator_then_not_again_that_day(
    desk: Desk, redis: aioredis.Redis, redis_url: str
) -> None:
    await desk.limits(daily_loss_limit=Decimal(50), daily_loss_soft_limit=Decimal(20))
    await desk.mark("100")
    day_key = keys_of(DEFAULT_ACCOUNT).pnl_baseline(utc_day(time.time_ns()))
    fast_recovery = {"recovery_check_interval_s": 0.02, "recovery_clear_s": 0.05,
                     "recovery_warmup_s": 0.05}  # fmt: skip

    async with running_risk(redis_url, **fast_recovery):
        await wait_until(lambda: _exists(redis, day_key))
        await desk.fill("f1", Side.BUY, "10", "100")
        await desk.fill("f2", Side.SELL, "10", "97.5")  # realized -25
        await wait_until(lambda: _state_is(desk, TradingState.REDUCING))
        await asyncio.sleep(0.5)  # ten auto-recovery clear times and warm-ups
        state_before_operator = (await desk.risk.trading_state()).state
        await desk.risk.unfreeze("operator checked the loss", "ops", time.time_ns(), 0)
        await asyncio.sleep(0.3)  # several refreshes
        state_after_resume = (await desk.risk.trading_state()).state

    assert state_before_operator is TradingState.REDUCING
    assert state_after_resume is TradingState.ACTIVE
    assert len(await desk.risk.freeze_history()) == 2


async def test_gauges_follow_the_shared_state(desk: Desk, redis_url: str) -> None:
    await desk.limits(max_inventory_usd=Decimal(1_000), edge_freeze_threshold_bps=Decimal(25))
    await desk.mark("100")
    await desk.fill("f1", Side.BUY, "4", "100")

    async with running_risk(redis_url) as risk:
        await wait_until(lambda: _inventory_ratio(risk) == 0.4)
        await desk.send(FreezeTrading(reason="ops drill", actor="ops"))
        await wait_until(lambda: sample(risk, "trading_state", state="FROZEN") == 1)
        threshold = sample(risk, "edge_threshold_bps", symbol=BTC)
        active = sample(risk, "trading_state", state="ACTIVE")
        manual = _freezes(risk, "manual")

    assert (threshold, active, manual) == (25.0, 0.0, 1.0)


def _fill(exec_id: str, side: Side, price: str, *, qty: str = "1") -> OrderFilled:
    return OrderFilled(
        client_order_id=None,
        venue_order_id=VenueOrderId("v-" + exec_id),
        symbol=Symbol(BTC),
        exec_id=ExecId(exec_id),
        side=side,
        qty=Decimal(qty),
        price=Decimal(price),
        fee=Decimal(0),
        is_maker=True,
        ts_event_ns=time.time_ns(),
    )


async def _count(desk: Desk, kind: type, n: int) -> bool:
    return len(await desk.messages(topology.ORDERS_EVENTS.of(DEFAULT_ACCOUNT), kind)) >= n


async def _exists(redis: aioredis.Redis, key: str) -> bool:
    return bool(await redis.exists(key))


async def _frozen(desk: Desk) -> bool:
    return (await desk.risk.trading_state()).state is TradingState.FROZEN


async def _state_is(desk: Desk, state: TradingState) -> bool:
    return (await desk.risk.trading_state()).state is state


async def _all_handled(desk: Desk, *runtimes: ServiceRuntime) -> bool:
    sent = len(await desk.read(topology.ORDERS_REQUESTS.of(DEFAULT_ACCOUNT)))
    return sum(handled(r) for r in runtimes) >= sent


def _freezes(runtime: ServiceRuntime, reason: str) -> float:
    return sample(runtime, "freeze_triggered_total", reason=reason)


def _inventory_ratio(runtime: ServiceRuntime) -> float:
    return sample(runtime, "risk_utilisation_ratio", limit="max_inventory_usd", symbol=BTC)
