"""Risk ends a transient freeze by itself once its cause has cleared (through a reduce-only
warm-up), never a hard one, at most N times an hour, and never undoes a freeze made meanwhile."""

from __future__ import annotations

import asyncio
import time
from decimal import Decimal
from typing import Any

import pytest
import redis.asyncio as aioredis
from prometheus_client import CollectorRegistry

from libs.common import topology
from libs.common.domain.enums import Side
from libs.common.domain.risk_checks import FreezeClass, TradingState
from libs.common.freeze import trigger_freeze
from libs.common.messages import OperatorAction, TradingStateChanged
from libs.common.metrics import EngineMetrics, FreezeReason
from libs.common.stores import RedisLeaseStore, StateChangeRecord
from libs.common.stores.marks import Mark
from services.risk.recovery import RECOVERIES_KEY, RECOVERY_ACTOR, RECOVERY_LEASE
from tests.integration.bus.helpers import wait_until
from tests.integration.risk.helpers import BTC, Desk, running_risk, sample

pytestmark = pytest.mark.integration

S = 10**9
FAST: dict[str, Any] = {
    "recovery_check_interval_s": 0.02,
    "recovery_clear_s": 0.3,
    "recovery_warmup_s": 0.3,
    "recovery_max_per_hour": 3,
}


@pytest.fixture
def desk(redis: aioredis.Redis) -> Desk:
    return Desk(redis)


async def test_a_venue_circuit_freeze_recovers_through_reducing_once_every_circuit_closed(
    desk: Desk, redis: aioredis.Redis, redis_url: str
) -> None:
    await write_circuit(redis, "router-a", "open")
    await write_circuit(redis, "router-b", "closed")
    await freeze(desk, FreezeReason.VENUE_CIRCUIT, "5 consecutive venue failures")

    async with running_risk(redis_url, **FAST) as risk:
        await asyncio.sleep(1.0)  # over three clear times and a warm-up: router-a is open
        state_while_open = (await desk.risk.trading_state()).state
        await write_circuit(redis, "router-a", "closed")
        closed_ns = time.time_ns()
        await wait_until(lambda: _state_is(desk, TradingState.ACTIVE))
        steps = {o: _recoveries(risk, "venue_circuit", o) for o in ("reducing", "resumed")}

    assert state_while_open is TradingState.FROZEN
    frozen, reducing, active = reversed(await desk.risk.freeze_history())
    assert _moves(frozen, reducing, active) == [
        (TradingState.ACTIVE, TradingState.FROZEN, "router:r1"),
        (TradingState.FROZEN, TradingState.REDUCING, RECOVERY_ACTOR),
        (TradingState.REDUCING, TradingState.ACTIVE, RECOVERY_ACTOR),
    ]
    assert reducing.ts_ns - closed_ns >= 0.3 * S  # cleared for recovery_clear_s first
    assert active.ts_ns - reducing.ts_ns >= 0.3 * S  # then the reduce-only warm-up
    assert reducing.reason.startswith("auto-recovery: venue_circuit cleared for 0.3 s")
    announced = await desk.messages(topology.CONTROL.desk, TradingStateChanged)
    assert [(m.state, m.epoch) for m in announced] == [
        (TradingState.FROZEN, 1),
        (TradingState.REDUCING, 2),
        (TradingState.ACTIVE, 3),
    ]
    audited = await desk.messages(topology.AUDIT, OperatorAction)
    assert [(a.action, a.actor, a.details["epoch"]) for a in audited] == [
        ("auto_recovery_reducing", RECOVERY_ACTOR, "2"),
        ("auto_recovery_resumed", RECOVERY_ACTOR, "3"),
    ]
    assert steps == {"reducing": 1, "resumed": 1}


@pytest.mark.parametrize(
    "reason", [FreezeReason.MANUAL, FreezeReason.EDGE_COLLAPSE, FreezeReason.MARKOUT_EDGE]
)
async def test_a_hard_freeze_never_recovers_by_itself(
    desk: Desk, redis: aioredis.Redis, redis_url: str, reason: FreezeReason
) -> None:
    await write_circuit(redis, "router-a", "closed")
    await freeze(desk, reason, "drill")

    async with running_risk(redis_url, instance="risk-hard", **FAST):
        await wait_until(lambda: _holds_lease(redis, "risk-hard"))
        await asyncio.sleep(1.0)  # over three clear times and a warm-up

    status = await desk.risk.trading_state()
    assert (status.state, status.epoch, status.freeze_class) == (
        TradingState.FROZEN,
        1,
        FreezeClass.HARD,
    )
    assert await desk.messages(topology.AUDIT, OperatorAction) == []


async def test_a_manual_freeze_over_a_venue_circuit_freeze_is_left_to_the_operator(
    desk: Desk, redis: aioredis.Redis, redis_url: str
) -> None:
    await write_circuit(redis, "router-a", "closed")
    await freeze(desk, FreezeReason.VENUE_CIRCUIT, "5 consecutive venue failures")
    taken_over = await freeze(desk, FreezeReason.MANUAL, "ops: venue incident, hold")

    async with running_risk(redis_url, instance="risk-over", **FAST):
        await wait_until(lambda: _holds_lease(redis, "risk-over"))
        await asyncio.sleep(1.0)

    assert taken_over
    status = await desk.risk.trading_state()
    assert (status.state, status.code, status.epoch) == (TradingState.FROZEN, "manual", 2)


