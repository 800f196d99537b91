"""Evidence 1: an order's whole life through every service, and the money at the end.

Buy BTCUSDT (filled in two public trades: partially, then fully) and sell ETHUSDT (filled at
once) through the gateway; then sell half the BTC back at a higher price, and settle funding
on the ETH short. The positions and
P&L the gateway shows equal a hand computation in Decimal, and the venue agrees with us
(the router's and positions' reconciliations find no drift).
"""

from __future__ import annotations

from decimal import Decimal as D
from typing import Any

import pytest

from tests.e2e.harness import E2EStack, wait_for

pytestmark = pytest.mark.e2e

MAKER_FEE = D("0.0002")
"""The simulator's linear maker fee: our resting orders fill as makers."""


async def _status(stack: E2EStack, client_order_id: str, status: str) -> dict[str, Any]:
    async def reached() -> dict[str, Any] | None:
        order = await stack.gateway.order(client_order_id)
        return order if order and order["status"] == status else None

    return await wait_for(reached, what=f"{client_order_id} {status}")


async def _position(stack: E2EStack, symbol: str, **expected: D) -> dict[str, Any]:
    async def matches() -> dict[str, Any] | None:
        positions = {p["symbol"]: p for p in (await stack.gateway.positions())["positions"]}
        position = positions.get(symbol)
        if position is None:
            return None
        seen = {k: D(position[k]) if position[k] is not None else None for k in expected}
        return position if seen == expected else None

    return await wait_for(matches, what=f"{symbol} position {expected}", timeout_s=15)


async def test_buy_and_sell_fill_and_positions_match_hand_computed_pnl(stack: E2EStack) -> None:
    await stack.set_mid("BTCUSDT", "60000")
    await stack.set_mid("ETHUSDT", "3000")

    buy = await stack.gateway.place(
        symbol="BTCUSDT", side="Buy", qty="0.002", price="59990", clientOrderId="e2e-btc-buy"
    )
    sell = await stack.gateway.place(
        symbol="ETHUSDT", side="Sell", qty="0.05", price="3001", clientOrderId="e2e-eth-sell"
    )
    assert (buy["outcome"], sell["outcome"]) == ("accepted", "accepted"), (buy, sell)
    assert {o["orderLinkId"] for o in await stack.venue_open_orders()} == {
        "e2e-btc-buy",
        "e2e-eth-sell",
    }

    await stack.sim.control("trade", {"symbol": "BTCUSDT", "price": "59990", "qty": "0.001"})
    partial = await _status(stack, "e2e-btc-buy", "PartiallyFilled")
    assert (D(partial["filledQty"]), D(partial["leavesQty"])) == (D("0.001"), D("0.001"))
    await stack.sim.control("trade", {"symbol": "BTCUSDT", "price": "59990", "qty": "0.001"})
    await stack.sim.control("trade", {"symbol": "ETHUSDT", "price": "3001", "qty": "0.05"})
    filled = await _status(stack, "e2e-btc-buy", "Filled")
    assert D(filled["avgFillPrice"]) == D("59990")
    await _status(stack, "e2e-eth-sell", "Filled")

    # Half the BTC back at 60010: realized 0.001 * (60010 - 59990) = 0.02.
    close = await stack.gateway.place(
        symbol="BTCUSDT", side="Sell", qty="0.001", price="60010", clientOrderId="e2e-btc-close"
    )
    assert close["outcome"] == "accepted", close
    await stack.sim.control("trade", {"symbol": "BTCUSDT", "price": "60010", "qty": "0.001"})
    await _status(stack, "e2e-btc-close", "Filled")

    # Marks move: BTC 60100, ETH 2990.
    await stack.set_mid("BTCUSDT", "60100")
    await stack.set_mid("ETHUSDT", "2990")

    btc_fees = (D("0.002") * D("59990") + D("0.001") * D("60010")) * MAKER_FEE
    btc = await _position(
        stack,
        "BTCUSDT",
        qty=D("0.001"),
        avgEntryPrice=D("59990"),
        realizedPnl=D("0.001") * (D("60010") - D("59990")),
        feesPaid=btc_fees,
        mark=D("60100"),
        unrealizedPnl=D("0.001") * (D("60100") - D("59990")),
    )
    assert D(btc["netPnl"]) == D("0.02") + D("0.11") - btc_fees
    eth_fees = D("0.05") * D("3001") * MAKER_FEE
    eth = await _position(
        stack,
        "ETHUSDT",
        qty=D("-0.05"),
        avgEntryPrice=D("3001"),
        realizedPnl=D(0),
        feesPaid=eth_fees,
        mark=D("2990"),
        unrealizedPnl=D("-0.05") * (D("2990") - D("3001")),
    )
    assert D(eth["netPnl"]) == D("0.55") - eth_fees

    # Funding at +0.01%: the short receives 0.05 * 2990 * 0.0001 = 0.01495; P&L counts it.
    settled = await stack.sim.control("funding", {"symbol": "ETHUSDT", "rate": "0.0001"})
    assert [D(e["execFee"]) for e in settled["executions"]] == [D("-0.01495")]
    eth = await _position(stack, "ETHUSDT", qty=D("-0.05"), fundingPaid=D("-0.01495"))
    assert D(eth["netPnl"]) == D("0.55") - eth_fees + D("0.01495")

    venue = {p["symbol"]: D(p["size"]) * (1 if p["side"] == "Buy" else -1)
             for p in (await stack.sim.control("positions", method="GET"))["list"]
             if D(p["size"]) != 0}  # fmt: skip
    assert venue == {"BTCUSDT": D("0.001"), "ETHUSDT": D("-0.05")}

    async def reconciled_without_drift() -> list[tuple[str, dict[str, str], float]] | None:
        samples = await stack.metric_samples("reconciliation_drift")
        kinds = {labels["kind"] for _, labels, _ in samples}
        complete = {"position_qty", "open_orders", "executions"} <= kinds
        return samples if complete and all(v == 0 for _, _, v in samples) else None

    await wait_for(reconciled_without_drift, what="a reconciliation without drift", timeout_s=15)
