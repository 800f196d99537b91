"""The unified account: coin balances, one-way linear positions, margin and spot locks.

Linear positions settle in USDT at a leverage per symbol (the account's default until
`/v5/position/set-leverage` changes it): realised PnL, fees and funding move
the USDT wallet balance. Spot fills move coin balances (a Buy pays its fee in the base coin,
a Sell in the quote coin). Open orders reserve margin (linear) or lock coin (spot).
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Callable
from decimal import Decimal

from libs.common.domain.enums import Side
from services.venue_sim.engine.model import ZERO, Position

SETTLE = "USDT"
MAINTENANCE_RATE = Decimal("0.005")
Marks = Callable[[str], Decimal]
"""Linear symbol -> mark price."""


class Account:
    """Balances and positions of one account (UID); its orders are in `engine.ledger`."""

    def __init__(self, balances: dict[str, Decimal], leverage: Decimal) -> None:
        self.balances: defaultdict[str, Decimal] = defaultdict(Decimal, balances)
        self.default_leverage = leverage
        self.leverages: dict[str, Decimal] = {}
        """Linear symbol -> leverage set for it (others use `default_leverage`)."""
        self.positions: dict[str, Position] = {}
        self.order_im = ZERO
        """USDT margin held by open linear orders."""
        self.locked: defaultdict[str, Decimal] = defaultdict(Decimal)
        """Coin held by open spot orders."""
        self.cum_realised = ZERO
        self.seq = 0

    def position(self, symbol: str) -> Position:
        """The position of `symbol`, created flat on first use."""
        found = self.positions.get(symbol)
        if found is None:
            found = self.positions[symbol] = Position(symbol=symbol)
        return found

    # -- margin ------------------------------------------------------------------------------

    def leverage_of(self, symbol: str) -> Decimal:
        """The leverage of a linear symbol."""
        return self.leverages.get(symbol, self.default_leverage)

    def position_im(self, marks: Marks) -> Decimal:
        return sum(
            (
                abs(p.size) * marks(s) / self.leverage_of(s)
                for s, p in self.positions.items()
                if p.size
            ),
            ZERO,
        )

    def position_mm(self, marks: Marks) -> Decimal:
        return sum(
            (abs(p.size) * marks(s) * MAINTENANCE_RATE for s, p in self.positions.items()),
            ZERO,
        )

    def unrealised(self, marks: Marks) -> Decimal:
        return sum(
            (p.size * (marks(s) - p.avg_price) for s, p in self.positions.items() if p.size),
            ZERO,
        )

    def available(self, coin: str, marks: Marks) -> Decimal:
        """What a new order may still use: USDT is shared by linear margin and spot buys."""
        free = self.balances[coin] - self.locked[coin]
        if coin == SETTLE:
            free += self.unrealised(marks) - self.position_im(marks) - self.order_im
        return free

    def reserve_margin(self, delta: Decimal) -> None:
        self.order_im += delta

    def lock(self, coin: str, delta: Decimal) -> None:
        self.locked[coin] += delta

    # -- fills -------------------------------------------------------------------------------

    def fill_linear(
        self, symbol: str, side: Side, qty: Decimal, price: Decimal, fee: Decimal, now: int
    ) -> tuple[Decimal, Decimal]:
        """Fold a linear fill into the position; returns (closed size, closed PnL before fee)."""
        pos = self.position(symbol)
        signed = qty if side is Side.BUY else -qty
        closed = ZERO
        pnl = ZERO
        if pos.size == 0 or (pos.size > 0) == (signed > 0):
            new_size = pos.size + signed
            pos.avg_price = (abs(pos.size) * pos.avg_price + qty * price) / abs(new_size)
            if pos.size == 0:
                pos.created = now
                pos.cur_realised = ZERO
            pos.size = new_size
        else:
            closed = min(qty, abs(pos.size))
            direction = 1 if pos.size > 0 else -1
            pnl = closed * (price - pos.avg_price) * direction
            pos.size += signed
            if pos.size == 0:
                pos.avg_price = ZERO
            elif (pos.size > 0) != (direction > 0):
                pos.avg_price = price  # flipped: the remainder opened at this fill's price
                pos.created = now
        self._realise(pos, pnl - fee, now)
        return closed, pnl

    def settle_funding(self, symbol: str, fee: Decimal, now: int) -> None:
        """Charge a funding settlement on a linear position (`fee` > 0 paid, < 0 received):
        it moves the USDT balance and the realised PnL as a trading fee does."""
        self._realise(self.position(symbol), -fee, now)

    def _realise(self, pos: Position, amount: Decimal, now: int) -> None:
        """Book `amount` (closed PnL net of fees, or a funding) on the position's realised
        PnL and the USDT balance, as one position update."""
        pos.cur_realised += amount
        pos.cum_realised += amount
        pos.updated = now
        self.seq += 1
        pos.seq = self.seq
        self.cum_realised += amount
        self.balances[SETTLE] += amount

    def fill_spot(
        self,
        base: str,
        quote: str,
        side: Side,
        qty: Decimal,
        value: Decimal,
        fee: Decimal,
    ) -> None:
        """Move coin for a spot fill; the fee is in the coin received."""
        if side is Side.BUY:
            self.balances[base] += qty - fee
            self.balances[quote] -= value
        else:
            self.balances[base] -= qty
            self.balances[quote] += value - fee
