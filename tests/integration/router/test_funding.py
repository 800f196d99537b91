"""Funding settlements: the router publishes each one once as `FundingSettled`, the same
atomic claim-count-publish step as a fill, and a replay publishes nothing."""

from __future__ import annotations

from decimal import Decimal

import pytest
import redis.asyncio as aioredis

from libs.common.domain.ids import DEFAULT_ACCOUNT
from libs.common.domain.orders import OrderStatus
from libs.common.messages import FundingSettled, OrderFilled
from libs.common.topology import keys_of
from services.router.sync import FILL_NAMESPACE
from tests.integration.router.conftest import Desk, Router, StartRouter, bid, wait_until
from tests.simulator import SimProcess

pytestmark = pytest.mark.integration


async def long_position(start_router: StartRouter, desk: Desk, sim: SimProcess) -> Router:
    """A router holding the stream sees a bid of 0.002 filled: the account is long 0.002."""
    router = await start_router("funding-a")
    await wait_until(lambda: router.private_stream.holding)
    await desk.approve(bid("fund-1"))
    await wait_until(lambda: desk.status_is("fund-1", OrderStatus.NEW))
    await sim.control("trade", {"symbol": "BTCUSDT", "price": "59000", "qty": "0.002"})
    await wait_until(lambda: desk.status_is("fund-1", OrderStatus.FILLED))
    return router


async def test_a_funding_settlement_is_published_once_with_its_sign_and_counted_unfolded(
    start_router: StartRouter, desk: Desk, redis: aioredis.Redis, venue_sim: SimProcess
) -> None:
    await long_position(start_router, desk, venue_sim)

    reply = await venue_sim.control("funding", {"symbol": "BTCUSDT", "rate": "0.0001"})

    (execution,) = reply["executions"]
    await wait_until(lambda: _settled(desk), what="FundingSettled on orders.events")
    (settled,) = await desk.events(FundingSettled)
    assert settled.exec_id == execution["execId"]
    assert settled.position_qty == Decimal("0.002") and settled.rate == Decimal("0.0001")
    assert settled.amount == Decimal(execution["execFee"]) > 0  # a long pays a positive rate
    assert settled.amount == (Decimal("0.002") * settled.mark_price * Decimal("0.0001")).quantize(
        settled.amount
    )
    assert (
        await redis.exists(keys_of(DEFAULT_ACCOUNT).idempotency(FILL_NAMESPACE, settled.exec_id))
        == 1
    )
    assert (
        await redis.zscore(keys_of(DEFAULT_ACCOUNT).unfolded(settled.symbol), settled.exec_id)
        is not None
    )
    assert len(await desk.events(OrderFilled)) == 1  # the funding is no fill


async def test_a_replayed_funding_settlement_is_not_published_again(
    start_router: StartRouter, desk: Desk, venue_sim: SimProcess
) -> None:
    first = await long_position(start_router, desk, venue_sim)
    await venue_sim.control("funding", {"symbol": "BTCUSDT", "rate": "-0.0002"})
    await wait_until(lambda: _settled(desk), what="FundingSettled on orders.events")
    await first.stop()

    # a new holder starts at the stored cursor minus an overlap: the venue sends it again
    second = await start_router("funding-b")
    await wait_until(lambda: second.private_stream.executions_seen >= 1, what="the replay")

    (settled,) = await desk.events(FundingSettled)
    assert settled.amount < 0  # a long receives a negative rate


async def _settled(desk: Desk) -> bool:
    return bool(await desk.events(FundingSettled))
