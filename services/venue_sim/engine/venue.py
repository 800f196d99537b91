"""The venue's state: markets, the shared books, and the accounts (one `Ledger` per UID),
with the lookups every operation starts from. Matching is layered on top in `matching.py`."""

from __future__ import annotations

from collections.abc import Callable, Iterable, Sequence
from decimal import Decimal

from libs.common.domain.enums import Category
from services.venue_sim.engine import errors
from services.venue_sim.engine.account import SETTLE
from services.venue_sim.engine.book import Book
from services.venue_sim.engine.catalog import InstrumentSpec
from services.venue_sim.engine.ledger import Ledger
from services.venue_sim.engine.model import (
    DEFAULT_UID,
    ZERO,
    BookKey,
    MarketState,
    SimOrder,
    new_id,
)

Clock = Callable[[], int]


class Venue:
    """All venue state of the simulator: markets, the books, and the accounts (`ledgers`)."""

    def __init__(
        self,
        specs: Iterable[InstrumentSpec],
        *,
        clock: Clock,
        fees: dict[Category, tuple[Decimal, Decimal]],
        balances: dict[str, Decimal],
        leverage: Decimal = Decimal(10),
        half_spread_ticks: int = 1,
        max_active_orders: int = 500,
        uids: Sequence[str] = (DEFAULT_UID,),
        ids: Callable[[], str] = new_id,
    ) -> None:
        if not uids or len(set(uids)) != len(uids):
            raise ValueError(f"uids must be a non-empty list of distinct UIDs, was {uids!r}")
        self.clock = clock
        self.new_id = ids
        """Makes the id of each new order and execution (UUID-shaped unless a personality
        wants others, e.g. Binance's numeric ids)."""
        self.fees = fees
        """category -> (maker rate, taker rate)."""
        self.max_active_orders = max_active_orders
        """Open orders allowed per account and (category, symbol)."""
        self.markets: dict[BookKey, MarketState] = {
            (s.category, s.symbol): MarketState(s, s.rules.tick_size * half_spread_ticks)
            for s in specs
        }
        self.books: dict[BookKey, Book] = {key: Book() for key in self.markets}
        self.orders: dict[str, SimOrder] = {}
        """Every order of every account, oldest first."""
        self.ledgers: dict[str, Ledger] = {uid: Ledger(uid, balances, leverage) for uid in uids}
        """UID -> the account's records; each starts with `balances` and `leverage`."""
        self.default_uid = uids[0]
        """The first account: what a caller naming no account gets."""
        self.order_seq = 0

    # -- lookups -----------------------------------------------------------------------------

    def ledger(self, uid: str | None = None) -> Ledger:
        """The account `uid` (None: the first one). Raises ValueError for an unknown UID."""
        found = self.ledgers.get(self.default_uid if uid is None else uid)
        if found is None:
            raise ValueError(f"no account has UID {uid!r}: the simulator has {list(self.ledgers)}")
        return found

    def market(self, category: Category, symbol: str) -> MarketState:
        """The market of a listed symbol, or the venue's invalid-symbol error."""
        found = self.markets.get((category, symbol))
        if found is None:
            if category is Category.SPOT:
                raise errors.SimError(170121, "Invalid symbol.")
            raise errors.params(f"params error: symbol invalid: {symbol!r} is not listed")
        return found

    def mark(self, symbol: str) -> Decimal:
        """Mark price of a linear symbol: the synthetic mid."""
        return self.markets[(Category.LINEAR, symbol)].mid

    def usd_price(self, coin: str) -> Decimal:
        """Value of one `coin` in USDT (1 for USDT, 0 when no market lists it)."""
        if coin == SETTLE:
            return Decimal(1)
        for category in (Category.SPOT, Category.LINEAR):
            found = self.markets.get((category, f"{coin}{SETTLE}"))
            if found is not None:
                return found.mid
        return ZERO

    def find(
        self, category: Category, order_id: str, link_id: str, uid: str | None = None
    ) -> SimOrder | None:
        """An order of the account `uid` by id (which wins) or by orderLinkId, open or
        closed; another account's order is not found."""
        return self.ledger(uid).find(category, order_id, link_id)
