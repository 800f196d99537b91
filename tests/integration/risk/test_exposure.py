"""Exposure is exact and never under-counted: amends, instances racing, fills not yet folded.

Real Redis and the real risk service (in-process lifespans); records, fills and folds are
written as the gateway, router and positions write them.
"""

from __future__ import annotations

import asyncio
import time
from decimal import Decimal

import pytest
import redis.asyncio as aioredis

from libs.common import topology
from libs.common.domain.enums import Side
from libs.common.domain.exposure import FROZEN_REASON, from_units
from libs.common.domain.ids import DEFAULT_ACCOUNT, ExecId, Symbol, VenueOrderId
from libs.common.domain.orders import apply_ack, apply_fill
from libs.common.messages import AmendOrder, OrderAmendRejected, OrderApproved, OrderDenied
from tests.integration.bus.helpers import wait_until
from tests.integration.risk.helpers import BTC, Desk, handled, running_risk

pytestmark = pytest.mark.integration
D = Decimal
ETH = Symbol("ETHUSDT")


@pytest.fixture
def desk(redis: aioredis.Redis) -> Desk:
    return Desk(redis)


async def _approved(desk: Desk) -> list[OrderApproved]:
    return list(await desk.messages(topology.ORDERS_APPROVED.of(DEFAULT_ACCOUNT), OrderApproved))


async def _decided(desk: Desk, n: int) -> bool:
    denied = await desk.messages(topology.ORDERS_EVENTS.of(DEFAULT_ACCOUNT), OrderDenied)
    return len(await _approved(desk)) + len(denied) >= n


async def test_an_amend_past_the_total_notional_is_denied_and_reserves_nothing(
    desk: Desk, redis_url: str
) -> None:
    await desk.limits(max_total_notional=D(1_000), max_inventory_usd=D(10_000))
    await desk.mark("100")
    await desk.mark("10", symbol=ETH)
    await desk.fill("f1", Side.BUY, "60", "10", symbol=ETH)  # ETH long 600 USD

    async with running_risk(redis_url):
        command, _ = await desk.place("3", "100")  # BTC 300: total 900
        await wait_until(lambda: _decided(desk, 1))
        cid = command.client_order_id
        await desk.orders.update(cid, lambda o: apply_ack(o, VenueOrderId("v1"), ts_ns=1))
        past = await desk.send(AmendOrder(client_order_id=cid, symbol=BTC, qty=D(5)))
        await wait_until(
            lambda: _count(desk, topology.ORDERS_EVENTS.of(DEFAULT_ACCOUNT), OrderAmendRejected, 1)
        )

    (refusal,) = await desk.messages(topology.ORDERS_EVENTS.of(DEFAULT_ACCOUNT), OrderAmendRejected)
    assert refusal.reason == "total notional would be 1100 USD, limit 1000 USD"
    approved = [e.event_id for e in await desk.read(topology.ORDERS_APPROVED.of(DEFAULT_ACCOUNT))]
    assert past.event_id not in approved
    assert await desk.reserved_usd() == D(300)
    record = await desk.orders.get(cid)
    assert record is not None and record.amend_qty is None


async def test_an_amend_up_is_reserved_before_the_router_sends_it(
    desk: Desk, redis_url: str
) -> None:
    await desk.limits(max_inventory_usd=D(1_000))
    await desk.mark("100")

    async with running_risk(redis_url):
        command, _ = await desk.place("5", "100")
        await wait_until(lambda: _decided(desk, 1))
        cid = command.client_order_id
        await desk.orders.update(cid, lambda o: apply_ack(o, VenueOrderId("v1"), ts_ns=1))
        await desk.send(AmendOrder(client_order_id=cid, symbol=BTC, qty=D(8)))
        await wait_until(lambda: _reserved(desk, D(800)))
        other, _ = await desk.place("3", "100")  # 800 + 300 > 1000: the amend counts
        await wait_until(lambda: _decided(desk, 2))

    (denial,) = await desk.messages(topology.ORDERS_EVENTS.of(DEFAULT_ACCOUNT), OrderDenied)
    assert denial.client_order_id == other.client_order_id
    assert denial.reason.startswith("inventory BTCUSDT Buy would be 1100 USD")


