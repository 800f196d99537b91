"""Disconnection protection (DCP): cancel everything when the guarding connections die.

A private connection arms DCP by subscribing `dcp` (all products) or `dcp.future` /
`dcp.spot` / `dcp.option`. When every connection guarding a product has closed and none
comes back within that product's time window (POST /v5/order/disconnected-cancel-all,
3..300 s, 10 s by default), the product's open orders are cancelled with CancelByDCP.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from typing import Any

from libs.common.domain.enums import Category

PRODUCTS = ("DERIVATIVES", "SPOT", "OPTIONS")
DEFAULT_WINDOW_S = 10
_TOPIC_PRODUCTS = {
    "dcp": PRODUCTS,
    "dcp.future": ("DERIVATIVES",),
    "dcp.spot": ("SPOT",),
    "dcp.option": ("OPTIONS",),
}
CATEGORIES = {"DERIVATIVES": Category.LINEAR, "SPOT": Category.SPOT}


class DcpWatch:
    """Tracks the connections guarding each product and fires the cancel when all are gone."""

    def __init__(self, fire: Callable[[Category], None]) -> None:
        self._fire = fire
        self.windows: dict[str, int] = dict.fromkeys(PRODUCTS, DEFAULT_WINDOW_S)
        self._guards: dict[str, set[Any]] = {p: set() for p in PRODUCTS}
        self._timers: dict[str, asyncio.TimerHandle] = {}
        self.fired: list[str] = []

    def configure(self, product: str, window_s: int) -> None:
        """Set a product's time window (POST /v5/order/disconnected-cancel-all)."""
        self.windows[product] = window_s

    def subscribed(self, conn: Any, topic: str) -> None:
        """`conn` now guards the topic's products; a pending cancel for them is called off."""
        for product in _TOPIC_PRODUCTS[topic]:
            self._guards[product].add(conn)
            timer = self._timers.pop(product, None)
            if timer is not None:
                timer.cancel()

    def unsubscribed(self, conn: Any, topic: str) -> None:
        for product in _TOPIC_PRODUCTS[topic]:
            self._guards[product].discard(conn)

    def disconnected(self, conn: Any) -> None:
        """`conn` died: start the window of every product it was the last guard of."""
        loop = asyncio.get_running_loop()
        for product, guards in self._guards.items():
            if conn not in guards:
                continue
            guards.discard(conn)
            if not guards and product not in self._timers:
                self._timers[product] = loop.call_later(
                    self.windows[product], self._expire, product
                )

    def _expire(self, product: str) -> None:
        self._timers.pop(product, None)
        if self._guards[product]:
            return
        self.fired.append(product)
        category = CATEGORIES.get(product)
        if category is not None:
            self._fire(category)

    def reset(self) -> None:
        """Forget pending cancels and windows (live subscriptions stay armed)."""
        for timer in self._timers.values():
            timer.cancel()
        self._timers.clear()
        self.windows = dict.fromkeys(PRODUCTS, DEFAULT_WINDOW_S)
        self.fired.clear()
