"""The router's lines about one approved order carry its approval's correlation id."""

from __future__ import annotations

import logging
import time

import pytest

from libs.common import topology
from libs.common.domain.ids import DEFAULT_ACCOUNT, CorrelationId
from libs.common.domain.orders import OrderStatus
from libs.common.logs import ContextFilter, LineFormatter
from libs.common.messages import Envelope, OrderApproved
from tests.integration.router.conftest import Desk, StartRouter, bid, wait_until
from tests.simulator import SimProcess

pytestmark = pytest.mark.integration


async def test_a_venue_rejection_is_logged_with_the_correlation_id_of_its_approval(
    start_router: StartRouter, desk: Desk, venue_sim: SimProcess, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.WARNING, logger="services.router")
    await start_router()
    place = bid("story-big", qty="900")  # far beyond the account's margin
    await desk.orders.create(place.to_order(time.time_ns()))
    approval = Envelope.wrap(OrderApproved(order=place), CorrelationId("story-cid-7"))
    await desk.bus.publish(topology.ORDERS_APPROVED.of(DEFAULT_ACCOUNT), approval)

    await wait_until(lambda: desk.status_is("story-big", OrderStatus.REJECTED))
    stamp, render = ContextFilter("router", "r-1"), LineFormatter()
    lines = [
        render.format(r)
        for r in caplog.records
        if "story-big" in r.getMessage() and stamp.filter(r)
    ]
    rejected = [line for line in lines if "rejected by the venue" in line]
    assert len(rejected) == 1, lines
    assert "[cid=story-cid-7] services.router.placing: order story-big rejected" in rejected[0]
