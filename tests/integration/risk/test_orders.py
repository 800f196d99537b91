"""Risk decides orders against real Redis: approvals, denials, reservations, cancels, amends."""

from __future__ import annotations

import asyncio
import time
from decimal import Decimal

import pytest
import redis.asyncio as aioredis

from libs.common import topology
from libs.common.bus import read_dead_letters
from libs.common.domain.enums import Side
from libs.common.domain.ids import DEFAULT_ACCOUNT, VenueOrderId
from libs.common.domain.orders import apply_ack, apply_cancel
from libs.common.domain.risk_checks import TradingState
from libs.common.messages import (
    AmendOrder,
    CancelAllOrders,
    CancelOrder,
    OrderAmendRejected,
    OrderApproved,
    OrderDenied,
    UnfreezeTrading,
)
from tests.integration.bus.helpers import wait_until
from tests.integration.risk.helpers import BTC, Desk, handled, running_risk, sample

pytestmark = pytest.mark.integration


@pytest.fixture
def desk(redis: aioredis.Redis) -> Desk:
    return Desk(redis)


async def test_order_within_limits_is_approved_and_reserves_its_notional(
    desk: Desk, redis_url: str
) -> None:
    await desk.limits()
    await desk.mark("100")

    async with running_risk(redis_url):
        command, envelope = await desk.place("2", "100.5")
        await wait_until(
            lambda: _count(desk, topology.ORDERS_APPROVED.of(DEFAULT_ACCOUNT), OrderApproved, 1)
        )

    (approved,) = await desk.read(topology.ORDERS_APPROVED.of(DEFAULT_ACCOUNT))
    assert approved.open_as(OrderApproved).order == command
    assert approved.event_id == envelope.event_id  # the router can dedupe a redelivery
    assert await desk.status_of(command.client_order_id) == "Pending"
    assert await desk.reserved_usd() == Decimal("201")
    assert await desk.read(topology.ORDERS_EVENTS.of(DEFAULT_ACCOUNT)) == []


async def test_order_over_max_inventory_is_denied_with_reason_and_trading_stays_active(
    desk: Desk, redis_url: str
) -> None:
    await desk.limits(max_inventory_usd=Decimal(1_000))
    await desk.mark("100")

    async with running_risk(redis_url) as risk:
        command, _ = await desk.place("20", "100")
        await wait_until(
            lambda: _count(desk, topology.ORDERS_EVENTS.of(DEFAULT_ACCOUNT), OrderDenied, 1)
        )
        denied_metric = sample(
            risk, "orders_denied_total", symbol=BTC, side="Buy", reason="inventory"
        )

    (denial,) = await desk.messages(topology.ORDERS_EVENTS.of(DEFAULT_ACCOUNT), OrderDenied)
    assert denial.client_order_id == command.client_order_id
    assert denial.reason == "inventory BTCUSDT Buy would be 2000 USD, limit 1000 USD"
    assert await desk.status_of(command.client_order_id) == "Rejected"
    assert (await desk.risk.trading_state()).state is TradingState.ACTIVE
    assert await desk.read(topology.ORDERS_APPROVED.of(DEFAULT_ACCOUNT)) == []
    assert await desk.reserved_usd() == 0
    assert denied_metric == 1


async def test_concurrent_orders_on_two_instances_never_approve_past_the_inventory_limit(
    desk: Desk, redis_url: str
) -> None:
    await desk.limits(max_inventory_usd=Decimal(1_000))
    await desk.mark("100")

    async with (
        running_risk(redis_url, batch_size=1) as first,
        running_risk(redis_url, batch_size=1) as second,
    ):
        await asyncio.gather(*(desk.place("1", "100") for _ in range(40)))
        await wait_until(lambda: _decided(desk, 40), timeout_s=20)
        counts = [handled(first), handled(second)]

    approved = await desk.messages(topology.ORDERS_APPROVED.of(DEFAULT_ACCOUNT), OrderApproved)
    notional = sum(m.order.qty * m.order.price for m in approved)
    assert len(approved) == 10 and notional == Decimal(1_000)
    assert await desk.reserved_usd() == Decimal(1_000)
    assert all(count > 0 for count in counts), f"both instances decided orders: {counts}"


