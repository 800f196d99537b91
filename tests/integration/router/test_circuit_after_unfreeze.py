"""After an unfreeze the venue circuit does not stay open for the rest of its cooldown: the
router asks the venue once and closes it if the venue answers; the gateway's unfreeze reply
and `GET /v1/risk` show each router's circuit. Real router, gateway, Redis and simulator."""

from __future__ import annotations

from collections.abc import AsyncIterator

import httpx
import pytest
import redis.asyncio as aioredis

from libs.common.domain.orders import OrderStatus
from libs.common.domain.risk_checks import TradingState
from libs.common.stores import RedisRiskStateStore
from services.gateway.app import create_app
from tests.integration.gateway.conftest import gateway_settings
from tests.integration.router.conftest import Desk, Router, StartRouter, bid, wait_until
from tests.simulator import SimProcess

pytestmark = pytest.mark.integration

UNFREEZE = {"reason": "venue healed", "force": True}


@pytest.fixture
async def gateway(redis: aioredis.Redis, redis_url: str) -> AsyncIterator[httpx.AsyncClient]:
    app = create_app(gateway_settings(redis_url))
    async with app.router.lifespan_context(app):
        transport = httpx.ASGITransport(app=app)
        async with httpx.AsyncClient(transport=transport, base_url="http://gateway") as http:
            yield http


async def open_the_circuit(
    router: Router, desk: Desk, redis: aioredis.Redis, sim: SimProcess
) -> None:
    """Server errors on every private call until the circuit opens and freezes trading."""
    probed = {"endpoint": "/v5/market/time", "ret_code": "0"}
    await wait_until(lambda: router.metric("venue_request_seconds_count", **probed) >= 1)
    await sim.control("faults", {"http5xx_next": 100_000})
    await desk.approve(bid("into-5xx"))
    store = RedisRiskStateStore(redis)
    await wait_until(lambda: _frozen(store), what="trading frozen by the circuit")
    assert router.metric("venue_circuit_state", state="open") == 1


async def _frozen(store: RedisRiskStateStore) -> bool:
    return (await store.trading_state()).state is TradingState.FROZEN


async def test_after_the_venue_heals_an_unfreeze_closes_the_circuit_and_orders_go_through(
    start_router: StartRouter,
    desk: Desk,
    redis: aioredis.Redis,
    venue_sim: SimProcess,
    gateway: httpx.AsyncClient,
) -> None:
    router = await start_router(circuit_failure_threshold=3, venue_probe_interval_s=3600.0)
    await open_the_circuit(router, desk, redis, venue_sim)
    await venue_sim.control("faults", {"clear": True})  # healed, well within the 30 s cooldown

    reply = await gateway.post("/v1/risk/unfreeze", json=UNFREEZE)
    await wait_until(lambda: router.freeze.barrier.is_open, timeout_s=2, what="barrier open")
    await desk.approve(bid("after-unfreeze"))

    assert reply.status_code == 200, reply.text
    body = reply.json()
    assert (body["state"], body["changed"]) == ("ACTIVE", True)
    [circuit] = body["venueCircuits"]
    assert (circuit["instance"], circuit["state"]) == ("r1", "closed")
    assert circuit["probedEpoch"] == body["epoch"]
    assert router.metric("venue_circuit_state", state="closed") == 1
    await wait_until(lambda: desk.status_is("after-unfreeze", OrderStatus.NEW), what="acked")
    [shown] = (await gateway.get("/v1/risk")).json()["venueCircuits"]
    assert shown["state"] == "closed"


async def test_an_unfreeze_while_the_venue_still_fails_shows_the_circuit_open(
    start_router: StartRouter,
    desk: Desk,
    redis: aioredis.Redis,
    venue_sim: SimProcess,
    gateway: httpx.AsyncClient,
) -> None:
    router = await start_router(circuit_failure_threshold=3, venue_probe_interval_s=3600.0)
    await open_the_circuit(router, desk, redis, venue_sim)

    reply = (await gateway.post("/v1/risk/unfreeze", json=UNFREEZE)).json()

    [circuit] = reply["venueCircuits"]
    assert (circuit["state"], circuit["probedEpoch"]) == ("open", reply["epoch"])
    assert "HTTP 503" in circuit["reason"]
    assert router.metric("venue_circuit_state", state="open") == 1
    await venue_sim.control("faults", {"clear": True})
