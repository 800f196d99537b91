"""Two accounts on one desk (MMX_ACCOUNTS=default,alpha), each with its own key pair at the
simulator (two venue accounts): orders go out under their own account's credentials, fills
fold into their own positions, and a freeze of one account flattens it alone while the other
trades on."""

from __future__ import annotations

from collections.abc import AsyncIterator
from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest

from tests.e2e.conftest import SIM_LIMITS
from tests.e2e.harness import SERVICES, E2EStack, wait_for
from tests.simulator import SimProcess

pytestmark = pytest.mark.e2e

ALPHA_KEY, ALPHA_SECRET = "e2e-alpha-key-0001", "e2e-alpha-secret-7c41d2"
DEFAULT_UID, ALPHA_UID = "100100100", "100100101"


@pytest.fixture
async def two_accounts(e2e_redis_url: str, tmp_path: Path) -> AsyncIterator[E2EStack]:
    """Two accounts on one Redis, then on a Redis Cluster (`e2e_redis_url`, emptied)."""
    redis_url = e2e_redis_url
    sim = SimProcess(market_frozen=True)
    sim.extra_env["MMX_SIM_KEYS"] = f"{sim.api_key}:{sim.api_secret},{ALPHA_KEY}:{ALPHA_SECRET}"
    sim.start()
    shared = {
        "MMX_ACCOUNTS": "default,alpha",
        "MMX_API_KEY_ALPHA": ALPHA_KEY,
        "MMX_API_SECRET_ALPHA": ALPHA_SECRET,
    }
    stack = E2EStack(redis_url, sim, tmp_path / "logs", env=dict.fromkeys(SERVICES, shared))
    try:
        await sim.control("limits", SIM_LIMITS)
        yield await stack.start()
    finally:
        await stack.stop()
        sim.stop()


async def venue_orders(stack: E2EStack, uid: str) -> dict[str, str]:
    """orderLinkId -> status of the orders one simulator account holds."""
    listed = (await stack.sim.control(f"orders?uid={uid}", method="GET"))["list"]
    return {o["orderLinkId"]: o["orderStatus"] for o in listed}


async def place(stack: E2EStack, cid: str, account: str, **terms: Any) -> dict[str, Any]:
    order = {"symbol": "BTCUSDT", "qty": "0.01", "clientOrderId": cid, "account": account}
    return await stack.gateway.place(**(order | terms))


async def test_each_account_trades_under_its_own_credentials_and_freezes_alone(
    two_accounts: E2EStack,
) -> None:
    stack = two_accounts
    await stack.set_mid("BTCUSDT", "60000")
    mine = await place(stack, "d-bid", "default", side="Buy", price="59000")
    theirs = await place(stack, "a-ask", "alpha", side="Sell", price="61000")
    assert (mine["outcome"], theirs["outcome"]) == ("accepted", "accepted"), (mine, theirs)
    assert theirs["order"]["account"] == "alpha"
    assert await venue_orders(stack, DEFAULT_UID) == {"d-bid": "New"}
    assert await venue_orders(stack, ALPHA_UID) == {"a-ask": "New"}
    listed = await stack.gateway.orders(account="alpha")
    assert [o["clientOrderId"] for o in listed] == ["a-ask"]

    # alpha's market buy fills at the venue in alpha's account: only alpha's position moves
    taken = await place(stack, "a-take", "alpha", side="Buy", orderType="Market")
    assert taken["outcome"] == "accepted", taken

    async def alpha_long() -> bool:
        reply = await stack.gateway.call("GET", "/v1/positions", params={"account": "alpha"})
        return any(Decimal(p["qty"]) == Decimal("0.01") for p in reply.json()["positions"])

    await wait_for(alpha_long, what="alpha's fill in alpha's position")
    default = await stack.gateway.call("GET", "/v1/positions", params={"account": "default"})
    assert all(Decimal(p["qty"]) == 0 for p in default.json()["positions"]), default.text

    frozen = await stack.gateway.post(
        "/v1/risk/freeze", {"reason": "alpha drill", "account": "alpha"}
    )
    assert frozen.status_code == 200, frozen.text

    async def alpha_flat() -> bool:
        return (await venue_orders(stack, ALPHA_UID)).get("a-ask") == "Cancelled"

    await wait_for(alpha_flat, what="alpha's resting order cancelled by the sweep")
    assert (await venue_orders(stack, DEFAULT_UID))["d-bid"] == "New"
    denied = await place(stack, "a-late", "alpha", side="Sell", price="61500")
    assert denied["outcome"] == "denied", denied
    still = await place(stack, "d-more", "default", side="Buy", price="58900")
    assert still["outcome"] == "accepted", still
    risk = await stack.gateway.call("GET", "/v1/risk", params={"account": "alpha"})
    body = risk.json()
    assert (body["trading"]["state"], body["accountTrading"]["state"]) == ("ACTIVE", "FROZEN")

    resumed = await stack.gateway.post(
        "/v1/risk/unfreeze", {"reason": "drill over", "account": "alpha", "force": True}
    )
    assert resumed.status_code == 200, resumed.text

    async def alpha_trades() -> bool:
        reply = await place(stack, f"a-again-{id(stack)}", "alpha", side="Sell", price="61200")
        return bool(reply["outcome"] == "accepted")

    await wait_for(alpha_trades, what="alpha trading again after its unfreeze")


async def test_an_account_that_is_not_configured_is_refused_and_nothing_is_written(
    two_accounts: E2EStack,
) -> None:
    reply = await two_accounts.gateway.call(
        "POST",
        "/v1/orders",
        json={"symbol": "BTCUSDT", "side": "Buy", "orderType": "Limit", "qty": "0.01",
              "price": "59000", "clientOrderId": "x-1", "account": "beta"},
    )  # fmt: skip
    assert reply.status_code == 422 and "beta" in reply.text, reply.text
    assert await two_accounts.gateway.orders(account="default") == []