async def test_orders_of_one_batch_see_each_others_approvals(
    desk: Desk, redis: aioredis.Redis, redis_url: str
) -> None:
    await desk.limits(max_inventory_usd=Decimal(1_000))
    await desk.mark("100")
    for _ in range(15):  # queued before risk starts: read as one batch
        await desk.place("1", "100")
    unfreeze = await desk.send(UnfreezeTrading(reason="not risk's job", actor="ops"))

    async with running_risk(redis_url, batch_size=50):
        await wait_until(lambda: _decided(desk, 15))

    approved = await desk.messages(topology.ORDERS_APPROVED.of(DEFAULT_ACCOUNT), OrderApproved)
    denied = await desk.messages(topology.ORDERS_EVENTS.of(DEFAULT_ACCOUNT), OrderDenied)
    assert (len(approved), len(denied)) == (10, 5)
    assert {d.reason for d in denied} == {"inventory BTCUSDT Buy would be 1100 USD, limit 1000 USD"}
    (dead,) = await read_dead_letters(redis, topology.ORDERS_REQUESTS.of(DEFAULT_ACCOUNT))
    assert unfreeze.event_id in dead.data.decode()


async def test_command_repeated_in_one_batch_is_decided_once(desk: Desk, redis_url: str) -> None:
    await desk.limits()
    await desk.mark("100")
    first, envelope = await desk.place("1", "100")
    second, _ = await desk.place("2", "100")
    await desk.publish(
        topology.ORDERS_REQUESTS.of(DEFAULT_ACCOUNT), envelope
    )  # the first again, same batch

    async with running_risk(redis_url, batch_size=50):
        await wait_until(lambda: _decided(desk, 2))
        await asyncio.sleep(0.05)

    approved = await desk.messages(topology.ORDERS_APPROVED.of(DEFAULT_ACCOUNT), OrderApproved)
    assert [m.order.client_order_id for m in approved] == [
        first.client_order_id,
        second.client_order_id,
    ]
    assert await desk.reserved_usd() == Decimal(300)


async def test_cancels_are_approved_while_frozen_and_orders_are_not(
    desk: Desk, redis_url: str
) -> None:
    await desk.limits()
    await desk.mark("100")
    await desk.risk.freeze("edge_collapse: test", "test", time.time_ns())

    async with running_risk(redis_url):
        cancel = await desk.send(CancelOrder(client_order_id="t-1", symbol=BTC))
        cancel_all = await desk.send(CancelAllOrders(symbol=BTC))
        command, _ = await desk.place("1", "100")
        await wait_until(
            lambda: _count(desk, topology.ORDERS_EVENTS.of(DEFAULT_ACCOUNT), OrderDenied, 1)
        )

    approved = await desk.read(topology.ORDERS_APPROVED.of(DEFAULT_ACCOUNT))
    assert [e.event_id for e in approved] == [cancel.event_id, cancel_all.event_id]
    (denial,) = await desk.messages(topology.ORDERS_EVENTS.of(DEFAULT_ACCOUNT), OrderDenied)
    assert denial.reason == "trading is FROZEN: no new orders"
    assert await desk.status_of(command.client_order_id) == "Rejected"


async def test_redelivered_denial_repeats_its_effects_and_counts_once(
    desk: Desk, redis_url: str
) -> None:
    await desk.limits(max_order_notional=Decimal(50))
    await desk.mark("100")

    async with running_risk(redis_url) as risk:
        command, envelope = await desk.place("1", "100")
        await wait_until(
            lambda: _count(desk, topology.ORDERS_EVENTS.of(DEFAULT_ACCOUNT), OrderDenied, 1)
        )
        await desk.limits()  # the order would pass now: the decision must not change
        await desk.publish(topology.ORDERS_REQUESTS.of(DEFAULT_ACCOUNT), envelope)  # a redelivery
        await wait_until(
            lambda: _count(desk, topology.ORDERS_EVENTS.of(DEFAULT_ACCOUNT), OrderDenied, 2)
        )
        counted = sample(
            risk, "orders_denied_total", symbol=BTC, side="Buy", reason="order_notional"
        )

    events = await desk.read(topology.ORDERS_EVENTS.of(DEFAULT_ACCOUNT))
    assert len({e.event_id for e in events}) == 1
    assert counted == 1
    assert await desk.read(topology.ORDERS_APPROVED.of(DEFAULT_ACCOUNT)) == []
    assert await desk.status_of(command.client_order_id) == "Rejected"


