"""What the positions service writes to Redis for the console: per symbol, our qty, the
venue's (the real simulator's) and the drift, from its latest reconciliation."""

from __future__ import annotations

import json
import time
from typing import Any

import pytest
import redis.asyncio as aioredis

from libs.common import topology
from libs.common.domain.enums import Side
from libs.common.stores import RedisPositionStore
from tests.integration.bus.helpers import wait_until
from tests.integration.positions.helpers import BTC, filled, running_positions, sim_venue
from tests.simulator import SimProcess

pytestmark = pytest.mark.integration


async def _drift(redis: aioredis.Redis) -> dict[str, Any] | None:
    value = await redis.hget(topology.POSITION_DRIFT_KEY, BTC)
    return None if value is None else dict(json.loads(value))


async def test_reconciliation_writes_both_quantities_and_the_drift_per_symbol(
    redis: aioredis.Redis, redis_url: str, venue_sim: SimProcess
) -> None:
    await RedisPositionStore(redis).apply_fill(
        filled("local-only", Side.SELL, "0.25", "60000").to_fill()
    )
    before_ms = time.time_ns() // 1_000_000

    async with running_positions(redis_url, sim_venue(venue_sim)):
        await wait_until(lambda: _drift(redis))
        record = await _drift(redis)

    assert record is not None
    assert (record["engine_qty"], record["venue_qty"], record["drift"]) == ("-0.25", "0", "0.25")
    assert before_ms <= record["checked_ms"] <= time.time_ns() // 1_000_000
