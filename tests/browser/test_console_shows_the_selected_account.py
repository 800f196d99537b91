"""The console on a desk of two accounts: a key bound to both picks one; the orders, the
positions and the account's own trading state are that account's, and a freeze of one account
shows there while the desk's state stays ACTIVE."""

from __future__ import annotations

from typing import Any

import pytest
from playwright.async_api import expect

from libs.common.api_keys import Role
from tests.browser.conftest import ConsolePage
from tests.e2e.harness import E2EStack
from tests.e2e.test_two_accounts_trade_apart_and_freeze_apart import (  # noqa: F401 (fixture)
    place,
    two_accounts,
)

pytestmark = pytest.mark.e2e

UI_TIMEOUT_MS = 15_000


async def test_the_console_shows_the_account_picked_and_its_own_freeze(
    two_accounts: E2EStack,  # noqa: F811
    console_page: ConsolePage,
    artifact: Any,
) -> None:
    stack = two_accounts
    await stack.set_mid("BTCUSDT", "60000")
    assert (await place(stack, "d-quote", "default", side="Buy", price="59000"))["outcome"] == (
        "accepted"
    )
    assert (await place(stack, "a-quote", "alpha", side="Sell", price="61000"))["outcome"] == (
        "accepted"
    )
    expect.set_options(timeout=UI_TIMEOUT_MS)
    page = await console_page(stack, Role.OPERATOR, ("*",))

    await expect(page.locator("#account option")).to_have_count(2)
    await expect(page.locator("#orders")).to_contain_text("d-quote")
    await page.select_option("#account", "alpha")
    await expect(page.locator("#orders")).to_contain_text("a-quote")
    await expect(page.locator("#orders")).not_to_contain_text("d-quote")

    frozen = await stack.gateway.post(
        "/v1/risk/freeze", {"reason": "alpha drill", "account": "alpha"}
    )
    assert frozen.status_code == 200, frozen.text
    await expect(page.locator("#account-state")).to_have_text("FROZEN")
    await expect(page.locator("#trading-state")).to_have_text("ACTIVE")
    await expect(page.locator("#freeze-history tbody tr").first).to_contain_text("alpha")
    await page.screenshot(path=artifact("alpha-frozen.png"), full_page=True)
