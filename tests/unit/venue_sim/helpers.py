"""Helpers for the engine tests: a fake clock, an exchange factory, order shortcuts."""

from __future__ import annotations

from decimal import Decimal
from typing import Any

from libs.common.domain.enums import Category
from services.venue_sim.engine import Exchange, SimOrder
from services.venue_sim.engine.catalog import specs_for

MAKER = Decimal("0.0002")
TAKER = Decimal("0.00055")
SPOT_FEE = Decimal("0.001")


class FakeClock:
    """Milliseconds that only move when a test moves them."""

    def __init__(self, now: int = 1_700_000_000_000) -> None:
        self.now = now

    def __call__(self) -> int:
        return self.now

    def advance(self, ms: int = 1) -> None:
        self.now += ms


def make_exchange(clock: FakeClock, **kw: Any) -> Exchange:
    options: dict[str, Any] = {
        "clock": clock,
        "fees": {Category.LINEAR: (MAKER, TAKER), Category.SPOT: (SPOT_FEE, SPOT_FEE)},
        "balances": {"USDT": Decimal(100_000)},
    }
    options.update(kw)
    return Exchange(specs_for(["BTCUSDT", "ETHUSDT"]), **options)


def limit(
    ex: Exchange,
    side: str,
    qty: str,
    price: str,
    *,
    symbol: str = "BTCUSDT",
    category: Category = Category.LINEAR,
    uid: str | None = None,
    **extra: Any,
) -> SimOrder:
    """Place a Limit order (for the account `uid`, the first by default) and return it."""
    params = {"symbol": symbol, "side": side, "orderType": "Limit", "qty": qty, "price": price}
    order, _ = ex.place(category, {**params, **extra}, uid)
    return order


def market(
    ex: Exchange,
    side: str,
    qty: str,
    *,
    symbol: str = "BTCUSDT",
    category: Category = Category.LINEAR,
    uid: str | None = None,
    **extra: Any,
) -> SimOrder:
    """Place a Market order (for the account `uid`, the first by default) and return it."""
    params = {"symbol": symbol, "side": side, "orderType": "Market", "qty": qty}
    order, _ = ex.place(category, {**params, **extra}, uid)
    return order