async def test_an_order_counts_until_the_write_that_ends_it(desk: Desk, redis_url: str) -> None:
    await desk.limits()
    await desk.mark("100")

    async with running_risk(redis_url):
        command, _ = await desk.place("3", "100")
        await wait_until(
            lambda: _count(desk, topology.ORDERS_APPROVED.of(DEFAULT_ACCOUNT), OrderApproved, 1)
        )
    cid = command.client_order_id
    assert await desk.reserved_usd() == Decimal(300)
    await desk.orders.update(cid, lambda o: apply_ack(o, VenueOrderId("v1"), ts_ns=1))
    assert await desk.reserved_usd() == Decimal(300)
    await desk.orders.update(cid, lambda o: apply_cancel(o, ts_ns=2))
    assert await desk.reserved_usd() == Decimal(0)


async def test_amend_is_approved_within_the_band_and_refused_past_the_inventory(
    desk: Desk, redis_url: str
) -> None:
    await desk.limits(max_inventory_usd=Decimal(1_000))
    await desk.mark("100")

    async with running_risk(redis_url):
        command, _ = await desk.place("5", "100")
        await wait_until(
            lambda: _count(desk, topology.ORDERS_APPROVED.of(DEFAULT_ACCOUNT), OrderApproved, 1)
        )
        cid = command.client_order_id
        await desk.orders.update(cid, lambda o: apply_ack(o, VenueOrderId("v1"), ts_ns=1))
        within = await desk.send(AmendOrder(client_order_id=cid, symbol=BTC, qty=Decimal(8)))
        past = await desk.send(AmendOrder(client_order_id=cid, symbol=BTC, qty=Decimal(12)))
        band = await desk.send(AmendOrder(client_order_id=cid, symbol=BTC, price=Decimal(120)))
        await wait_until(
            lambda: _count(desk, topology.ORDERS_EVENTS.of(DEFAULT_ACCOUNT), OrderAmendRejected, 2)
        )

    approved = [e.event_id for e in await desk.read(topology.ORDERS_APPROVED.of(DEFAULT_ACCOUNT))]
    assert approved[1:] == [within.event_id]
    refusals = await desk.messages(topology.ORDERS_EVENTS.of(DEFAULT_ACCOUNT), OrderAmendRejected)
    assert sorted(r.reason.split(" ")[0] for r in refusals) == ["inventory", "price"]
    assert all(r.code == -1 and r.client_order_id == cid for r in refusals)
    assert {past.event_id, band.event_id}.isdisjoint(approved)


async def test_position_counts_in_inventory_so_only_reducing_orders_pass_near_the_limit(
    desk: Desk, redis_url: str
) -> None:
    await desk.limits(max_inventory_usd=Decimal(1_000))
    await desk.mark("100")
    await desk.fill("f1", Side.BUY, "9", "100")  # long 900 USD

    async with running_risk(redis_url):
        buy, _ = await desk.place("2", "100")
        sell, _ = await desk.place("15", "100", side=Side.SELL)  # to short 600 USD
        await wait_until(lambda: _decided(desk, 2))

    approved = await desk.messages(topology.ORDERS_APPROVED.of(DEFAULT_ACCOUNT), OrderApproved)
    assert [m.order.client_order_id for m in approved] == [sell.client_order_id]
    (denial,) = await desk.messages(topology.ORDERS_EVENTS.of(DEFAULT_ACCOUNT), OrderDenied)
    assert denial.client_order_id == buy.client_order_id
    assert denial.reason == "inventory BTCUSDT Buy would be 1100 USD, limit 1000 USD"
    assert await desk.reserved_usd(Side.SELL) == Decimal(1_500)


async def _count(desk: Desk, stream: topology.Stream, kind: type, n: int) -> bool:
    return len(await desk.messages(stream, kind)) >= n


async def _decided(desk: Desk, n: int) -> bool:
    approved = await desk.messages(topology.ORDERS_APPROVED.of(DEFAULT_ACCOUNT), OrderApproved)
    denied = await desk.messages(topology.ORDERS_EVENTS.of(DEFAULT_ACCOUNT), OrderDenied)
    return len(approved) + len(denied) >= n
