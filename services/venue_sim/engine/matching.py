"""Exchange state and matching: markets, our books, fills and their account effects.

Pure and synchronous: every operation mutates the state and returns the `Changes` the
streams should publish. Time comes from the injected `clock`. Order entry (create, amend,
cancel) is layered on top in `exchange.py`.

Matching model:
- The synthetic market quotes `bid`/`ask` around the mid with unlimited size. A Market order
  or a marketable Limit (Buy at or above the ask, Sell at or below the bid) fills at once
  in full at the touch as taker. A non-marketable IOC/FOK is cancelled; a crossing PostOnly
  is accepted and then cancelled (EC_PostOnlyWillTakeLiquidity).
- Resting orders fill as maker at their own limit price when a public trade prints through
  them (partially when the trade is smaller than their leaves), or in full when the mid is
  moved through them.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from decimal import Decimal
from typing import Any

from libs.common.domain.enums import Category, OrderType, Side, TimeInForce, VenueOrderStatus
from libs.common.domain.instruments import round_to_step
from services.venue_sim.engine import errors
from services.venue_sim.engine.account import SETTLE, Account
from services.venue_sim.engine.book import Book
from services.venue_sim.engine.catalog import InstrumentSpec
from services.venue_sim.engine.model import (
    ZERO,
    BookKey,
    Changes,
    Execution,
    MarketState,
    SimOrder,
    new_id,
)

FEE_QUANTUM = Decimal("0.00000001")
Clock = Callable[[], int]


class Matcher:
    """All venue state of the simulator: markets, our books, orders, fills and the account."""

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
    ) -> None:
        self.clock = clock
        self.fees = fees
        """category -> (maker rate, taker rate)."""
        self.max_active_orders = max_active_orders
        self.markets: dict[BookKey, MarketState] = {
            (s.category, s.symbol): MarketState(s, s.rules.tick_size * half_spread_ticks)
            for s in specs
        }
        self.books: dict[BookKey, Book] = {key: Book() for key in self.markets}
        self.orders: dict[str, SimOrder] = {}
        self.open_orders: dict[str, SimOrder] = {}
        self.by_link: dict[tuple[Category, str], SimOrder] = {}
        self.reduce_only: dict[str, dict[str, SimOrder]] = {}
        self.executions: dict[Category, list[Execution]] = {c: [] for c in Category}
        self.execs_by_order: dict[str, list[Execution]] = {}
        self.account = Account(balances, leverage)
        self.order_seq = 0

    # -- lookups -----------------------------------------------------------------------------

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

    def find(self, category: Category, order_id: str, link_id: str) -> SimOrder | None:
        """An order by id (which wins) or by orderLinkId, open or closed."""
        if order_id:
            found = self.orders.get(order_id)
            return found if found is not None and found.category is category else None
        return self.by_link.get((category, link_id))

    # -- market events -----------------------------------------------------------------------

    def set_mid(self, category: Category, symbol: str, mid: Decimal) -> Changes:
        """Move the mid; resting orders it moved through fill in full at their limit price."""
        market = self.market(category, symbol)
        market.set_mid(mid)
        market.marks.add(self.clock(), market.mid)
        changes = Changes()
        changes.books.add((category, symbol))
        book = self.books[(category, symbol)]
        for side in (book.bids, book.asks):
            for order in side.crossed_orders(mid):
                if order.is_open:
                    self._fill(order, market, order.price, order.leaves, True, changes)
        return changes

    def public_trade(
        self,
        category: Category,
        symbol: str,
        price: Decimal,
        qty: Decimal,
        side: Side | None = None,
    ) -> Changes:
        """Print a public trade; resting orders at or through `price` fill in priority order.

        `side` is the aggressor: a Sell hits our bids, a Buy lifts our asks, None does both
        (each side may take up to `qty`).
        """
        market = self.market(category, symbol)
        changes = Changes()
        changes.books.add((category, symbol))
        aggressor = side or (Side.SELL if price <= market.mid else Side.BUY)
        changes.trades.append(market.print_trade(aggressor, price, qty, self.clock()))
        book = self.books[(category, symbol)]
        for resting, hit_by in ((book.bids, Side.SELL), (book.asks, Side.BUY)):
            if side is not None and side is not hit_by:
                continue
            remaining = qty
            for order in resting.crossed_orders(price):
                if remaining <= 0:
                    break
                if order.is_open:
                    fill = min(order.leaves, remaining)
                    remaining -= fill
                    self._fill(order, market, order.price, fill, True, changes)
        return changes

    # -- fills -------------------------------------------------------------------------------

    def _take(self, order: SimOrder, market: MarketState, changes: Changes) -> None:
        """Fill a marketable order in full at the synthetic touch, as taker."""
        price = market.ask if order.side is Side.BUY else market.bid
        qty = order.leaves
        if order.market_unit == "quoteCoin":
            qty = round_to_step(order.leaves / price, market.spec.rules.qty_step, up=False)
        changes.trades.append(market.print_trade(order.side, price, qty, self.clock()))
        self._fill(order, market, price, qty, False, changes)

    def _fill(
        self,
        order: SimOrder,
        market: MarketState,
        price: Decimal,
        qty: Decimal,
        is_maker: bool,
        changes: Changes,
    ) -> None:
        now = self.clock()
        category, rules = order.category, market.spec.rules
        rate = self.fees[category][0 if is_maker else 1]
        value = price * qty
        closed = pnl = ZERO
        if category is Category.LINEAR:
            fee = (value * rate).quantize(FEE_QUANTUM)
            fee_coin = SETTLE
            closed, pnl = self.account.fill_linear(order.symbol, order.side, qty, price, fee, now)
            changes.positions.add(order.symbol)
        elif order.side is Side.BUY:
            fee = (qty * rate).quantize(FEE_QUANTUM)
            fee_coin = rules.base_coin
            self.account.fill_spot(rules.base_coin, rules.quote_coin, order.side, qty, value, fee)
        else:
            fee = (value * rate).quantize(FEE_QUANTUM)
            fee_coin = rules.quote_coin
            self.account.fill_spot(rules.base_coin, rules.quote_coin, order.side, qty, value, fee)
        order.cum_qty += qty
        order.cum_value += value
        order.cum_fee += fee
        order.fee_currency = fee_coin
        order.closed_pnl += pnl
        order.leaves = ZERO if order.market_unit == "quoteCoin" else order.leaves - qty
        order.status = (
            VenueOrderStatus.FILLED if order.leaves == 0 else VenueOrderStatus.PARTIALLY_FILLED
        )
        order.updated = now
        self.record_execution(
            changes,
            category=category,
            symbol=order.symbol,
            order_id=order.order_id,
            link_id=order.link_id,
            side=order.side,
            order_price=order.price,
            order_qty=order.qty,
            order_type=order.order_type,
            price=price,
            qty=qty,
            value=value,
            fee=fee,
            fee_rate=rate,
            fee_currency=fee_coin,
            is_maker=is_maker,
            time=now,
            leaves=order.leaves,
            closed_size=closed,
            exec_pnl=pnl,
            mark_price=market.mid,
        )
        if order.leaves == 0:
            self._close(order)
        else:
            self._reserve(order)
        changes.order(order)
        if category is Category.LINEAR:
            self._enforce_reduce_only(order.symbol, changes)

    # -- order state helpers -----------------------------------------------------------------

    def record_execution(self, changes: Changes, **fields: Any) -> Execution:
        """Record an execution of the account (`fields`: every `Execution` field but its id
        and seq, which this assigns): listed by `/v5/execution/list`, indexed by its order
        when it has one, pushed on the private stream with the wallet."""
        category: Category = fields["category"]
        executions = self.executions[category]
        execution = Execution(exec_id=new_id(), seq=len(executions), **fields)
        executions.append(execution)
        if execution.order_id:
            self.execs_by_order.setdefault(execution.order_id, []).append(execution)
        changes.executions.append(execution)
        changes.wallet = True
        return execution

    def _marketable(self, order: SimOrder, market: MarketState) -> bool:
        if order.order_type is OrderType.MARKET:
            return True
        if order.side is Side.BUY:
            return order.price >= market.ask
        return order.price <= market.bid

    def _match_new(self, order: SimOrder, market: MarketState, changes: Changes) -> None:
        """Fill, rest or cancel an order that was just placed or re-priced."""
        marketable = self._marketable(order, market)
        if marketable and order.tif is TimeInForce.POST_ONLY:
            self._cancel(order, "UNKNOWN", changes, "EC_PostOnlyWillTakeLiquidity")
        elif marketable:
            self._take(order, market, changes)
        elif order.tif is TimeInForce.IOC:
            self._cancel(order, "UNKNOWN", changes, "EC_NoImmediateQtyToFill")
        elif order.tif is TimeInForce.FOK:
            self._cancel(order, "UNKNOWN", changes, "EC_NoEnoughQtyToFill")
        else:
            if order.order_id not in self.open_orders:
                self.open_orders[order.order_id] = order
                if order.reduce_only:
                    self.reduce_only.setdefault(order.symbol, {})[order.order_id] = order
            self.books[(order.category, order.symbol)].add(order)
            self._reserve(order)
            changes.order(order)

    def _reserve(self, order: SimOrder) -> None:
        """Hold margin (linear) or coin (spot) for the order's leaves; release it when closed."""
        amount = ZERO
        if order.is_open and order.order_type is OrderType.LIMIT:
            if order.category is Category.SPOT:
                amount = order.leaves * order.price if order.side is Side.BUY else order.leaves
            elif not order.reduce_only:
                amount = order.leaves * order.price / self.account.leverage_of(order.symbol)
        delta = amount - order.reserved
        if not delta:
            return
        order.reserved = amount
        if order.category is Category.LINEAR:
            self.account.reserve_margin(delta)
        else:
            rules = self.markets[(order.category, order.symbol)].spec.rules
            coin = rules.quote_coin if order.side is Side.BUY else rules.base_coin
            self.account.lock(coin, delta)

    def _close(self, order: SimOrder) -> None:
        """Take a no longer open order out of the book and the open indexes."""
        if self.open_orders.pop(order.order_id, None) is not None:
            self.books[(order.category, order.symbol)].remove(order)
            if order.reduce_only:
                self.reduce_only.get(order.symbol, {}).pop(order.order_id, None)
        self._reserve(order)

    def _cancel(
        self, order: SimOrder, cancel_type: str, changes: Changes, reason: str = "EC_NoError"
    ) -> None:
        order.status = VenueOrderStatus.CANCELLED
        if order.category is Category.SPOT and order.cum_qty > 0:
            order.status = VenueOrderStatus.PARTIALLY_FILLED_CANCELED
        order.cancel_type = cancel_type
        order.reject_reason = reason
        order.updated = self.clock()
        self._close(order)
        changes.order(order)

    def _reduce_only_room(self, symbol: str, side: Side, exclude: str = "") -> Decimal:
        """How much more a reduce-only order on `side` may hold; negative when not reducing."""
        size = self.account.position(symbol).size
        if size == 0 or (size > 0) == (side is Side.BUY):
            return Decimal(-1)
        held = sum(
            (o.leaves for o in self.reduce_only.get(symbol, {}).values() if o.order_id != exclude),
            ZERO,
        )
        return abs(size) - held

    def _enforce_reduce_only(self, symbol: str, changes: Changes) -> None:
        """Shrink or cancel resting reduce-only orders the position no longer allows."""
        resting = self.reduce_only.get(symbol)
        if not resting:
            return
        size = self.account.position(symbol).size
        room = abs(size)
        for order in list(resting.values()):
            reducing = size != 0 and (size > 0) != (order.side is Side.BUY)
            if not reducing or room <= 0:
                self._cancel(order, "CancelByReduceOnly", changes)
            elif order.leaves > room:
                order.qty = order.cum_qty + room
                order.leaves = room
                order.updated = self.clock()
                room = ZERO
                changes.order(order)
            else:
                room -= order.leaves
