"""The console survives a gateway restart: while the gateway is down the page says so (a
banner), then it reconnects by itself and shows live data again."""

from __future__ import annotations

from typing import Any

import pytest
from playwright.async_api import expect

from libs.common.api_keys import Role
from tests.browser.conftest import ConsolePage, start_gateway
from tests.e2e.harness import E2EStack

pytestmark = pytest.mark.e2e

UI_TIMEOUT_MS = 15_000


async def test_console_shows_the_outage_then_reconnects_to_a_restarted_gateway(
    stack: E2EStack, console_page: ConsolePage, artifact: Any
) -> None:
    await stack.set_mid("BTCUSDT", "60000")
    page = await console_page(stack, Role.OPERATOR)
    expect.set_options(timeout=UI_TIMEOUT_MS)
    banner = page.locator("#banner")
    await expect(banner).to_be_hidden()

    gateway = stack.service("gateway")
    gateway.kill()  # SIGKILL: the WebSocket drops without a close frame
    await expect(banner).to_be_visible()
    await expect(banner).to_contain_text("Disconnected")
    await expect(page.locator("#stream-status")).to_have_text("disconnected")
    await page.screenshot(path=artifact("disconnected.png"), full_page=True)

    restarted = start_gateway(stack, gateway.port)
    await stack.wait_ready(restarted)
    await stack.connect_gateway(restarted)
    await expect(banner).to_be_hidden()
    await expect(page.locator("#stream-status")).to_have_text("live")

    placed = await stack.gateway.place(
        symbol="BTCUSDT", side="Buy", qty="0.001", price="59000", clientOrderId="after-restart"
    )
    assert placed["outcome"] == "accepted", placed
    await expect(page.locator("#orders tbody tr[data-id=after-restart]")).to_be_visible()
    await expect(page.locator("#order-count")).to_have_text("1 open")
    await page.screenshot(path=artifact("reconnected.png"), full_page=True)
