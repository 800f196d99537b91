"""Disconnection protection (DCP): cancel everything when the guarding connections die.

A private connection arms DCP by subscribing `dcp` (all products) or `dcp.future` /
`dcp.spot` / `dcp.option`. When every connection guarding a product has closed and none
comes back within that product's time window (POST /v5/order/disconnected-cancel-all,
3..300 s, 10 s by default), the product's open orders are cancelled with CancelByDCP.
All of it is per account: the connections, windows and cancels of one UID.
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
    """Tracks the connections guarding each account's products and fires the account's
    cancel when all of them are gone. Accounts are apart: one account's connections neither
    arm nor call off another's, and each has its own time windows."""

    def __init__(self, fire: Callable[[str, Category], None]) -> None:
        self._fire = fire
        self._windows: dict[str, dict[str, int]] = {}
        self._guards: dict[tuple[str, str], set[Any]] = {}
        """(uid, product) -> connections guarding it."""
        self._timers: dict[tuple[str, str], asyncio.TimerHandle] = {}
        self.fired: list[tuple[str, str]] = []
        """(uid, product) of every cancel that fired, oldest first."""

    def windows(self, uid: str) -> dict[str, int]:
        """Product -> time window (s) of the account."""
        return self._windows.setdefault(uid, dict.fromkeys(PRODUCTS, DEFAULT_WINDOW_S))

    def configure(self, uid: str, product: str, window_s: int) -> None:
        """Set a product's time window of the account (POST /v5/order/disconnected-cancel-all)."""
        self.windows(uid)[product] = window_s

    def subscribed(self, conn: Any, uid: str, topic: str) -> None:
        """`conn` (of the account `uid`) now guards the topic's products; a pending cancel of
        them is called off."""
        for product in _TOPIC_PRODUCTS[topic]:
            self._guards.setdefault((uid, product), set()).add(conn)
            timer = self._timers.pop((uid, product), None)
            if timer is not None:
                timer.cancel()

    def unsubscribed(self, conn: Any, uid: str, topic: str) -> None:
        for product in _TOPIC_PRODUCTS[topic]:
            self._guards.get((uid, product), set()).discard(conn)

    def disconnected(self, conn: Any) -> None:
        """`conn` died: start the window of every product it was the last guard of."""
        loop = asyncio.get_running_loop()
        for key, guards in self._guards.items():
            if conn not in guards:
                continue
            guards.discard(conn)
            if not guards and key not in self._timers:
                uid, product = key
                self._timers[key] = loop.call_later(self.windows(uid)[product], self._expire, key)

    def _expire(self, key: tuple[str, str]) -> None:
        self._timers.pop(key, None)
        if self._guards.get(key):
            return
        self.fired.append(key)
        uid, product = key
        category = CATEGORIES.get(product)
        if category is not None:
            self._fire(uid, category)

    def reset(self) -> None:
        """Forget pending cancels and windows (live subscriptions stay armed)."""
        for timer in self._timers.values():
            timer.cancel()
        self._timers.clear()
        self._windows.clear()
        self.fired.clear()
