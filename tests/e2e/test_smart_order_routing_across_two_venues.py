"""Smart order routing across two venues: a Bybit simulator and a Binance USDⓈ-M simulator
(the same matching core, each its own process, book and fees: Bybit's taker fee 5.5 bps,
Binance's 2 bps here), the whole stack trading both (MMX_VENUES=bybit,binance-usdm).

* An auto order goes to the venue with the better price after fees; its fill lands in that
  venue's position, and risk counts it across venues.
* When the better book lacks depth within the limit, the order is split, each child an
  order tracked to its parent, and the children's fills add up to the parent.
* A venue whose circuit is open is avoided, and the desk trades on at the other.
* A freeze flattens both venues, and each router lane confirms its venue flat.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from decimal import Decimal
from pathlib import Path
from typing import Any

import httpx
import pytest
import redis.asyncio as aioredis

from libs.common import topology
from libs.common.redis_connect import redis_from_url
from tests.e2e.conftest import FAILED, SIM_LIMITS
from tests.e2e.harness import SERVICES, E2EStack, wait_for
from tests.simulator import SimProcess

pytestmark = pytest.mark.e2e

D = Decimal
BINANCE_TAKER = "0.0002"


class TwoVenues:
    """The stack with the Binance simulator beside the Bybit one."""

    def __init__(self, stack: E2EStack, binance: SimProcess) -> None:
        self.stack = stack
        self.binance = binance

    async def set_mids(self, bybit: str, binance: str) -> None:
        await self.binance.control("mid", {"symbol": "BTCUSDT", "price": binance})
        await self.stack.set_mid("BTCUSDT", bybit)

    async def preview(self, **order: Any) -> dict[str, Any]:
        body = {"symbol": "BTCUSDT", "side": "Buy", "orderType": "Market", "venue": "auto"}
        answer = await self.stack.gateway.post("/v1/route/preview", body | order)
        assert answer.status_code == 200, answer.text
        return dict(answer.json())

    async def wait_books(self, binance_ask: Decimal) -> None:
        """Until the book feed has the Binance book at `binance_ask` (after a mid move)."""

        async def fresh() -> bool:
            plan = await self.preview(qty="0.001")
            return any(D(c["expectedAvgPrice"]) == binance_ask for c in plan["children"]) or any(
                c["venue"] == "bybit" for c in plan["children"]
            )

        await wait_for(fresh, what="both books in the feed", timeout_s=15)

    async def asks(self, sim: SimProcess, path: str, params: dict[str, str]) -> list[list[str]]:
        async with httpx.AsyncClient(timeout=5) as http:
            reply = (await http.get(f"{sim.base_url}{path}", params=params)).json()
        return list(reply["asks"] if "asks" in reply else reply["result"]["a"])


@pytest.fixture
async def two_venues(
    e2e_redis_url: str, e2e_sim: SimProcess, tmp_path: Path, request: pytest.FixtureRequest
) -> AsyncIterator[TwoVenues]:
    binance = SimProcess(personality="binance-usdm", market_frozen=True)
    binance.extra_env["MMX_SIM_TAKER_FEE"] = BINANCE_TAKER
    binance.start()
    await e2e_sim.control("reset", {"marketFrozen": True})
    await e2e_sim.control("limits", SIM_LIMITS)
    shared = {
        "MMX_VENUES": "bybit,binance-usdm",
        "MMX_BINANCE_VENUE": "sim",
        "MMX_BINANCE_URL": binance.base_url,
        "MMX_BINANCE_API_KEY": binance.api_key,
        "MMX_BINANCE_API_SECRET": binance.api_secret,
        "MMX_POSITIONS_BOOK_INTERVAL_S": "0.1",
        "MMX_ROUTER_CIRCUIT_FAILURE_THRESHOLD": "3",
        "MMX_ROUTER_VENUE_PROBE_INTERVAL_S": "0.3",
        "MMX_GATEWAY_ROUTE_MAX_BOOK_AGE_MS": "3000",
    }
    stack = E2EStack(e2e_redis_url, e2e_sim, tmp_path / "logs", env=dict.fromkeys(SERVICES, shared))
    try:
        await stack.start()
        yield TwoVenues(stack, binance)
    finally:
        await stack.stop()
        binance.stop()
        if request.node.stash.get(FAILED, False):
            print(stack.logs())


async def positions_by_venue(stack: E2EStack) -> dict[str, Decimal]:
    listed = (await stack.gateway.positions())["positions"]
    return {p["venue"]: D(p["qty"]) for p in listed if p["symbol"] == "BTCUSDT"}


async def test_auto_orders_take_the_better_venue_split_on_depth_and_a_freeze_flattens_both(
    two_venues: TwoVenues,
) -> None:
    stack, binance = two_venues.stack, two_venues.binance
    await two_venues.set_mids(bybit="60000", binance="60000")
    binance_ask = D((await two_venues.asks(binance, "/fapi/v1/depth", {"symbol": "BTCUSDT"}))[0][0])
    await two_venues.wait_books(binance_ask)

    # 1. same prices, Binance's lower fee: the whole order goes there and fills there
    plan = await two_venues.preview(qty="0.01")
    assert [c["venue"] for c in plan["children"]] == ["binance-usdm"], plan
    placed = await stack.gateway.place(
        symbol="BTCUSDT", side="Buy", orderType="Market", qty="0.01", venue="auto",
        clientOrderId="hedge-1",
    )  # fmt: skip
    assert [r["order"]["venue"] for r in placed["children"]] == ["binance-usdm"], placed
    assert [r["outcome"] for r in placed["children"]] == ["accepted"], placed

    async def binance_long() -> bool:
        return (await positions_by_venue(stack)).get("binance-usdm") == D("0.01")

    await wait_for(binance_long, what="the fill in the binance-usdm position")
    assert (await positions_by_venue(stack)).get("bybit", D(0)) == 0
    child = await stack.gateway.order("hedge-1-1")
    assert child is not None and child["status"] == "Filled" and child["parentId"] == "hedge-1"

    # 2. an IOC limit where Binance's book is thinner than the order: split, Binance first
    # (cheaper after fees), the rest at Bybit; the children's fills add up to the parent
    limits = {"maxOrderNotional": "200000", "maxInventoryUsd": "200000"}
    await stack.set_limits(**limits, maxTotalNotional="500000", dailyLossLimit="10000")
    await two_venues.set_mids(bybit="59999.5", binance="60000")
    await two_venues.wait_books(binance_ask)
    limit = binance_ask
    book = await two_venues.asks(binance, "/fapi/v1/depth", {"symbol": "BTCUSDT"})
    depth = sum((D(q) for p, q in book if D(p) <= limit), D(0))
    qty = depth + D("0.02")
    order = {"orderType": "Limit", "timeInForce": "IOC", "price": str(limit), "qty": str(qty)}
    plan = await two_venues.preview(**order)
    venues = [c["venue"] for c in plan["children"]]
    assert venues == ["binance-usdm", "bybit"], plan
    assert sum(D(c["qty"]) for c in plan["children"]) == qty
    routed = await stack.gateway.place(
        symbol="BTCUSDT", side="Buy", venue="auto", clientOrderId="hedge-2", **order
    )
    children = [r["order"]["clientOrderId"] for r in routed["children"]]
    assert children == ["hedge-2-1", "hedge-2-2"], routed

    async def children_filled() -> list[dict[str, Any]] | None:
        found = [await stack.gateway.order(cid) for cid in children]
        done = all(o is not None and o["status"] in ("Filled", "Canceled") for o in found)
        return [o for o in found if o is not None] if done else None

    filled = await wait_for(children_filled, what="both children done")
    assert sum(D(o["filledQty"]) for o in filled) == qty
    assert {o["venue"]: D(o["filledQty"]) for o in filled} == {
        c["venue"]: D(c["qty"]) for c in plan["children"]
    }

    async def both_positions() -> bool:
        held = await positions_by_venue(stack)
        return held.get("binance-usdm", D(0)) + held.get("bybit", D(0)) == qty + D("0.01")

    await wait_for(both_positions, what="each child's fill in its venue's position")

    # 3. resting orders at both venues, then a freeze: each venue is flattened and confirmed
    for venue, price in (("bybit", "59000"), ("binance-usdm", "59100")):
        rest = await stack.gateway.place(
            symbol="BTCUSDT", side="Buy", orderType="Limit", qty="0.001", price=price, venue=venue
        )
        assert rest["outcome"] == "accepted", rest
    assert len(await stack.venue_open_orders("BTCUSDT")) == 1
    assert len(await _open_at(binance)) == 1
    frozen = await stack.gateway.post("/v1/risk/freeze", {"reason": "drill: two venues"})
    assert frozen.status_code == 200, frozen.text

    async def both_flat() -> bool:
        return not await stack.venue_open_orders() and not await _open_at(binance)

    await wait_for(both_flat, what="both venues flat after the freeze", timeout_s=15)
    client = redis_from_url(stack.redis_url)
    try:

        async def each_lane_confirmed() -> set[str] | None:
            lanes = await _flat_confirmations(client)
            return (
                lanes
                if any(lane.endswith("@binance-usdm") for lane in lanes)
                and any("@" not in lane for lane in lanes)
                else None
            )

        await wait_for(each_lane_confirmed, what="a flat confirmation per venue", timeout_s=15)
    finally:
        await client.aclose()


async def test_an_auto_order_avoids_a_venue_whose_circuit_is_open(two_venues: TwoVenues) -> None:
    stack, binance = two_venues.stack, two_venues.binance
    await two_venues.set_mids(bybit="60000", binance="60000")
    binance_ask = D((await two_venues.asks(binance, "/fapi/v1/depth", {"symbol": "BTCUSDT"}))[0][0])
    await two_venues.wait_books(binance_ask)
    assert [c["venue"] for c in (await two_venues.preview(qty="0.01"))["children"]] == [
        "binance-usdm"
    ]

    # the router's probes of Binance fail: its circuit opens (the book feed still reads it)
    await binance.control("faults", {"http5xxNext": 1000, "paths": ["/fapi/v1/time"]})

    async def avoided() -> dict[str, Any] | None:
        plan = await two_venues.preview(qty="0.01")
        verdict = {v["venue"]: v for v in plan["verdicts"]}["binance-usdm"]
        return plan if "circuit open" in verdict["reason"] else None

    plan = await wait_for(avoided, what="binance-usdm's circuit open in the plan", timeout_s=15)
    assert [c["venue"] for c in plan["children"]] == ["bybit"], plan
    routed = await stack.gateway.place(
        symbol="BTCUSDT", side="Buy", orderType="Market", qty="0.01", venue="auto"
    )
    assert [(r["order"]["venue"], r["outcome"]) for r in routed["children"]] == [
        ("bybit", "accepted")
    ], routed
    risk = await stack.gateway.risk()
    assert risk["trading"]["state"] == "ACTIVE", "one venue's open circuit freezes nothing"
    await binance.control("faults", {"clear": True})


async def _open_at(sim: SimProcess) -> list[dict[str, Any]]:
    return [o for o in await sim.orders() if o["orderStatus"] in ("New", "PartiallyFilled")]


async def _flat_confirmations(client: aioredis.Redis) -> set[str]:
    status = await client.hgetall(topology.FREEZE_KEY)
    key = topology.freeze_flat_key(status[b"generation"].decode(), int(status[b"epoch"]))
    return {lane.decode() for lane in await client.hkeys(key)}
