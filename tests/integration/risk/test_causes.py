"""Risk freezes by itself, as TRANSIENT, when it cannot see well enough to trade: Redis lost
its data, positions lag far behind the venue's fills, or a position has no fresh mark. Once
per episode: an operator's resume while the cause lasts is not overruled."""

from __future__ import annotations

import asyncio
import time
from typing import Any

import pytest
import redis.asyncio as aioredis

from libs.common import topology
from libs.common.domain.enums import Side
from libs.common.domain.risk_checks import FreezeClass, TradingState
from libs.common.stores import TradingStatus
from tests.integration.bus.helpers import wait_until
from tests.integration.risk.helpers import Desk, running_risk, sample

pytestmark = pytest.mark.integration

QUIET: dict[str, Any] = {"freeze_positions_lag_s": 0, "freeze_stale_marks_s": 0}


@pytest.fixture
def desk(redis: aioredis.Redis) -> Desk:
    return Desk(redis)


async def _state(desk: Desk) -> TradingStatus:
    return await desk.risk.trading_state()


async def _frozen_for(desk: Desk, code: str) -> bool:
    status = await _state(desk)
    return status.state is TradingState.FROZEN and status.code == code


async def test_redis_losing_its_data_freezes_trading_once_as_transient(
    desk: Desk, redis: aioredis.Redis, redis_url: str
) -> None:
    async with running_risk(redis_url, **QUIET) as risk:
        await wait_until(lambda: _has_generation(redis))  # the first refresh wrote one
        first = (await _state(desk)).generation
        await redis.delete(topology.FREEZE_KEY)  # what a failover to a replica behind leaves
        await wait_until(lambda: _frozen_for(desk, "redis_failover"))
        await asyncio.sleep(0.3)  # more refreshes: the new generation is followed, no refreeze
        status = await _state(desk)
        freezes = sample(risk, "freeze_triggered_total", reason="redis_failover")

    assert (status.epoch, status.freeze_class) == (1, FreezeClass.TRANSIENT)
    assert status.generation not in ("", first)
    assert status.reason.startswith(f"redis_failover: the freeze key (generation {first}) is gone")
    assert freezes == 1


async def test_a_fill_left_unfolded_past_the_limit_freezes_and_recovers_once_folded(
    desk: Desk, redis_url: str
) -> None:
    await desk.limits()
    await desk.mark("100")
    fast = {
        "freeze_positions_lag_s": 0.3,
        "freeze_stale_marks_s": 0,
        "recovery_check_interval_s": 0.02,
        "recovery_clear_s": 0.1,
        "recovery_warmup_s": 0.1,
    }

    async with running_risk(redis_url, **fast):
        await desk.report_fill("x1", "2")  # as the router; positions is down
        await wait_until(lambda: _frozen_for(desk, "positions_lag"))
        frozen = await _state(desk)
        await desk.fill("x1", Side.BUY, "2", "100")  # positions is back and folds it
        await wait_until(lambda: _active(desk))

    assert frozen.reason.startswith("positions_lag: the oldest fill the venue reported has")
    assert frozen.freeze_class is FreezeClass.TRANSIENT
    moves = [(r.previous, r.state) for r in reversed(await desk.risk.freeze_history())]
    assert moves == [
        (TradingState.ACTIVE, TradingState.FROZEN),
        (TradingState.FROZEN, TradingState.REDUCING),
        (TradingState.REDUCING, TradingState.ACTIVE),
    ]


async def test_a_position_without_a_fresh_mark_freezes_once_and_a_resume_is_not_overruled(
    desk: Desk, redis_url: str
) -> None:
    await desk.limits()
    await desk.fill("e1", Side.BUY, "1", "100")
    await desk.mark("100")  # fresh now, stale 0.2 s later
    stale = {"mark_max_age_s": 0.2, "freeze_stale_marks_s": 0.3, "freeze_positions_lag_s": 0}

    async with running_risk(redis_url, **stale):
        await wait_until(lambda: _frozen_for(desk, "stale_marks"))
        frozen = await _state(desk)
        await desk.risk.unfreeze("marks checked by hand", "ops", time.time_ns(), 0, force=True)
        await asyncio.sleep(0.5)  # still stale: the same episode
        after = await _state(desk)

    assert frozen.reason.startswith("stale_marks: no fresh mark for BTCUSDT with a position")
    assert frozen.freeze_class is FreezeClass.TRANSIENT
    assert after.state is TradingState.ACTIVE


async def _has_generation(redis: aioredis.Redis) -> bool:
    return bool(await redis.hget(topology.FREEZE_KEY, "generation"))


async def _active(desk: Desk) -> bool:
    return (await _state(desk)).state is TradingState.ACTIVE
