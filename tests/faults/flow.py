"""A steady flow of orders through the gateway: resting quotes and taker orders that fill.

    flow = Flow(stack, "kill-router")
    task = flow.start(orders=90, rate_per_s=30)
    await flow.reached(30)              # a third of the way: inject the fault now
    await task                          # every order sent (some may have met a dead gateway)
    flow.placed                         # the clientOrderIds the gateway accepted (created)

Orders cycle through BTCUSDT and ETHUSDT: a Buy resting 3 % below the mid, a Sell resting 3 %
above it, and an IOC taker (Buy or Sell, alternately) 1 % through the mid that the simulator
fills at once. A request the gateway does not answer (it is down, or 429s) is not counted as
placed: only "created" answers are.
"""

from __future__ import annotations

import asyncio
import contextlib
import time
from collections import Counter
from collections.abc import AsyncIterator
from decimal import Decimal

import httpx

from tests.e2e.harness import E2EStack, wait_for

MIDS = {"BTCUSDT": Decimal("60000"), "ETHUSDT": Decimal("3000")}
QTY = {"BTCUSDT": "0.001", "ETHUSDT": "0.01"}
OPEN_LIMITS = {
    "maxOpenOrdersPerSymbol": 1000,
    "maxOrdersPerSecond": 1000,
    "maxOrderNotional": "100000",
    "maxInventoryUsd": "10000000",
    "maxTotalNotional": "100000000",
}
"""Limits no flow meets: every denial in a scenario is then the fault's doing."""


async def prepare(stack: E2EStack) -> None:
    """Open limits and fresh marks for both symbols."""
    await stack.set_limits(**OPEN_LIMITS)
    for symbol, mid in MIDS.items():
        await stack.set_mid(symbol, str(mid))


def order_body(scenario: str, i: int) -> dict[str, str]:
    """The i-th order of the flow (see the module docstring)."""
    symbol = ("BTCUSDT", "ETHUSDT")[i % 2]
    mid, kind = MIDS[symbol], (i // 2) % 3
    body = {"symbol": symbol, "qty": QTY[symbol], "clientOrderId": f"{scenario}-{i}"}
    if kind == 0:
        return {**body, "side": "Buy", "price": str(mid * Decimal("0.97"))}
    if kind == 1:
        return {**body, "side": "Sell", "price": str(mid * Decimal("1.03"))}
    side = ("Buy", "Sell")[(i // 6) % 2]
    through = Decimal("1.01") if side == "Buy" else Decimal("0.99")
    return {**body, "side": side, "price": str(mid * through), "timeInForce": "IOC"}


class Flow:
    """Places orders at a steady rate; remembers the ones the gateway created."""

    def __init__(self, stack: E2EStack, scenario: str) -> None:
        self.stack = stack
        self.scenario = scenario
        self.placed: list[str] = []
        self.tried: list[str] = []
        """Every clientOrderId sent, answered or not."""
        self.sent = 0
        self.answers: Counter[str] = Counter()
        """HTTP status (or transport error) -> how many answers."""
        self._gate = asyncio.Lock()
        """Held while an order is sent, and by `paused`."""

    def start(self, *, orders: int, rate_per_s: float = 30.0) -> asyncio.Task[None]:
        return asyncio.create_task(self.run(orders, rate_per_s), name=f"flow:{self.scenario}")

    async def run(self, orders: int, rate_per_s: float) -> None:
        started = time.monotonic()
        for i in range(orders):
            await asyncio.sleep(max(0.0, started + i / rate_per_s - time.monotonic()))
            async with self._gate:
                await self.place(order_body(self.scenario, i))

    @contextlib.asynccontextmanager
    async def paused(self) -> AsyncIterator[None]:
        """No order is sent inside (the one in flight is answered first); the flow catches
        up on its schedule after."""
        async with self._gate:
            yield

    async def place(self, body: dict[str, str]) -> None:
        self.sent += 1
        self.tried.append(body["clientOrderId"])
        try:
            response = await self.stack.gateway.http.post(
                "/v1/orders", json={"category": "linear", "orderType": "Limit", **body}
            )
        except httpx.TransportError as error:
            self.answers[type(error).__name__] += 1
            return
        self.answers[str(response.status_code)] += 1
        if response.status_code in (200, 201, 202) and response.json().get("created"):
            self.placed.append(body["clientOrderId"])
        elif response.status_code >= 500 and response.status_code != 503:
            raise AssertionError(f"the gateway answered {response.status_code}: {response.text}")
        # else 4xx, or 503 while Redis is away: not created, and the client knows it

    async def reached(self, sent: int, timeout_s: float = 30.0) -> None:
        async def probe() -> bool:
            return self.sent >= sent

        await wait_for(probe, what=f"{sent} orders of {self.scenario} sent", timeout_s=timeout_s)
