"""A clientOrderId sent again through the whole stack: the same terms answer the first
outcome and its reason (a denial stays a denial), other terms are refused with 409, and
Bybit's `orderLinkId` names the same order."""

from __future__ import annotations

import pytest

from tests.e2e.harness import E2EStack

pytestmark = pytest.mark.e2e

OVER = {"symbol": "BTCUSDT", "side": "Buy", "qty": "0.02", "price": "59000"}


async def test_retry_of_a_denied_order_answers_denied_with_the_reason_and_places_nothing(
    stack: E2EStack,
) -> None:
    await stack.set_mid("BTCUSDT", "60000")
    await stack.set_limits(maxInventoryUsd="1000", maxOrderNotional="5000")
    first = await stack.gateway.place(**OVER, clientOrderId="e2e-denied")
    assert first["outcome"] == "denied", first

    retry = await stack.gateway.place(**OVER, orderLinkId="e2e-denied")
    other = await stack.gateway.post(
        "/v1/orders?wait=true",
        {**OVER, "orderType": "Limit", "qty": "0.001", "clientOrderId": "e2e-denied"},
    )

    assert (retry["created"], retry["outcome"]) == (False, "denied")
    assert retry["reason"] == first["reason"] and "inventory" in retry["reason"].lower()
    assert other.status_code == 409, other.text
    assert other.json()["details"] == [
        {"clientOrderId": "e2e-denied", "field": "qty", "taken": "0.02", "requested": "0.001"}
    ]
    assert "e2e-denied" not in {o["orderLinkId"] for o in await stack.sim.orders()}
    record = await stack.gateway.order("e2e-denied")
    assert record is not None and (record["status"], record["qty"]) == ("Rejected", "0.02")
