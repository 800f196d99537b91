"""Order entry: create, amend, cancel and cancel-all, with Bybit's checks and error codes.

Every operation acts for one account (`uid`; None is the first account): it sees only that
account's orders (another account's order is "not exists", 110001 / 170213), its
orderLinkIds (unique per account, as on Bybit), its open-order cap and its funds.
"""

from __future__ import annotations

from collections.abc import Callable
from decimal import Decimal
from typing import NoReturn

from libs.common.domain.enums import Category, OrderType, Side
from libs.common.domain.instruments import round_to_step
from services.venue_sim.engine import errors, funding, position_settings, validate
from services.venue_sim.engine.account import SETTLE
from services.venue_sim.engine.ledger import Ledger
from services.venue_sim.engine.matching import Matcher
from services.venue_sim.engine.model import Changes, MarketState, SimOrder
from services.venue_sim.engine.validate import NewOrder, Params

CANCEL_ALL_MAX = 500
"""Futures cancel-all cancels at most this many orders per call."""


class Exchange(Matcher):
    """The venue: matching state plus the order entry operations of the REST API."""

    def place(
        self, category: Category, params: Params, uid: str | None = None
    ) -> tuple[SimOrder, Changes]:
        """POST /v5/order/create for the account `uid`. Raises SimError when the order is
        refused."""
        return self.place_order(category, validate.new_order(category, params), uid)

    def place_order(
        self,
        category: Category,
        req: NewOrder,
        uid: str | None = None,
        *,
        reuse_closed_link_ids: bool = False,
        min_notional: bool = True,
    ) -> tuple[SimOrder, Changes]:
        """Place a request that passed the parameter checks for the account `uid`, Bybit's
        way by default: an orderLinkId is never reused and every order meets the minimum
        order value. `reuse_closed_link_ids` allows the id of an order that is no longer
        open (Binance's clientOrderId rule); `min_notional=False` leaves the minimum to the
        caller (Binance exempts reduce-only orders). Raises SimError when refused."""
        ledger = self.ledger(uid)
        market = self.market(category, req.symbol)
        if req.link_id:
            taken = ledger.by_link.get((category, req.link_id))
            if taken is not None and (taken.is_open or not reuse_closed_link_ids):
                raise errors.duplicate_link(category)
        if ledger.open_count[(category, req.symbol)] >= self.max_active_orders:
            raise errors.too_many_orders(category, self.max_active_orders)
        price, qty = self._checked_price_qty(market, req, min_notional)
        if req.reduce_only:
            room = ledger.reduce_only_room(req.symbol, req.side)
            if room <= 0:
                raise errors.reduce_only_rejected(
                    "no position to reduce" if room < 0 else "reduce-only orders cover the position"
                )
            qty = min(qty, room)
        self._check_funds(ledger, market, req, price, qty)
        now = self.clock()
        self.order_seq += 1
        order = SimOrder(
            order_id=self.new_id(),
            link_id=req.link_id,
            category=category,
            symbol=req.symbol,
            side=req.side,
            order_type=req.order_type,
            tif=req.tif,
            price=price,
            qty=qty,
            leaves=qty,
            created=now,
            updated=now,
            seq=self.order_seq,
            reduce_only=req.reduce_only,
            close_on_trigger=req.close_on_trigger,
            market_unit=req.market_unit,
            last_price_on_created=market.last_price,
            uid=ledger.uid,
        )
        self.orders[order.order_id] = order
        ledger.add(order)
        changes = Changes()
        self._match_new(order, market, changes)
        return order, changes

    def amend(
        self, category: Category, params: Params, uid: str | None = None
    ) -> tuple[SimOrder, Changes]:
        """POST /v5/order/amend: new qty and/or price of an open order of the account."""
        ledger = self.ledger(uid)
        req = validate.amend(params)
        market = self.market(category, req.symbol)
        order = ledger.find(category, req.order_id, req.link_id)
        if order is None or not order.is_open or order.symbol != req.symbol:
            raise errors.not_found(category, "replace")
        if req.qty is None and req.price is None:
            raise errors.params("params error: qty or price is required to amend")
        spec = market.spec
        price = order.price if req.price is None else validate.check_price(spec, req.price)
        qty = order.qty if req.qty is None else validate.check_qty(spec, req.qty, OrderType.LIMIT)
        if qty <= order.cum_qty:
            raise errors.SimError(
                errors.AMEND_QTY_LE_FILLED,
                f"The modified qty {qty} cannot be less than or equal to the filled qty "
                f"{order.cum_qty}",
            )
        validate.check_notional(spec, qty * price)
        leaves = qty - order.cum_qty
        if order.reduce_only:
            room = ledger.reduce_only_room(order.symbol, order.side, order.order_id)
            if room <= 0:
                raise errors.reduce_only_rejected("no position to reduce")
            leaves = min(leaves, room)
            qty = order.cum_qty + leaves
        extra = self._cost(
            ledger, order.category, order.symbol, order.side, leaves, price, order.reduce_only
        )
        if extra - order.reserved > self._free(ledger, category, market, order.side):
            raise errors.insufficient(category)
        requeue = price != order.price or leaves > order.leaves
        changes = Changes()
        if requeue:
            self.books[(category, order.symbol)].remove(order)
        order.price, order.qty, order.leaves = price, qty, leaves
        order.updated = self.clock()
        if requeue:
            self._match_new(order, market, changes)
        else:
            self._reserve(order)
            changes.order(order)
        return order, changes

    def cancel(
        self, category: Category, params: Params, uid: str | None = None
    ) -> tuple[SimOrder, Changes]:
        """POST /v5/order/cancel of an order of the account."""
        ledger = self.ledger(uid)
        symbol = validate.text(params, "symbol", required=True)
        self.market(category, symbol)
        order_id, link = validate.order_ref(params)
        order = ledger.find(category, order_id, link)
        if order is None or not order.is_open or order.symbol != symbol:
            raise errors.not_found(category, "cancel")
        changes = Changes()
        self._cancel(order, "CancelByUser", changes)
        return order, changes

    def cancel_all(
        self, category: Category, params: Params, uid: str | None = None
    ) -> tuple[list[SimOrder], Changes]:
        """POST /v5/order/cancel-all of the account's orders: by symbol, else baseCoin, else
        settleCoin (linear)."""
        ledger = self.ledger(uid)
        symbol = validate.text(params, "symbol")
        base = validate.text(params, "baseCoin")
        settle = validate.text(params, "settleCoin")
        if symbol:
            self.market(category, symbol)
        elif category is Category.LINEAR and not base and not settle:
            raise errors.params("params error: symbol, baseCoin or settleCoin is required")
        if validate.text(params, "orderFilter") in ("StopOrder", "tpslOrder", "OcoOrder"):
            return [], Changes()  # the simulator holds no conditional orders

        def wanted(order: SimOrder) -> bool:
            if symbol:
                return order.symbol == symbol
            rules = self.markets[(order.category, order.symbol)].spec.rules
            if base:
                return rules.base_coin == base
            return not settle or rules.quote_coin == settle

        cap = CANCEL_ALL_MAX if category is Category.LINEAR else None
        return self.cancel_where(
            lambda o: o.category is category and wanted(o), uid=ledger.uid, cap=cap
        )

    def cancel_where(
        self,
        predicate: Callable[[SimOrder], bool],
        *,
        uid: str | None = None,
        cancel_type: str = "CancelByUser",
        cap: int | None = None,
    ) -> tuple[list[SimOrder], Changes]:
        """Cancel the account's open orders matching `predicate` (at most `cap` of them)."""
        chosen = [o for o in self.ledger(uid).open_orders.values() if predicate(o)][:cap]
        changes = Changes()
        for order in chosen:
            self._cancel(order, cancel_type, changes)
        return chosen, changes

    def settle_funding(self, symbol: str, rate: Decimal, uid: str | None = None) -> Changes:
        """Settle funding of the account's linear `symbol` at `rate` (see `engine.funding`)."""
        return funding.settle_funding(self, self.ledger(uid), symbol, rate)

    def set_leverage(self, category: Category, params: Params, uid: str | None = None) -> Changes:
        """POST /v5/position/set-leverage for the account (see `engine.position_settings`)."""
        return position_settings.set_leverage(self, self.ledger(uid), category, params)

    def switch_mode(self, category: Category, params: Params) -> NoReturn:
        """POST /v5/position/switch-mode: one-way only (see `engine.position_settings`)."""
        position_settings.switch_mode(self, category, params)

    # -- checks ------------------------------------------------------------------------------

    def would_take(
        self, category: Category, symbol: str, side: Side, price: Decimal, uid: str
    ) -> bool:
        """Whether a Limit order at `price` of the account `uid` would trade at once: it
        crosses the synthetic touch or another account's resting order (a post-only check
        made before the order exists)."""
        market = self.market(category, symbol)
        book = self.books[(category, symbol)]
        if side is Side.BUY:
            marketable, resting, bound = price >= market.ask, book.asks, min(price, market.ask)
        else:
            marketable, resting, bound = price <= market.bid, book.bids, max(price, market.bid)
        return marketable or any(o.uid != uid for o in resting.reachable(bound))

    def _checked_price_qty(
        self, market: MarketState, req: NewOrder, min_notional: bool = True
    ) -> tuple[Decimal, Decimal]:
        """(price, qty) on the instrument grid; a Market order's price is the touch."""
        spec = market.spec
        if req.price is not None:
            price = validate.check_price(spec, req.price)
        else:
            price = market.ask if req.side is Side.BUY else market.bid
        if req.market_unit == "quoteCoin":
            qty = req.qty  # an amount of quote coin to spend
            validate.check_notional(spec, qty)
            base = round_to_step(qty / price, spec.rules.qty_step, up=False)
            if base < spec.rules.min_qty:
                raise errors.qty_below_min(spec.category, base, spec.rules.min_qty)
            return price, qty
        qty = validate.check_qty(spec, req.qty, req.order_type)
        if min_notional:
            validate.check_notional(spec, qty * price)
        return price, qty

    @staticmethod
    def _cost(
        ledger: Ledger,
        category: Category,
        symbol: str,
        side: Side,
        qty: Decimal,
        price: Decimal,
        reduce_only: bool,
    ) -> Decimal:
        if category is Category.LINEAR:
            return Decimal(0) if reduce_only else qty * price / ledger.account.leverage_of(symbol)
        return qty * price if side is Side.BUY else qty

    def _free(self, ledger: Ledger, category: Category, market: MarketState, side: Side) -> Decimal:
        rules = market.spec.rules
        coin = SETTLE if category is Category.LINEAR else rules.quote_coin
        if category is Category.SPOT and side is Side.SELL:
            coin = rules.base_coin
        return ledger.account.available(coin, self.mark)

    def _check_funds(
        self, ledger: Ledger, market: MarketState, req: NewOrder, price: Decimal, qty: Decimal
    ) -> None:
        category = market.spec.category
        if req.market_unit == "quoteCoin":
            cost = qty
        else:
            cost = self._cost(ledger, category, req.symbol, req.side, qty, price, req.reduce_only)
        if cost > self._free(ledger, category, market, req.side):
            raise errors.insufficient(category)
