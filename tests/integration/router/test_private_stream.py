"""The private stream: one lease holder at a time, failover, and one OrderFilled per execId."""

from __future__ import annotations

import asyncio

import pytest
import redis.asyncio as aioredis

from libs.common.domain.ids import DEFAULT_ACCOUNT
from libs.common.domain.orders import OrderStatus
from libs.common.messages import OrderFilled
from libs.common.stores import RedisLeaseStore
from libs.common.topology import keys_of
from services.router.private_stream import PRIVATE_STREAM_LEASE
from services.router.sync import FILL_NAMESPACE
from tests.integration.router.conftest import (
    Desk,
    Router,
    StartRouter,
    bid,
    place_at_venue,
    wait_until,
)
from tests.simulator import SimProcess

pytestmark = pytest.mark.integration


async def trade(sim: SimProcess, price: str, qty: str) -> list[str]:
    reply = await sim.control("trade", {"symbol": "BTCUSDT", "price": price, "qty": qty})
    return [fill["execId"] for fill in reply["fills"]]


async def fill_then_stop(
    start_router: StartRouter, desk: Desk, sim: SimProcess, instance: str, cid: str
) -> list[str]:
    """A router holding the stream sees order `cid` filled in full, then stops; the execIds."""
    router = await start_router(instance)
    await wait_until(lambda: router.private_stream.holding)
    await desk.approve(bid(cid))
    await wait_until(lambda: desk.status_is(cid, OrderStatus.NEW))
    exec_ids = await trade(sim, "59000", "0.002")
    await wait_until(lambda: desk.status_is(cid, OrderStatus.FILLED))
    await router.stop()
    return exec_ids


async def fills(desk: Desk) -> list[str]:
    return [f.exec_id for f in await desk.events(OrderFilled)]


async def test_one_instance_holds_the_stream_and_the_other_takes_over_without_double_fills(
    start_router: StartRouter, desk: Desk, redis: aioredis.Redis, venue_sim: SimProcess
) -> None:
    routers = [await start_router("r1"), await start_router("r2")]
    await wait_until(lambda: any(r.private_stream.holding for r in routers), what="a holder")
    holder = next(r for r in routers if r.private_stream.holding)
    other = next(r for r in routers if r is not holder)
    assert not other.private_stream.holding
    owner = await RedisLeaseStore(redis).holder(PRIVATE_STREAM_LEASE)
    assert owner == holder.runtime.settings.instance

    await desk.approve(bid("fo-1"))
    await wait_until(lambda: desk.status_is("fo-1", OrderStatus.NEW))
    first = await trade(venue_sim, "59000", "0.001")
    await wait_until(lambda: _has(desk, first), what="the first fill published")

    await holder.stop()
    await wait_until(lambda: other.private_stream.holding, what="failover")
    second = await trade(venue_sim, "59000", "0.001")

    await wait_until(lambda: desk.status_is("fo-1", OrderStatus.FILLED), what="order filled")
    await wait_until(lambda: _has(desk, first + second))
    assert sorted(await fills(desk)) == sorted(first + second)  # each exactly once
    order = await desk.order("fo-1")
    assert order.filled_qty == order.qty and order.exec_ids == frozenset(first + second)
    counted = sum(
        r.metric("orders_filled_total", symbol="BTCUSDT", side="Buy") for r in (holder, other)
    )
    assert counted == 1


async def test_a_replayed_fill_is_published_once(
    start_router: StartRouter, desk: Desk, venue_sim: SimProcess
) -> None:
    exec_ids = await fill_then_stop(start_router, desk, venue_sim, "replay-a", "rp-1")

    # A new holder's stream starts at the stored cursor minus an overlap: the venue sends
    # the same execution again, in the reconnect snapshot.
    second = await start_router("replay-b")
    await wait_until(lambda: _replayed(second), what="the fill replayed to the new holder")

    assert await fills(desk) == exec_ids
    assert second.metric("orders_filled_total", symbol="BTCUSDT", side="Buy") == 0


async def test_a_replay_whose_claim_expired_is_not_published_again_its_order_holds_it(
    start_router: StartRouter, desk: Desk, redis: aioredis.Redis, venue_sim: SimProcess
) -> None:
    exec_ids = await fill_then_stop(start_router, desk, venue_sim, "expired-a", "exp-1")
    # the execId claims expired (as after fill_dedupe_ttl_s), the record is still there
    await redis.delete(*(keys_of(DEFAULT_ACCOUNT).idempotency(FILL_NAMESPACE, e) for e in exec_ids))

    second = await start_router("expired-b")
    await wait_until(lambda: _replayed(second), what="the fill replayed to the new holder")

    assert await fills(desk) == exec_ids


async def test_an_execution_older_than_the_replay_horizon_is_refused_and_counted(
    start_router: StartRouter, desk: Desk, venue_sim: SimProcess
) -> None:
    """An order placed behind the engine's back filled long ago (here: 2 s, the horizon is
    1.5 s): reconciliation adopts the order but cannot tell its fill from a replay."""
    (ack,) = await place_at_venue(venue_sim, bid("old-1", qty="0.003"))
    await trade(venue_sim, "59000", "0.001")
    await asyncio.sleep(2.0)

    router = await start_router(
        fill_replay_horizon_s=1.5, fill_dedupe_ttl_s=3.0, exec_lookback_s=1.0
    )

    too_old = {"symbol": "BTCUSDT", "reason": "too_old"}
    await wait_until(lambda: router.metric("fills_refused_total", **too_old) >= 1)
    await wait_until(lambda: desk.status_is("old-1", OrderStatus.NEW), what="adopted")
    assert (await desk.order("old-1")).venue_order_id == ack.venue_order_id
    assert await fills(desk) == []


def _replayed(router: Router) -> bool:
    return router.private_stream.holding and router.private_stream.executions_seen >= 1


async def _has(desk: Desk, exec_ids: list[str]) -> bool:
    return set(exec_ids) <= set(await fills(desk))
