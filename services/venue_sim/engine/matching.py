"""Matching: market events, fills and their account effects, over the state of `venue.py`.

Pure and synchronous: every operation mutates the state and returns the `Changes` the
streams should publish. Time comes from the injected `clock`. Order entry (create, amend,
cancel) is layered on top in `exchange.py`.

Matching model:
- The accounts (`engine.ledger`, one per UID) share one book per (category, symbol). An
  incoming order first trades with other accounts' resting orders it crosses, at prices
  as good as the synthetic touch or better, best price then oldest first, at the resting
  order's price (maker for the resting order, taker for the incoming one; each fill lands
  in its own account). It never trades with its own account's resting orders.
- The synthetic market quotes `bid`/`ask` around the mid with unlimited size. A Market order
  or a marketable Limit (Buy at or above the ask, Sell at or below the bid) fills what is
  left at once in full at the touch as taker. A non-marketable IOC is cancelled (after
  what it took from other accounts), a FOK that cannot fill in full is cancelled untouched;
  a PostOnly that would take liquidity is accepted and then cancelled
  (EC_PostOnlyWillTakeLiquidity).
- Resting orders fill as maker at their own limit price when a public trade prints through
  them (partially when the trade is smaller than their leaves), or in full when the mid is
  moved through them.
"""

from __future__ import annotations

from decimal import Decimal
from typing import Any

from libs.common.domain.enums import Category, OrderType, Side, TimeInForce, VenueOrderStatus
from libs.common.domain.instruments import round_to_step
from services.venue_sim.engine.account import SETTLE
from services.venue_sim.engine.ledger import Ledger
from services.venue_sim.engine.model import (
    ZERO,
    Changes,
    Execution,
    MarketState,
    SimOrder,
)
from services.venue_sim.engine.venue import Venue

FEE_QUANTUM = Decimal("0.00000001")


def _total(orders: list[SimOrder]) -> Decimal:
    return sum((o.leaves for o in orders), ZERO)


