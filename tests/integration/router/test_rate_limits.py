"""The venue's rate limit, met by the router: one rolling window shared by every instance,
and orders the venue refuses for its quota (10006) sent again, never rejected."""

from __future__ import annotations

from functools import partial
from typing import Any

import pytest

from libs.common.domain.orders import OrderStatus
from libs.common.messages import OrderRejected
from tests.integration.router.conftest import Desk, StartRouter, bid, wait_until
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
