"""The orders the benchmark sends, as `/v1/orders` bodies: Decimal prices, strings on the wire.

The simulator's market is frozen, so each symbol's mid stays at its catalogue start
(services/venue_sim/engine/catalog.py) and the touch at mid -/+ one tick.

- `ioc_away`: a Limit IOC 1% from the mid on its own side (inside risk's 5% band, never
  marketable): the venue cancels it at once, so load never grows the book.
- `resting`: a GTC Limit 3-4% from the mid: rests, never fills.
- `marketable`: a Market order of the minimum size: fills at once at the touch.

`for_account` names the account an order trades for (`"account"`; left out for `default`,
which is what the gateway assumes).
"""

from __future__ import annotations

import itertools
from dataclasses import dataclass
from decimal import ROUND_CEILING, ROUND_FLOOR, Decimal
from typing import Any

from libs.common.domain.enums import Category
from libs.common.domain.ids import DEFAULT_ACCOUNT, AccountId
from services.venue_sim.engine.catalog import CATALOG, InstrumentSpec

MIN_NOTIONAL_USD = Decimal(5)
IOC_DISTANCE = Decimal("0.01")
RESTING_DISTANCE = Decimal("0.03")
RESTING_SPREAD = Decimal("0.01")
"""Resting prices spread over 3% to 4% from the mid."""

Body = dict[str, Any]


@dataclass(frozen=True)
class Instrument:
    """What the benchmark needs of one linear symbol."""

    symbol: str
    mid: Decimal
    tick: Decimal
    qty: Decimal
    """The smallest step multiple worth at least 5 USD at 4% below the mid."""

    @classmethod
    def of(cls, spec: InstrumentSpec) -> Instrument:
        rules = spec.rules
        lowest = spec.start_mid * (1 - RESTING_DISTANCE - RESTING_SPREAD)
        steps = (MIN_NOTIONAL_USD * Decimal("1.1") / lowest / rules.qty_step).to_integral_value(
            ROUND_CEILING
        )
        qty = max(rules.min_qty, steps * rules.qty_step)
        return cls(spec.symbol, spec.start_mid, rules.tick_size, qty)

    def price(self, side: str, distance: Decimal) -> Decimal:
        """A price `distance` (a fraction) from the mid, below for Buy, above for Sell,
        on the tick grid (rounded away from the mid)."""
        if side == "Buy":
            raw = self.mid * (1 - distance)
            return (raw / self.tick).to_integral_value(ROUND_FLOOR) * self.tick
        raw = self.mid * (1 + distance)
        return (raw / self.tick).to_integral_value(ROUND_CEILING) * self.tick


def instruments(symbols: tuple[str, ...]) -> list[Instrument]:
    """The linear instruments of `symbols`, from the simulator's catalogue."""
    return [Instrument.of(CATALOG[(Category.LINEAR, s)]) for s in symbols]


class Ids:
    """clientOrderIds `{tag}-{n}`: unique within one run, at most 36 characters."""

    def __init__(self, tag: str) -> None:
        self.tag = tag
        self._next = itertools.count(1)

    def __call__(self) -> str:
        return f"{self.tag}-{next(self._next)}"


def _body(
    inst: Instrument, side: str, order_type: str, cid: str, price: Decimal | None, tif: str
) -> Body:
    body: Body = {
        "category": "linear",
        "symbol": inst.symbol,
        "side": side,
        "orderType": order_type,
        "qty": str(inst.qty),
        "timeInForce": tif,
        "clientOrderId": cid,
    }
    if price is not None:
        body["price"] = str(price)
    return body


def for_account(body: Body, account: AccountId) -> Body:
    """`body` for `account`: with its `"account"` field, unless the account is `default`."""
    if account != DEFAULT_ACCOUNT:
        body["account"] = account
    return body


def ioc_away(inst: Instrument, n: int, cid: str) -> Body:
    """The n-th load order: a non-marketable Limit IOC, Buy and Sell alternately."""
    side = "Buy" if n % 2 == 0 else "Sell"
    return _body(inst, side, "Limit", cid, inst.price(side, IOC_DISTANCE), "IOC")


def resting(inst: Instrument, n: int, cid: str) -> Body:
    """The n-th resting order: a GTC Limit 3-4% away, Buy and Sell alternately."""
    side = "Buy" if n % 2 == 0 else "Sell"
    distance = RESTING_DISTANCE + RESTING_SPREAD * Decimal(n % 100) / 100
    return _body(inst, side, "Limit", cid, inst.price(side, distance), "GTC")


def marketable(inst: Instrument, side: str, cid: str) -> Body:
    """A Market order of the instrument's size: fills at once."""
    return _body(inst, side, "Market", cid, None, "IOC")
