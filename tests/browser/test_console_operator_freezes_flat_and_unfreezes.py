"""The console in a real browser, as an operator: positions move while the demo trades; a
freeze with a reason takes the venue flat and the page shows FROZEN; an unfreeze within the
cooldown is refused (the page shows why and the cooldown left), then forced."""

from __future__ import annotations

import json
import re
from decimal import Decimal
from typing import Any

import pytest
from playwright.async_api import Page, expect

from libs.common import topology
from libs.common.api_keys import Role
from libs.common.redis_connect import redis_from_url
from tests.browser.conftest import ConsolePage
from tests.e2e.conftest import StackFactory
from tests.e2e.harness import E2EStack, wait_for

pytestmark = pytest.mark.e2e

MIDS = {"BTCUSDT": "60000", "ETHUSDT": "3000"}
COOLDOWN_S = 300
UI_TIMEOUT_MS = 15_000


async def _demo_bid(stack: E2EStack, symbol: str) -> dict[str, Any] | None:
    bids = [
        o
        for o in await stack.venue_open_orders(symbol)
        if o["orderLinkId"].startswith("demo-") and o["side"] == "Buy"
    ]
    return bids[0] if bids else None


async def _fill_demo_bid(stack: E2EStack, symbol: str) -> None:
    """A public trade at the demo's resting bid: it fills as a maker."""
    bid = await wait_for(lambda: _demo_bid(stack, symbol), what=f"the demo's {symbol} bid")
    await stack.sim.control("trade", {"symbol": symbol, "price": bid["price"], "qty": bid["qty"]})


async def _edge_reported(stack: E2EStack) -> bool:
    samples = await stack.metric_samples("edge_bps", source="reported")
    return {labels["symbol"] for _, labels, _ in samples} == set(MIDS)


def _cell(page: Page, table: str, symbol: str, column: int) -> Any:
    return page.locator(f"#{table} tbody tr[data-symbol={symbol}] td:nth-child({column})")


async def test_operator_watches_demo_trade_freezes_flat_and_forces_unfreeze_in_cooldown(
    make_stack: StackFactory, console_page: ConsolePage, artifact: Any
) -> None:
    env = {"gateway": {"MMX_GATEWAY_UNFREEZE_COOLDOWN_S": str(COOLDOWN_S)}}
    stack = await make_stack(env=env)
    for symbol, mid in MIDS.items():
        await stack.set_mid(symbol, mid)
    await stack.set_limits(edgeFreezeThresholdBps="0")  # as `mmx up` does for the demo
    stack.spawn_demo("--interval", "0.2", "--edge-every", "0.5")
    page = await console_page(stack, Role.OPERATOR)
    expect.set_options(timeout=UI_TIMEOUT_MS)

    await expect(page.locator("#trading-state")).to_have_text("ACTIVE")
    await expect(page.locator("#orders tbody tr")).to_have_count(4)  # two-sided, two symbols
    await wait_for(lambda: _edge_reported(stack), what="the demo's edge reports")
    await _fill_demo_bid(stack, "BTCUSDT")  # its events refresh every panel, edge included
    await expect(_cell(page, "positions", "BTCUSDT", 2)).to_have_text("bybit")
    btc_qty = _cell(page, "positions", "BTCUSDT", 3)
    await expect(btc_qty).to_have_text("0.001000")  # the stream moved it: no reload
    await _fill_demo_bid(stack, "BTCUSDT")
    await expect(btc_qty).to_have_text("0.002000")
    await expect(_cell(page, "positions", "BTCUSDT", 5)).to_have_text("60000.00")
    # The demo reports 5 bps, then what its fills earned (about 5): two decimals either way.
    await expect(_cell(page, "edge", "BTCUSDT", 2)).to_have_text(re.compile(r"^5\.\d\d$"))
    await expect(page.locator("#edge svg[data-symbol=BTCUSDT] polyline.reported")).to_have_count(1)
    await expect(page.locator("#utilisation .bar-row").first).to_be_visible()
    await expect(page.locator("#streams tbody tr").first).to_be_visible()
    circuit = page.locator("#circuits tbody tr").first  # from /v1/risk's venueCircuits
    await expect(circuit.locator("td:nth-child(2)")).to_have_text("closed")
    await expect(circuit.locator("td:nth-child(5)")).not_to_have_text("\u2014")  # updatedTime
    # The venue's own rate-limit count, per endpoint the routers used (orders, reconciliation)
    headroom = page.locator("#headroom .bar-row[data-group=query]").first
    await expect(headroom.locator("span.num")).to_have_text(re.compile(r"^\d+/\d+ left$"))
    # The page reads the drift on its next event after a pass: the freeze's events, here.
    await wait_for(lambda: _reconciled(stack, "BTCUSDT", "0.002"), what="a positions pass")
    await page.screenshot(path=artifact("live.png"), full_page=True)

    await page.fill("#freeze-reason", "browser drill")
    await page.click("#freeze-button")
    await expect(page.locator("#trading-state")).to_have_text("FROZEN")
    await expect(page.locator("#state-reason")).to_have_text("manual: browser drill")
    assert await wait_for(
        lambda: _flat(stack), what="the venue flat after the freeze", timeout_s=10
    )
    await expect(page.locator("#orders tbody tr")).to_have_count(0)
    drift = page.locator("#drift tbody tr[data-symbol=BTCUSDT]")  # both sides agree: no drift
    await expect(drift.locator("td:nth-child(2)")).to_have_text("0.002000")
    await expect(drift.locator("td:nth-child(4)")).to_have_text("0.000000")
    await expect(drift.locator("td:nth-child(6)")).to_have_text("0")  # the router's pass
    await expect(page.locator("#freeze-history tbody tr").first).to_contain_text("FROZEN")
    await expect(page.locator("#audit tbody")).to_contain_text("FreezeTrading")
    await page.screenshot(path=artifact("frozen.png"), full_page=True)

    await page.fill("#unfreeze-reason", "too soon")
    await page.click("#unfreeze-button")
    message = page.locator("#action-message")
    await expect(message).to_contain_text("Refused (409)")
    await expect(message).to_contain_text("cooldown")
    await expect(page.locator("#cooldown")).to_be_visible()
    left = int((await page.locator("#cooldown-left").inner_text()).removesuffix(" s"))
    assert 0 < left <= COOLDOWN_S
    await expect(page.locator("#trading-state")).to_have_text("FROZEN")
    await page.screenshot(path=artifact("refused.png"), full_page=True)

    await page.fill("#unfreeze-reason", "drill over")
    await page.check("#unfreeze-force")
    await page.click("#unfreeze-button")
    await expect(message).to_contain_text("Unfrozen (forced)")
    await expect(page.locator("#trading-state")).to_have_text("ACTIVE")
    await expect(page.locator("#cooldown")).to_be_hidden()
    assert (await stack.gateway.risk())["trading"]["state"] == "ACTIVE"
    await expect(page.locator("#audit tbody")).to_contain_text("UnfreezeTrading")


async def _reconciled(stack: E2EStack, symbol: str, qty: str) -> bool:
    """The positions service's last pass found `qty` of `symbol` on both sides."""
    client = redis_from_url(stack.redis_url)
    try:
        value = await client.hget(topology.POSITION_DRIFT_KEY, symbol)
    finally:
        await client.aclose()
    if value is None:
        return False
    record = json.loads(value)
    return Decimal(record["engine_qty"]) == Decimal(qty) == Decimal(record["venue_qty"])


async def _flat(stack: E2EStack) -> bool:
    """No order open at the simulator, and none open in the gateway's records."""
    return await stack.venue_open_orders() == [] and await stack.gateway.orders() == []
