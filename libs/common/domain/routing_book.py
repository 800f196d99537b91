"""Book arithmetic for the smart order router (`libs.common.domain.routing`). Pure.

A level is `(price, qty)`; a book side is a tuple of levels, best first: asks ascending, bids
descending, both strictly. The side an order takes is the asks for a Buy and the bids for a
Sell. A level of qty 0 (a deletion a caller did not prune) is allowed and skipped.

- `within_limit`: the levels an order may take, those not beyond its limit price.
- `lots`: what a venue can fill in whole qty steps, as runs at one price each. A step that
  straddles two levels counts at the worse of them, so a lot's price never flatters it.
- `walk`: what taking a qty from the top of a book costs, level by level, exactly.
"""

from __future__ import annotations

from dataclasses import dataclass
from decimal import Decimal

from libs.common.domain.enums import Side
from libs.common.domain.errors import RoutingError
from libs.common.domain.instruments import round_to_step

Level = tuple[Decimal, Decimal]
"""(price, qty) of one book level."""

_ZERO = Decimal(0)


def check_levels(venue: str, name: str, levels: tuple[Level, ...], *, ascending: bool) -> None:
    """Raise RoutingError unless every level has a positive price and a non-negative qty,
    both Decimal, and the prices are strictly ascending (asks) or descending (bids)."""
    previous: Decimal | None = None
    for level in levels:
        if len(level) != 2:
            raise RoutingError(f"{venue} {name}: level {level!r} is invalid: expected (price, qty)")
        price, qty = level
        if not isinstance(price, Decimal) or not price.is_finite() or price <= 0:
            raise RoutingError(
                f"{venue} {name}: price {price!r} is invalid: expected a positive Decimal"
            )
        if not isinstance(qty, Decimal) or not qty.is_finite() or qty < 0:
            raise RoutingError(
                f"{venue} {name}: qty {qty!r} at {price} is invalid: expected a Decimal >= 0"
            )
        if previous is not None and (price <= previous if ascending else price >= previous):
            order = "ascending" if ascending else "descending"
            raise RoutingError(
                f"{venue} {name} are not best first: {price} after {previous} "
                f"(expected strictly {order} prices)"
            )
        previous = price


def beyond(side: Side, price: Decimal, limit: Decimal | None) -> bool:
    """True when a `side` order limited at `limit` may not take `price` (None: no limit)."""
    if limit is None:
        return False
    return price > limit if side is Side.BUY else price < limit


def within_limit(side: Side, levels: tuple[Level, ...], limit: Decimal | None) -> tuple[Level, ...]:
    """The non-empty levels of the side `side` takes, up to the first one beyond `limit`."""
    taken: list[Level] = []
    for price, qty in levels:
        if beyond(side, price, limit):
            break
        if qty > 0:
            taken.append((price, qty))
    return tuple(taken)


@dataclass(frozen=True, slots=True)
class Lot:
    """A run of whole qty steps a venue can fill at one price (the worst level it touches)."""

    qty: Decimal
    price: Decimal


def lots(levels: tuple[Level, ...], step: Decimal, cap: Decimal | None) -> tuple[Lot, ...]:
    """Cut `levels` into lots of whole `step`s, at most `cap` in all (None: no cap)."""
    out: list[Lot] = []
    depth = filled = _ZERO
    for price, qty in levels:
        depth += qty
        reach = depth if cap is None else min(depth, cap)
        end = round_to_step(reach, step, up=False)
        if end > filled:
            out.append(Lot(qty=end - filled, price=price))
            filled = end
        if cap is not None and depth >= cap:
            break
    return tuple(out)


@dataclass(frozen=True, slots=True)
class Take:
    """What taking `qty` from the top of a book side costs."""

    qty: Decimal
    notional: Decimal
    """Sum of qty * price over the levels taken: exact."""
    levels_used: int
    best_price: Decimal
    worst_price: Decimal
    """The last level's price: the IOC limit that takes exactly these levels."""

    @property
    def avg_price(self) -> Decimal:
        return self.notional / self.qty


def walk(levels: tuple[Level, ...], qty: Decimal) -> Take:
    """Take `qty` from `levels` best first; raise RoutingError if they hold less."""
    if not levels or qty <= 0:
        raise RoutingError(f"cannot take {qty} from a book of {len(levels)} levels")
    left, notional, used = qty, _ZERO, 0
    price = levels[0][0]
    for price, level_qty in levels:
        take = min(left, level_qty)
        notional += take * price
        left -= take
        used += 1
        if left == 0:
            break
    if left > 0:
        raise RoutingError(f"cannot take {qty} from a book holding {qty - left}")
    return Take(
        qty=qty, notional=notional, levels_used=used, best_price=levels[0][0], worst_price=price
    )