class Matcher(Venue):
    """The venue's matching: market events, fills and their account effects."""

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
        ledger = self.ledgers[order.uid]
        account = ledger.account
        rate = self.fees[category][0 if is_maker else 1]
        value = price * qty
        closed = pnl = ZERO
        if category is Category.LINEAR:
            fee = (value * rate).quantize(FEE_QUANTUM)
            fee_coin = SETTLE
            closed, pnl = account.fill_linear(order.symbol, order.side, qty, price, fee, now)
            changes.positions.add((order.uid, order.symbol))
        elif order.side is Side.BUY:
            fee = (qty * rate).quantize(FEE_QUANTUM)
            fee_coin = rules.base_coin
            account.fill_spot(rules.base_coin, rules.quote_coin, order.side, qty, value, fee)
        else:
            fee = (value * rate).quantize(FEE_QUANTUM)
            fee_coin = rules.quote_coin
            account.fill_spot(rules.base_coin, rules.quote_coin, order.side, qty, value, fee)
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
            uid=order.uid,
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
            self._enforce_reduce_only(ledger, order.symbol, changes)

    # -- order state helpers -----------------------------------------------------------------

    def record_execution(self, changes: Changes, **fields: Any) -> Execution:
        """Record an execution of the account `fields["uid"]` (`fields`: every `Execution`
        field but its id and seq, which this assigns): listed by `/v5/execution/list`,
        indexed by its order when it has one, pushed on the private stream with the wallet."""
        ledger = self.ledgers[fields["uid"]]
        seq = len(ledger.executions[fields["category"]])
        execution = Execution(exec_id=self.new_id(), seq=seq, **fields)
        ledger.add_execution(execution)
        changes.executions.append(execution)
        changes.wallets.add(ledger.uid)
        return execution

    def _marketable(self, order: SimOrder, market: MarketState) -> bool:
        if order.order_type is OrderType.MARKET:
            return True
        if order.side is Side.BUY:
            return order.price >= market.ask
        return order.price <= market.bid

    def _contra(self, order: SimOrder, market: MarketState) -> list[SimOrder]:
        """Other accounts' resting orders `order` would trade with, in priority order: at
        its limit price or better, and no worse than the synthetic touch (which has
        unlimited size there). A spot Market Buy in quote coin takes the touch only."""
        if order.market_unit == "quoteCoin":
            return []
        book = self.books[(order.category, order.symbol)]
        if order.side is Side.BUY:
            resting, bound = book.asks, min(order.price, market.ask)
        else:
            resting, bound = book.bids, max(order.price, market.bid)
        return [o for o in resting.reachable(bound) if o.uid != order.uid]

    def _cross(
        self, order: SimOrder, contra: list[SimOrder], market: MarketState, changes: Changes
    ) -> None:
        """Trade `order` with the resting orders `contra` of other accounts, at their price."""
        for resting in contra:
            if not order.is_open or order.leaves <= 0:
                return
            if not resting.is_open:
                continue  # cancelled by an earlier fill's reduce-only check
            qty = min(order.leaves, resting.leaves)
            changes.trades.append(market.print_trade(order.side, resting.price, qty, self.clock()))
            self._fill(resting, market, resting.price, qty, True, changes)
            self._fill(order, market, resting.price, qty, False, changes)

    def _match_new(self, order: SimOrder, market: MarketState, changes: Changes) -> None:
        """Fill, rest or cancel an order that was just placed or re-priced: other accounts'
        crossing orders first, then the synthetic touch (see the module's docstring)."""
        marketable = self._marketable(order, market)
        contra = self._contra(order, market)
        if order.tif is TimeInForce.POST_ONLY and (marketable or contra):
            self._cancel(order, "UNKNOWN", changes, "EC_PostOnlyWillTakeLiquidity")
            return
        if order.tif is TimeInForce.FOK and not marketable and _total(contra) < order.leaves:
            self._cancel(order, "UNKNOWN", changes, "EC_NoEnoughQtyToFill")
            return
        self._cross(order, contra, market, changes)
        if not order.is_open:
            return
        if marketable:
            self._take(order, market, changes)
        elif order.tif is TimeInForce.IOC:
            self._cancel(order, "UNKNOWN", changes, "EC_NoImmediateQtyToFill")
        elif order.tif is TimeInForce.FOK:
            self._cancel(order, "UNKNOWN", changes, "EC_NoEnoughQtyToFill")
        else:
            self.ledgers[order.uid].opened(order)
            self.books[(order.category, order.symbol)].add(order)
            self._reserve(order)
            changes.order(order)

    def _reserve(self, order: SimOrder) -> None:
        """Hold margin (linear) or coin (spot) for the order's leaves; release it when closed."""
        account = self.ledgers[order.uid].account
        amount = ZERO
        if order.is_open and order.order_type is OrderType.LIMIT:
            if order.category is Category.SPOT:
                amount = order.leaves * order.price if order.side is Side.BUY else order.leaves
            elif not order.reduce_only:
                amount = order.leaves * order.price / account.leverage_of(order.symbol)
        delta = amount - order.reserved
        if not delta:
            return
        order.reserved = amount
        if order.category is Category.LINEAR:
            account.reserve_margin(delta)
        else:
            rules = self.markets[(order.category, order.symbol)].spec.rules
            coin = rules.quote_coin if order.side is Side.BUY else rules.base_coin
            account.lock(coin, delta)

    def _close(self, order: SimOrder) -> None:
        """Take a no longer open order out of the book and its account's open indexes."""
        if self.ledgers[order.uid].closed(order):
            self.books[(order.category, order.symbol)].remove(order)
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

    def _enforce_reduce_only(self, ledger: Ledger, symbol: str, changes: Changes) -> None:
        """Shrink or cancel the account's resting reduce-only orders its position no longer
        allows."""
        resting = ledger.reduce_only.get(symbol)
        if not resting:
            return
        size = ledger.account.position(symbol).size
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