async def test_a_freeze_during_the_warm_up_is_not_undone(
    desk: Desk, redis: aioredis.Redis, redis_url: str
) -> None:
    await write_circuit(redis, "router-a", "closed")
    await freeze(desk, FreezeReason.VENUE_CIRCUIT, "5 consecutive venue failures")
    settings = FAST | {"recovery_clear_s": 0.1, "recovery_warmup_s": 0.5}

    async with running_risk(redis_url, **settings) as risk:
        await wait_until(lambda: _state_is(desk, TradingState.REDUCING))
        await freeze(desk, FreezeReason.MANUAL, "ops: not yet")
        await asyncio.sleep(1.0)  # twice the warm-up
        resumed = _recoveries(risk, "venue_circuit", "resumed")

    status = await desk.risk.trading_state()
    assert (status.state, status.code, status.epoch) == (TradingState.FROZEN, "manual", 3)
    assert resumed == 0
    assert (await desk.risk.freeze_history(limit=1))[0].actor == "ops"


async def test_past_the_hourly_cap_a_transient_freeze_stays_for_a_person_across_instances(
    desk: Desk, redis: aioredis.Redis, redis_url: str
) -> None:
    await write_circuit(redis, "router-a", "closed")
    settings = FAST | {
        "recovery_clear_s": 0.05,
        "recovery_warmup_s": 0.05,
        "recovery_max_per_hour": 2,
    }
    async with running_risk(redis_url, instance="risk-a", **settings):
        for _ in range(2):
            await freeze(desk, FreezeReason.VENUE_CIRCUIT, "5 consecutive venue failures")
            await wait_until(lambda: _state_is(desk, TradingState.ACTIVE))

    await freeze(desk, FreezeReason.VENUE_CIRCUIT, "5 consecutive venue failures")
    async with running_risk(redis_url, instance="risk-b", **settings) as second:
        await wait_until(lambda: _audited(desk, "auto_recovery_capped"))
        await asyncio.sleep(0.5)  # ten clear times and warm-ups more
        capped = _recoveries(second, "venue_circuit", "capped")

    status = await desk.risk.trading_state()
    assert (status.state, status.epoch) == (TradingState.FROZEN, 7)
    actions = [a.action for a in await desk.messages(topology.AUDIT, OperatorAction)]
    assert actions == [
        "auto_recovery_reducing",
        "auto_recovery_resumed",
        "auto_recovery_reducing",
        "auto_recovery_resumed",
        "auto_recovery_capped",
    ]
    assert capped == 1
    assert await redis.zcard(RECOVERIES_KEY) == 2


async def test_a_stale_marks_freeze_recovers_once_every_position_has_a_fresh_mark(
    desk: Desk, redis: aioredis.Redis, redis_url: str
) -> None:
    old_ns = time.time_ns() - 120 * S
    stale = Mark.of(BTC, ts_ns=old_ns, seen_ns=old_ns, mark=Decimal(100))
    assert stale is not None
    await desk.marks.put_many([stale])
    await desk.fill("f1", Side.BUY, "1", "100")
    await freeze(desk, FreezeReason.STALE_MARKS, "no fresh mark for BTCUSDT")

    async with running_risk(redis_url, **FAST):
        await asyncio.sleep(1.0)
        state_while_stale = (await desk.risk.trading_state()).state
        await desk.mark("100")
        await wait_until(lambda: _state_is(desk, TradingState.ACTIVE))

    assert state_while_stale is TradingState.FROZEN
    reducing = (await desk.risk.freeze_history())[1]
    assert reducing.state is TradingState.REDUCING
    assert reducing.reason.startswith("auto-recovery: stale_marks cleared")


# -- helpers ------------------------------------------------------------------------------------


async def write_circuit(redis: aioredis.Redis, instance: str, state: str) -> None:
    """Write a router's circuit hash and registry entry as `VenueHealth._write_state` does."""
    key = topology.venue_circuit_key(instance)
    failures = 0 if state == "closed" else 5
    async with redis.pipeline(transaction=True) as pipe:
        pipe.hset(
            key,
            mapping={
                "state": state,
                "failures": failures,
                "reason": "/v5/order/create: HTTP 503",
                "updated_ns": time.time_ns(),
            },
        )
        pipe.pexpire(key, 60_000)
        pipe.zadd(topology.VENUE_CIRCUITS_KEY, {instance: time.time_ns() // 1_000_000})
        await pipe.execute()


async def freeze(desk: Desk, reason: FreezeReason, detail: str) -> bool:
    """Freeze as the router (venue circuit) or an operator does; True if it changed the state."""
    actor = {FreezeReason.VENUE_CIRCUIT: "router:r1", FreezeReason.STALE_MARKS: "risk"}.get(
        reason, "ops"
    )
    metrics = EngineMetrics(CollectorRegistry())
    result = await trigger_freeze(
        desk.risk, metrics, reason=reason, detail=detail, actor=actor, now_ns=time.time_ns()
    )
    return result.changed


async def _state_is(desk: Desk, state: TradingState) -> bool:
    return (await desk.risk.trading_state()).state is state


async def _holds_lease(redis: aioredis.Redis, owner: str) -> bool:
    return await RedisLeaseStore(redis).holder(RECOVERY_LEASE) == owner


async def _audited(desk: Desk, action: str) -> bool:
    return any(a.action == action for a in await desk.messages(topology.AUDIT, OperatorAction))


def _recoveries(runtime: Any, reason: str, outcome: str) -> float:
    return sample(runtime, "auto_recoveries_total", reason=reason, outcome=outcome)


def _moves(*records: StateChangeRecord) -> list[tuple[TradingState, TradingState, str]]:
    return [(r.previous, r.state, r.actor) for r in records]
