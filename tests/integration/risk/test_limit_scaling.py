"""Dynamic limits against real Redis: a volatility spike tightens the limits so that an order
that passed before is denied; a schedule window scales them from its first instant; every
change the rule makes is announced on `audit` once, with its reason."""

from __future__ import annotations

import datetime as dt
import time
from decimal import Decimal

import pytest
import redis.asyncio as aioredis

from libs.common import topology
from libs.common.bus import Bus
from libs.common.domain.ids import DEFAULT_ACCOUNT
from libs.common.domain.limit_scaling import ScalingRule, VolatilityRule, Window
from libs.common.domain.risk_checks import RiskLimits
from libs.common.messages import LimitsScaled, OrderApproved, OrderDenied
from libs.common.risk_view import RiskReader
from libs.common.service import EnvelopeCodec, ServiceRuntime
from libs.common.stores import RedisLeaseStore, volatility
from libs.common.stores.exposure_redis import RedisExposureLedger
from libs.common.stores.leases import TickLease
from libs.common.stores.marks import Mark
from services.risk.scaling import SCALING_LEASE, LimitScaler
from tests.integration.bus.helpers import wait_until
from tests.integration.risk.helpers import BTC, Desk, running_risk, sample

pytestmark = pytest.mark.integration

S = 10**9
SPIKY = VolatilityRule(
    limits=("max_order_notional",), reference_bps=Decimal(20), floor=Decimal("0.25"), half_life_s=10
)
FUNDING = Window(
    name="funding",
    start="08:00",
    end="08:30",
    factor=Decimal("0.5"),
    limits=("max_total_notional", "max_inventory_usd"),
)


@pytest.fixture
def desk(redis: aioredis.Redis) -> Desk:
    return Desk(redis)


async def put_mark(desk: Desk, price: str, ts_ns: int) -> None:
    value = Decimal(price)
    mark = Mark.of(
        BTC, ts_ns=ts_ns, seen_ns=time.time_ns(), mark=value, bid=value - 1, ask=value + 1
    )
    assert mark is not None
    await desk.marks.put_many([mark])


async def observed(desk: Desk, ts_ns: int) -> bool:
    entry = (await volatility.read_all(desk.redis)).get(BTC)
    return entry is not None and entry.estimate.ts_ns == ts_ns


async def test_a_volatility_spike_tightens_the_limits_and_an_order_that_passed_before_is_denied(
    desk: Desk, redis_url: str
) -> None:
    limits = RiskLimits(max_order_notional=Decimal(1000), max_orders_per_second=1000)
    await desk.risk.set_limits(limits, scaling=ScalingRule(volatility=SPIKY))
    t0 = time.time_ns()

    async with running_risk(redis_url, scaling_interval_s=0.05) as risk:
        for second, price in enumerate(["100", "100.01", "100"]):  # 1 bp a second: calm
            await put_mark(desk, price, t0 + second * S)
            await wait_until(lambda s=second: observed(desk, t0 + s * S))
        await desk.place("9", "100")
        await wait_until(lambda: _count(desk, OrderApproved, 1))
        for second, price in [(3, "103"), (4, "98")]:  # 3% and 5% a second
            await put_mark(desk, price, t0 + second * S)
            await wait_until(lambda s=second: observed(desk, t0 + s * S))
        await desk.place("9", "98")
        await wait_until(lambda: _denied(desk, 1))
        await wait_until(lambda: _gauge_is(risk, "risk_limit", 250))
        bps = sample(risk, "realised_volatility_bps", symbol=BTC)

    (denied,) = await desk.messages(topology.ORDERS_EVENTS.of(DEFAULT_ACCOUNT), OrderDenied)
    assert denied.reason == "order notional BTCUSDT 882 USD is above the limit 250 USD"
    (scaled,) = await desk.messages(topology.AUDIT, LimitsScaled)
    assert (scaled.symbol, scaled.factors) == (BTC, {"max_order_notional": Decimal("0.25")})
    assert scaled.limits == {"max_order_notional": Decimal(250)}
    assert scaled.reason == "volatility x0.25"
    assert bps > 4 * 20  # reference / realised below the floor


