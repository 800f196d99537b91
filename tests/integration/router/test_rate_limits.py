"""The venue's rate limit, met by the router: one rolling window shared by every instance,
orders the venue refuses for its quota (10006) sent again, never rejected; and a venue call
that hangs holds up only its own consumer."""

from __future__ import annotations

import asyncio
import time
from functools import partial
from typing import Any

import pytest

from libs.common.domain.orders import OrderStatus
from libs.common.messages import OrderRejected
from tests.integration.router.conftest import Desk, StartRouter, bid, venue_config, wait_until
from tests.simulator import SimProcess

pytestmark = pytest.mark.integration


async def _refused_for_quota(sim: SimProcess) -> int:
    health: dict[str, Any] = await sim.control("health", method="GET")
    calls = health["retCodes"].get("10006", 0)
    items = health["batchItemRetCodes"].get("10006", 0)
    return int(calls) + int(items)


async def test_orders_refused_by_the_venue_quota_are_sent_again_and_rest(
    start_router: StartRouter, desk: Desk, venue_sim: SimProcess
) -> None:
    await venue_sim.control("limits", {"tradePerSecond": 5})
    await start_router(rate_limit_per_s=100)  # the router believes in a far larger quota
    await desk.approve(*(bid(f"storm-{i}", price=str(59000 - i)) for i in range(20)))

    for i in range(20):
        await wait_until(partial(desk.status_is, f"storm-{i}", OrderStatus.NEW), timeout_s=15)
    assert await _refused_for_quota(venue_sim) > 0, "the venue never refused: no storm"
    assert await desk.events(OrderRejected) == []
    assert len(await venue_sim.orders()) == 20


async def test_a_quota_storm_longer_than_half_the_claim_idle_goes_back_to_the_bus(
    start_router: StartRouter,
    desk: Desk,
    venue_sim: SimProcess,
    caplog: pytest.LogCaptureFixture,
) -> None:
    """The resend loop stops at half of claim_idle_s (no other router may claim the batch
    meanwhile): the bus delivers the rest again, each Sending record is looked up at the
    venue first, and every order still rests once, never rejected."""
    creates = ["/v5/order/create", "/v5/order/create-batch"]
    await venue_sim.control("faults", {"rateLimitNext": 12, "paths": creates})
    fast = venue_config(venue_sim, recv_window=500, request_timeout_s=1.0)
    router = await start_router(
        venue=fast,
        rate_limit_per_s=100,
        claim_idle_s=1.6,
        max_order_age_s=20.0,
        pending_grace_s=40.0,
    )
    approved_at = time.time()
    await desk.approve(*(bid(f"long-{i}", price=str(59000 - i)) for i in range(8)))

    for i in range(8):
        await wait_until(partial(desk.status_is, f"long-{i}", OrderStatus.NEW), timeout_s=30)
    assert await desk.events(OrderRejected) == []
    assert sorted(o["orderLinkId"] for o in await venue_sim.orders()) == sorted(
        f"long-{i}" for i in range(8)
    )
    assert router.metric("order_retry_count_count", symbol="BTCUSDT") >= 8
    faults = await venue_sim.control("faults", {})
    assert faults["fired"]["rateLimitNext"] == 12
    back = [r.created for r in caplog.records if "goes back to the bus" in r.getMessage()]
    assert back, "no batch went back to the bus"
    assert back[0] - approved_at < 1.6  # given back before another router may claim it


async def test_two_routers_together_stay_inside_the_venue_quota(
    start_router: StartRouter, desk: Desk, venue_sim: SimProcess
) -> None:
    await venue_sim.control("limits", {"tradePerSecond": 5})
    await start_router("r1", rate_limit_per_s=5, consumers=1)
    await start_router("r2", rate_limit_per_s=5, consumers=1)
    for wave in range(3):
        await desk.approve(*(bid(f"w{wave}-{i}", price=str(59000 - i)) for i in range(5)))

    for wave in range(3):
        for i in range(5):
            await wait_until(partial(desk.status_is, f"w{wave}-{i}", OrderStatus.NEW), 15)
    assert await _refused_for_quota(venue_sim) == 0
    assert await desk.events(OrderRejected) == []


async def test_a_hung_venue_call_does_not_hold_up_orders_of_other_symbols(
    start_router: StartRouter, desk: Desk, venue_sim: SimProcess
) -> None:
    await start_router(consumers=2)
    hang = {"dropResponseNext": 1, "dropMode": "hang", "hangMs": 2500}
    await venue_sim.control("faults", hang | {"paths": ["/v5/order/create"]})
    await desk.approve(bid("hung-btc"))  # alone: a single create, which the venue holds
    await asyncio.sleep(0.2)

    started = time.monotonic()
    eth = [bid(f"free-eth-{i}", price=str(2900 - i), qty="0.1", symbol="ETHUSDT") for i in range(3)]
    await desk.approve(*eth)

    for i in range(3):
        await wait_until(partial(desk.status_is, f"free-eth-{i}", OrderStatus.NEW), timeout_s=2)
    assert time.monotonic() - started < 1.5  # while the BTC create is still held (2.5 s)
    health: dict[str, Any] = await venue_sim.control("health", method="GET")
    assert health["faults"]["fired"] == {"dropResponseNext": 1}
    await wait_until(partial(desk.status_is, "hung-btc", OrderStatus.NEW), timeout_s=15)
