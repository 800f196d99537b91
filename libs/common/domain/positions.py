"""A position is a fold over fills: exact Decimal, VWAP entry, realized P&L, fees, flips.

Identity (checked by property tests): with cash = sum over fills of -side.sign * qty * price,

    realized_pnl + unrealized_pnl(mark) == cash + qty * mark

because the fold keeps `cash == realized_pnl - qty * avg_entry_price`: opening adds to the
cost, closing moves (exit - entry) * closed qty from cost into realized. Fees and funding are
apart: net_pnl = realized + unrealized - fees - funding. Funding settlements (`Funding`) are
folded by `apply_funding`: they change the funding paid, never the quantity or the entry.
The only inexactness is Decimal's 28-digit rounding of the VWAP division (e.g. 100/3).
"""

from __future__ import annotations

from collections.abc import Iterable
from decimal import Decimal
from functools import reduce
from typing import Self

from pydantic import BaseModel, ConfigDict, Field, model_validator

from libs.common.domain.enums import Side
from libs.common.domain.errors import InvalidFill
from libs.common.domain.ids import (
    DEFAULT_ACCOUNT,
    DEFAULT_VENUE,
    AccountId,
    ClientOrderId,
    ExecId,
    Symbol,
    VenueId,
)

_ZERO = Decimal(0)


class Fill(BaseModel):
    """One execution, as the venue reported it."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    exec_id: ExecId
    symbol: Symbol
    side: Side
    qty: Decimal = Field(gt=0)
    price: Decimal = Field(gt=0)
    fee: Decimal = _ZERO
    """Positive is paid, negative is a rebate (maker fees can be negative)."""
    ts_ns: int = Field(ge=0)
    client_order_id: ClientOrderId | None = None
    """None for fills of orders that are not ours (or before we mapped them by orderId)."""
    is_maker: bool = False
    account: AccountId = DEFAULT_ACCOUNT
    venue: VenueId = DEFAULT_VENUE

    @property
    def signed_qty(self) -> Decimal:
        """+qty for a Buy, -qty for a Sell: the change to the position."""
        return self.qty * self.side.sign


class Funding(BaseModel):
    """One funding settlement on a position, as the venue reported it (Bybit: an execution
    of execType `Funding`, execFee the amount)."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    exec_id: ExecId
    symbol: Symbol
    amount: Decimal
    """Positive is paid (a long when the rate is positive), negative is received."""
    rate: Decimal
    position_qty: Decimal
    """The position it was settled on, signed: positive long, negative short."""
    mark_price: Decimal = Field(gt=0)
    ts_ns: int = Field(ge=0)
    account: AccountId = DEFAULT_ACCOUNT
    venue: VenueId = DEFAULT_VENUE


class Position(BaseModel):
    """Net position in one symbol: positive long, negative short, zero flat.

    `exec_ids` makes `apply_fill` idempotent on its own. It grows with every fill, which
    is fine for a day of a symbol's fills; a long-lived service keeps its own dedupe set
    (in Redis, with a TTL) and may store positions with `exec_ids` trimmed.
    """

    model_config = ConfigDict(frozen=True, extra="forbid")

    symbol: Symbol
    qty: Decimal = _ZERO
    avg_entry_price: Decimal | None = Field(default=None, gt=0)
    """VWAP entry of the open position; None when flat."""
    realized_pnl: Decimal = _ZERO
    """Gross of fees."""
    fees_paid: Decimal = _ZERO
    """Net of rebates."""
    funding_paid: Decimal = _ZERO
    """Funding paid, net of funding received."""
    exec_ids: frozenset[ExecId] = frozenset()
    updated_ts_ns: int = Field(default=0, ge=0)
    account: AccountId = DEFAULT_ACCOUNT
    venue: VenueId = DEFAULT_VENUE
    """The venue the position is at: a symbol's positions at two venues are two positions
    (risk adds them up per symbol)."""

    @model_validator(mode="after")
    def _check_entry(self) -> Self:
        if (self.qty == 0) != (self.avg_entry_price is None):
            raise ValueError(
                f"avg_entry_price must be set exactly when qty != 0, was {self.avg_entry_price} "
                f"with qty {self.qty}"
            )
        return self

    @property
    def is_flat(self) -> bool:
        return self.qty == 0


