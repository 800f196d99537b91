"""One order's story in the logs: the gateway's line about a command and the lines of the
services that handle it carry the same `[cid=...]`, its envelope's correlation id."""

from __future__ import annotations

import logging
from decimal import Decimal

import httpx
import pytest
import redis.asyncio as aioredis

from libs.common import topology
from libs.common.domain.ids import DEFAULT_ACCOUNT
from libs.common.logs import ContextFilter, LineFormatter
from tests.integration.gateway.conftest import entries, order
from tests.integration.risk.helpers import Desk, running_risk

pytestmark = pytest.mark.integration


def _lines(caplog: pytest.LogCaptureFixture, logger: str, containing: str) -> list[str]:
    """The captured records of `logger` whose message holds `containing`, as the services
    write them."""
    stamp, render = ContextFilter("svc", "i-1"), LineFormatter()
    records = [r for r in caplog.records if r.name == logger and containing in r.getMessage()]
    return [render.format(r) for r in records if stamp.filter(r)]


async def test_a_denied_orders_gateway_and_risk_lines_carry_its_place_correlation_id(
    client: httpx.AsyncClient,
    redis: aioredis.Redis,
    redis_url: str,
    caplog: pytest.LogCaptureFixture,
) -> None:
    desk = Desk(redis)
    await desk.limits(max_inventory_usd=Decimal(1_000))
    await desk.mark("100")
    caplog.set_level(logging.DEBUG)

    async with running_risk(redis_url):
        response = await client.post(
            "/v1/orders?wait=true",
            json=order(clientOrderId="cid-story-1", qty="20", price="100"),
        )

    assert response.status_code == 200, response.text
    assert response.json()["outcome"] == "denied"
    (place,) = await entries(redis, topology.ORDERS_REQUESTS.of(DEFAULT_ACCOUNT))
    tag = f"[cid={place.correlation_id}]"
    (sent,) = _lines(caplog, "services.gateway.placing", "order cid-story-1: place sent")
    (denied,) = _lines(caplog, "services.risk.placing", "order cid-story-1 denied")
    assert tag in sent
    assert tag in denied
    assert "inventory BTCUSDT Buy would be 2000 USD, limit 1000 USD" in denied


async def test_a_batch_of_several_orders_logs_no_line_per_order_at_the_gateway(
    client: httpx.AsyncClient, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.DEBUG)
    batch = [order(clientOrderId=f"cid-batch-{n}") for n in (1, 2)]

    response = await client.post("/v1/orders/batch", json={"orders": batch})

    assert response.status_code == 202, response.text
    assert _lines(caplog, "services.gateway.placing", "place sent") == []


async def test_a_cancel_is_logged_with_the_correlation_id_of_the_command_it_sent(
    client: httpx.AsyncClient, redis: aioredis.Redis, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.DEBUG)
    placed = await client.post("/v1/orders", json=order(clientOrderId="cid-cancel-1"))
    assert placed.status_code == 202, placed.text

    response = await client.delete("/v1/orders/cid-cancel-1")

    assert response.status_code == 202, response.text
    place, cancel = await entries(redis, topology.ORDERS_REQUESTS.of(DEFAULT_ACCOUNT))
    assert cancel.type == "CancelOrder" and cancel.correlation_id != place.correlation_id
    (line,) = _lines(caplog, "services.gateway.commands", "order cid-cancel-1: cancel sent")
    assert f"[cid={cancel.correlation_id}]" in line
