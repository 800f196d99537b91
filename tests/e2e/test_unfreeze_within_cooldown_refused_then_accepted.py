"""Evidence 4: an operator freezes; an unfreeze within the cooldown is refused (409), one
after it is accepted and orders flow again."""

from __future__ import annotations

import asyncio
import time

import pytest

from tests.e2e.conftest import StackFactory

pytestmark = pytest.mark.e2e

COOLDOWN_S = 2.0


async def test_manual_freeze_then_unfreeze_refused_in_cooldown_accepted_after(
    make_stack: StackFactory,
) -> None:
    stack = await make_stack(env={"gateway": {"MMX_GATEWAY_UNFREEZE_COOLDOWN_S": str(COOLDOWN_S)}})
    await stack.set_mid("BTCUSDT", "60000")
    frozen_at = time.monotonic()
    reply = await stack.gateway.post("/v1/risk/freeze", {"reason": "e2e drill"})
    assert reply.status_code == 200, reply.text
    assert reply.json()["state"] == "FROZEN"
    denied = await stack.gateway.place(symbol="BTCUSDT", side="Buy", qty="0.001", price="59000")
    assert denied["outcome"] == "denied", denied

    early = await stack.gateway.post("/v1/risk/unfreeze", {"reason": "too soon"})
    assert early.status_code == 409, early.text
    assert "cooldown" in early.text
    assert (await stack.gateway.risk())["trading"]["state"] == "FROZEN"

    await asyncio.sleep(max(0.0, COOLDOWN_S + 0.2 - (time.monotonic() - frozen_at)))
    late = await stack.gateway.post("/v1/risk/unfreeze", {"reason": "drill over"})
    assert late.status_code == 200, late.text
    assert late.json() == {**late.json(), "state": "ACTIVE", "changed": True}
    risk = await stack.gateway.risk()
    assert risk["trading"]["state"] == "ACTIVE"
    history = {(c["state"], c["reason"], c["actor"]) for c in risk["freezeHistory"]}
    operator = f"e2e [{stack.keys['e2e'].split('_')[1]}]"
    assert history == {
        ("FROZEN", "manual: e2e drill", operator),
        ("ACTIVE", "drill over", operator),
    }
    placed = await stack.gateway.place(symbol="BTCUSDT", side="Buy", qty="0.001", price="59000")
    assert placed["outcome"] == "accepted", placed
    assert await stack.metric_total("freeze_triggered_total", reason="manual") == 1