def apply_fill(position: Position, fill: Fill) -> Position:
    """Return the position after `fill`. A replayed exec_id returns `position` unchanged.

    Increasing: the entry becomes the VWAP. Reducing: realize (exit - entry) per closed
    unit, signed by the position. Through zero: realize the closed part, open the rest at
    the fill price.
    """
    _check_book(f"fill {fill.exec_id}", fill, position)
    if fill.exec_id in position.exec_ids:
        return position
    qty, entry, realized = _trade(position, fill.signed_qty, fill.price)
    return Position(
        symbol=position.symbol,
        qty=qty,
        avg_entry_price=entry,
        realized_pnl=realized,
        fees_paid=position.fees_paid + fill.fee,
        funding_paid=position.funding_paid,
        exec_ids=position.exec_ids | {fill.exec_id},
        updated_ts_ns=max(position.updated_ts_ns, fill.ts_ns),
        account=position.account,
        venue=position.venue,
    )


def apply_funding(position: Position, funding: Funding) -> Position:
    """Return the position after `funding`: only the funding paid moves. A replayed exec_id
    returns `position` unchanged."""
    _check_book(f"funding {funding.exec_id}", funding, position)
    if funding.exec_id in position.exec_ids:
        return position
    return position.model_copy(
        update={
            "funding_paid": position.funding_paid + funding.amount,
            "exec_ids": position.exec_ids | {funding.exec_id},
            "updated_ts_ns": max(position.updated_ts_ns, funding.ts_ns),
        }
    )


def _check_book(what: str, entry: Fill | Funding, position: Position) -> None:
    if entry.symbol != position.symbol:
        raise InvalidFill(f"{what} is for {entry.symbol}, not for the {position.symbol} position")
    if entry.account != position.account:
        raise InvalidFill(
            f"{what} is of account {entry.account}, not for the position of account "
            f"{position.account}"
        )
    if entry.venue != position.venue:
        raise InvalidFill(
            f"{what} is at venue {entry.venue}, not for the position at {position.venue}"
        )


def book(position: Position, entry: Fill | Funding) -> Position:
    """Fold one venue entry: a fill (`apply_fill`) or a funding settlement (`apply_funding`)."""
    if isinstance(entry, Funding):
        return apply_funding(position, entry)
    return apply_fill(position, entry)


def fold_fills(
    symbol: Symbol,
    fills: Iterable[Fill],
    account: AccountId = DEFAULT_ACCOUNT,
    venue: VenueId = DEFAULT_VENUE,
) -> Position:
    """Rebuild a position of `account` at `venue` from its fills, starting flat."""
    return reduce(apply_fill, fills, Position(symbol=symbol, account=account, venue=venue))


def unrealized_pnl(position: Position, mark: Decimal) -> Decimal:
    """P&L of the open position if it were closed at `mark`, before fees."""
    if position.avg_entry_price is None:
        return _ZERO
    return position.qty * (mark - position.avg_entry_price)


def net_pnl(position: Position, mark: Decimal | None) -> Decimal:
    """Realized plus unrealized (none without a mark), minus fees and funding."""
    unrealized = _ZERO if mark is None else unrealized_pnl(position, mark)
    return position.realized_pnl + unrealized - position.fees_paid - position.funding_paid


def _trade(
    position: Position, delta: Decimal, price: Decimal
) -> tuple[Decimal, Decimal | None, Decimal]:
    """Return (qty, avg entry, realized) after trading `delta` (signed) at `price`."""
    old, entry, realized = position.qty, position.avg_entry_price, position.realized_pnl
    new = old + delta
    if entry is None or (old > 0) == (delta > 0):  # opening or increasing
        vwap = price if entry is None else (old * entry + delta * price) / new
        return new, vwap, realized
    closed = min(abs(old), abs(delta))
    realized += closed * (price - entry) * (1 if old > 0 else -1)
    if new == 0:
        return new, None, realized
    if (new > 0) == (old > 0):  # reduced, same side: the entry stays
        return new, entry, realized
    return new, price, realized  # flipped: the remainder opens at the fill price
