"""Risk and the router check each other's timeouts at start, through Redis."""

from __future__ import annotations

import pytest
import redis.asyncio as aioredis

from libs.common.timings import TimingConflict, publish_and_check
from services.router.app import create_app as router_app
from services.router.settings import RouterSettings

pytestmark = pytest.mark.integration


async def test_a_router_whose_max_age_is_below_both_claims_refuses_to_start_when_risk_ran(
    redis: aioredis.Redis, redis_url: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    await publish_and_check(redis, "risk", {"claim_idle_s": 10.0})
    monkeypatch.setenv("REDIS_URL", redis_url)
    settings = RouterSettings(claim_idle_s=16.0, max_order_age_s=25.0, pending_grace_s=40.0)

    app = router_app(settings)

    with pytest.raises(TimingConflict, match=r"10000 \+ MMX_ROUTER_CLAIM_IDLE_S 16 = 26 s"):
        async with app.router.lifespan_context(app):
            pass


async def test_a_risk_instance_starting_after_the_router_sees_its_timings_too(
    redis: aioredis.Redis,
) -> None:
    router = {"claim_idle_s": 20.0, "max_order_age_s": 30.0}
    await publish_and_check(redis, "router", router)

    await publish_and_check(redis, "risk", {"claim_idle_s": 5.0})  # 25 s < 30 s: fine
    with pytest.raises(TimingConflict, match="must be below MMX_ROUTER_MAX_ORDER_AGE_S 30"):
        await publish_and_check(redis, "risk", {"claim_idle_s": 10.0})
