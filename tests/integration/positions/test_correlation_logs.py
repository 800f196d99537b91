"""A fill positions cannot fold is logged with its envelope's correlation id."""

from __future__ import annotations

import logging

import pytest
import redis.asyncio as aioredis

from libs.common import topology
from libs.common.domain.enums import Side
from libs.common.domain.ids import DEFAULT_ACCOUNT
from libs.common.logs import ContextFilter, LineFormatter
from tests.integration.bus.helpers import wait_until
from tests.integration.positions.helpers import BTC, filled, publish, running_positions

pytestmark = pytest.mark.integration


async def test_a_fill_that_cannot_be_folded_is_logged_with_its_correlation_id(
    redis: aioredis.Redis, redis_url: str, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.WARNING, logger="services.positions")
    await redis.set(
        topology.keys_of(DEFAULT_ACCOUNT).position(BTC), "not a position"
    )  # every fold of BTC fails

    def said() -> list[logging.LogRecord]:
        return [r for r in caplog.records if "fill x-1 of order c-x-1 not folded" in r.getMessage()]

    async with running_positions(redis_url):
        envelope = await publish(redis, filled("x-1", Side.BUY, "1", "100"))
        await wait_until(lambda: bool(said()))

    line = LineFormatter().format(next(r for r in said() if ContextFilter("p", "1").filter(r)))
    assert f"[cid={envelope.correlation_id}] services.positions.fills:" in line
    assert "the BTCUSDT position" in line