async def test_the_scaler_announces_a_window_once_when_it_opens_and_once_when_it_closes(
    desk: Desk, redis: aioredis.Redis
) -> None:
    await desk.risk.set_limits(RiskLimits(), scaling=ScalingRule(schedule=(FUNDING,)))
    opens = int(dt.datetime(2026, 12, 4, 8, 0, tzinfo=dt.UTC).timestamp()) * S
    now = [opens - 1]
    scaler = LimitScaler(
        redis=redis,
        risk=desk.risk,
        marks=desk.marks,
        reader=RiskReader(redis, ledger=RedisExposureLedger(redis)),
        lease=TickLease(RedisLeaseStore(redis), SCALING_LEASE, "risk-a", 5_000),
        bus=Bus(redis, EnvelopeCodec()),
        clock=lambda: now[0],
    )
    await desk.mark("60000")

    before = await scaler.run()
    now[0] = opens
    opening = await scaler.run()
    again = await scaler.run()
    now[0] = opens + 30 * 60 * S
    closing = await scaler.run()

    assert before == [] and again == []
    assert [(e.symbol, e.factors, e.limits, e.reason) for e in opening] == [
        (
            "ALL",
            {"max_total_notional": Decimal("0.5"), "max_inventory_usd": Decimal("0.5")},
            {"max_inventory_usd": Decimal(5_000), "max_total_notional": Decimal(25_000)},
            "window funding x0.5",
        ),
        (
            BTC,
            {"max_total_notional": Decimal("0.5"), "max_inventory_usd": Decimal("0.5")},
            {"max_inventory_usd": Decimal(5_000), "max_total_notional": Decimal(25_000)},
            "window funding x0.5",
        ),
    ]
    assert [(e.symbol, e.factors, e.reason) for e in closing] == [
        ("ALL", {}, "nothing scales: as configured"),
        (BTC, {}, "nothing scales: as configured"),
    ]
    assert closing[0].limits["max_total_notional"] == 50_000
    audited = await desk.messages(topology.AUDIT, LimitsScaled)
    assert audited == [*opening, *closing]


async def test_a_schedule_window_scales_the_checks_from_its_first_nanosecond(
    desk: Desk, redis: aioredis.Redis
) -> None:
    await desk.risk.set_limits(RiskLimits(), scaling=ScalingRule(schedule=(FUNDING,)))
    await desk.mark("60000")
    reader = RiskReader(redis, ledger=RedisExposureLedger(redis))
    opens = int(dt.datetime(2026, 12, 4, 8, 0, tzinfo=dt.UTC).timestamp()) * S

    before, at = await reader.read(opens - 1), await reader.read(opens)

    assert before.limits(BTC).max_inventory_usd == 10_000
    assert before.desk_terms().total_limit == 2 * at.desk_terms().total_limit
    assert at.limits(BTC).max_inventory_usd == 5_000
    assert at.configured_desk_limits == RiskLimits()
    terms_before, terms_at = before.terms(BTC), at.terms(BTC)
    assert terms_before is not None and terms_at is not None
    assert terms_at.inventory_limit * 2 == terms_before.inventory_limit


async def _count(desk: Desk, kind: type[OrderApproved], n: int) -> bool:
    return len(await desk.messages(topology.ORDERS_APPROVED.of(DEFAULT_ACCOUNT), kind)) >= n


async def _denied(desk: Desk, n: int) -> bool:
    return len(await desk.messages(topology.ORDERS_EVENTS.of(DEFAULT_ACCOUNT), OrderDenied)) >= n


async def _gauge_is(risk: ServiceRuntime, name: str, value: float) -> bool:
    return sample(risk, name, limit="max_order_notional", symbol=BTC) == value
