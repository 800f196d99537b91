"""Roles in the console and at the server: a viewer sees no button, a trader can cancel an
order but sees no freeze, unfreeze, cancel-all or limits editing, and the server refuses each
of those calls with 403 whatever the page shows. An operator edits limits (a refusal shows
the API's 422 message) and cancels every order of a symbol."""

from __future__ import annotations

from typing import Any

import httpx
import pytest
from playwright.async_api import expect

from libs.common.api_keys import Role
from tests.browser.conftest import ConsolePage, issue
from tests.e2e.harness import E2EStack, wait_for

pytestmark = pytest.mark.e2e

UI_TIMEOUT_MS = 15_000
OPERATOR_ONLY = [
    ("POST", "/v1/risk/freeze", {"reason": "not mine"}),
    ("POST", "/v1/risk/unfreeze", {"reason": "not mine", "force": True}),
    ("PUT", "/v1/risk/limits", {"maxOpenOrdersPerSymbol": 5}),
    ("DELETE", "/v1/orders?symbol=BTCUSDT", None),
]
TRADER_ONLY = [
    ("DELETE", "/v1/orders/role-test-1", None),
    ("POST", "/v1/orders", {"symbol": "BTCUSDT", "side": "Buy", "orderType": "Limit",
                            "qty": "0.001", "price": "59000"}),
]  # fmt: skip


async def _statuses(stack: E2EStack, key: str, calls: list[Any]) -> list[int]:
    async with httpx.AsyncClient(base_url=stack.gateway.base_url, timeout=10) as http:
        return [
            (await http.request(method, path, json=body, headers={"X-API-Key": key})).status_code
            for method, path, body in calls
        ]


async def test_viewer_and_trader_see_only_what_their_role_allows_and_the_server_agrees(
    stack: E2EStack, console_page: ConsolePage, artifact: Any
) -> None:
    await stack.set_mid("BTCUSDT", "60000")
    placed = await stack.gateway.place(
        symbol="BTCUSDT", side="Buy", qty="0.001", price="59000", clientOrderId="role-test-1"
    )
    assert placed["outcome"] == "accepted", placed
    expect.set_options(timeout=UI_TIMEOUT_MS)

    viewer = await console_page(stack, Role.VIEWER)
    await expect(viewer.locator("#orders tbody tr")).to_have_count(1)
    await expect(viewer.locator("#trading-state")).to_have_text("ACTIVE")
    assert await viewer.locator("button:visible").count() == 0
    assert await viewer.locator("#limits input").count() == 0
    await expect(viewer.locator("#limits")).to_contain_text("maxOpenOrdersPerSymbol")
    await viewer.screenshot(path=artifact("viewer.png"), full_page=True)

    trader = await console_page(stack, Role.TRADER)
    await expect(trader.locator("#orders tbody tr")).to_have_count(1)
    assert await trader.locator("button:visible").all_inner_texts() == ["Cancel"]
    for hidden in ("#controls", "#freeze-button", "#unfreeze-button", "#limits-button"):
        await expect(trader.locator(hidden)).to_be_hidden()
    assert await trader.locator("#limits input").count() == 0

    viewer_key = await issue(stack, Role.VIEWER, "api-viewer")
    trader_key = await issue(stack, Role.TRADER, "api-trader")
    assert await _statuses(stack, viewer_key, OPERATOR_ONLY + TRADER_ONLY) == [403] * 6
    assert await _statuses(stack, trader_key, OPERATOR_ONLY) == [403] * 4
    assert (await stack.gateway.risk())["trading"]["state"] == "ACTIVE"
    assert len(await stack.gateway.orders()) == 1

    operator = await console_page(stack, Role.OPERATOR)
    await operator.fill("#limits input[name=maxOpenOrdersPerSymbol]", "0")
    await operator.click("#limits-button")
    refusal = operator.locator("#limits-message")
    await expect(refusal).to_contain_text("Refused (422)")
    await expect(refusal).to_contain_text("maxOpenOrdersPerSymbol")
    await operator.fill("#limits input[name=maxOpenOrdersPerSymbol]", "40")
    await operator.click("#limits-button")
    await expect(refusal).to_contain_text("Limits saved: maxOpenOrdersPerSymbol")
    assert (await stack.gateway.risk())["limits"]["maxOpenOrdersPerSymbol"] == 40

    await operator.click("#cancel-per-symbol button[data-symbol=BTCUSDT]")
    await expect(operator.locator("#action-message")).to_contain_text("Cancel-all sent: BTCUSDT")
    await expect(operator.locator("#orders tbody tr")).to_have_count(0)
    assert await wait_for(lambda: _venue_flat(stack), what="BTCUSDT flat at the venue")


async def _venue_flat(stack: E2EStack) -> bool:
    return await stack.venue_open_orders("BTCUSDT") == []