async def test_two_instances_racing_on_different_symbols_never_pass_the_total(
    desk: Desk, redis_url: str
) -> None:
    await desk.limits(max_total_notional=D(2_000), max_inventory_usd=D(10_000))
    await desk.mark("100")
    await desk.mark("10", symbol=ETH)

    async with (
        running_risk(redis_url, batch_size=2) as first,
        running_risk(redis_url, batch_size=2) as second,
    ):
        await asyncio.gather(  # interleaved: both instances get both symbols
            *(
                desk.place("1", "100") if k % 2 else desk.place("10", "10", symbol=ETH)
                for k in range(40)
            )
        )
        await wait_until(lambda: _decided(desk, 40), timeout_s=30)
        counts = [handled(first), handled(second)]

    approved = await _approved(desk)
    notional = sum(m.order.qty * (m.order.price or 0) for m in approved)
    symbols = {m.order.symbol for m in approved}
    assert notional == D(2_000) and len(approved) == 20
    assert symbols == {BTC, ETH}
    books = await desk.ledger.books([BTC, ETH])
    assert sum(from_units(b.buy) for b in books.values()) == D(2_000)
    assert all(count > 0 for count in counts), f"both instances decided orders: {counts}"


async def test_a_reported_fill_counts_until_positions_folds_it_then_lag_denies_everything(
    desk: Desk, redis_url: str
) -> None:
    await desk.limits(max_inventory_usd=D(1_000), max_positions_lag_s=D("0.3"))
    await desk.mark("100")

    async with running_risk(redis_url):
        command, _ = await desk.place("8", "100")
        await wait_until(lambda: _decided(desk, 1))
        cid = command.client_order_id
        await desk.orders.update(cid, lambda o: apply_ack(o, VenueOrderId("v1"), ts_ns=1))
        await desk.report_fill("x1", "8")  # as the router: claimed, counted, published
        await desk.orders.update(
            cid, lambda o: apply_fill(o, ExecId("x1"), D(8), D(100), ts_ns=2)
        )  # Filled: the order counts no more, the fill still does until positions folds it
        assert await desk.reserved_usd() == 0
        inventory, _ = await desk.place("3", "100")
        await wait_until(lambda: _decided(desk, 2))
        await asyncio.sleep(0.4)  # past max_positions_lag_s with the fill still unfolded
        lagging, _ = await desk.place("1", "100", side=Side.SELL)
        await wait_until(lambda: _decided(desk, 3))
        await desk.fill("x1", Side.BUY, "8", "100")  # positions folds it at last
        folded, _ = await desk.place("1", "100")
        await wait_until(lambda: _decided(desk, 4))

    reasons = {d.client_order_id: d.reason for d in await desk.messages(
        topology.ORDERS_EVENTS.of(DEFAULT_ACCOUNT), OrderDenied
    )}  # fmt: skip
    assert reasons[inventory.client_order_id].startswith("inventory BTCUSDT Buy would be 1100")
    assert reasons[lagging.client_order_id].startswith("positions lag: a reported fill has")
    assert folded.client_order_id not in reasons
    assert (await desk.ledger.books([BTC]))[BTC].unfolded_buy == 0


async def test_frozen_in_the_admission_step_denies_orders_checked_just_before(
    desk: Desk, redis_url: str
) -> None:
    await desk.limits()
    await desk.mark("100")
    await desk.risk.freeze("manual: test", "ops", time.time_ns())

    async with running_risk(redis_url):
        command, _ = await desk.place("1", "100")
        await wait_until(lambda: _decided(desk, 1))

    (denial,) = await desk.messages(topology.ORDERS_EVENTS.of(DEFAULT_ACCOUNT), OrderDenied)
    assert (denial.client_order_id, denial.reason) == (command.client_order_id, FROZEN_REASON)


async def _count(desk: Desk, stream: topology.Stream, kind: type, n: int) -> bool:
    return len(await desk.messages(stream, kind)) >= n


async def _reserved(desk: Desk, usd: Decimal) -> bool:
    return await desk.reserved_usd() == usd


async def test_a_venues_own_inventory_limit_denies_there_and_admits_elsewhere(
    desk: Desk, redis_url: str
) -> None:
    await desk.limits(max_inventory_usd=D(10_000), max_inventory_usd_binance_usdm=D(300))
    await desk.mark("100")

    async with running_risk(redis_url, venues="bybit,binance-usdm"):
        await desk.place("2", "100", venue="binance-usdm")  # 200 USD there
        await desk.place("2", "100", venue="binance-usdm")  # 400: past its own 300
        await desk.place("5", "100", venue="bybit")  # Bybit has no limit of its own
        await wait_until(lambda: _decided(desk, 3))

    approved = [(m.order.venue, m.order.qty) for m in await _approved(desk)]
    denied = await desk.messages(topology.ORDERS_EVENTS.of(DEFAULT_ACCOUNT), OrderDenied)
    assert sorted(approved) == [("binance-usdm", D(2)), ("bybit", D(5))]  # two consumers
    assert [d.reason for d in denied] == [
        "inventory BTCUSDT Buy at binance-usdm would be 400 USD, limit 300 USD at binance-usdm"
    ]
