"""One account of the simulator (one UID): its wallet and positions, orders and executions.

Every key pair trades an account of its own (unless the settings put several keys on one
UID). Accounts share the markets and the order books (their orders can trade with each
other), but nothing else: an order, an orderLinkId, an execution or a position belongs to
exactly one account, and queries, amends and cancels see only the caller's.
"""

from __future__ import annotations

from collections import Counter
from decimal import Decimal

from libs.common.domain.enums import Category, Side
from services.venue_sim.engine.account import Account
from services.venue_sim.engine.model import ZERO, BookKey, Execution, SimOrder


class Ledger:
    """The records of one account: `account` (balances, positions, margin), every order it
    placed (and the open ones, by orderLinkId, the resting reduce-only ones) and its
    executions (per category, in the order they happened: `seq` is the index)."""

    def __init__(self, uid: str, balances: dict[str, Decimal], leverage: Decimal) -> None:
        self.uid = uid
        self.account = Account(dict(balances), leverage)
        self.orders: dict[str, SimOrder] = {}
        self.open_orders: dict[str, SimOrder] = {}
        self.by_link: dict[tuple[Category, str], SimOrder] = {}
        self.reduce_only: dict[str, dict[str, SimOrder]] = {}
        """Linear symbol -> its resting reduce-only orders."""
        self.executions: dict[Category, list[Execution]] = {c: [] for c in Category}
        self.execs_by_order: dict[str, list[Execution]] = {}
        self.open_count: Counter[BookKey] = Counter()
        """Open orders per (category, symbol), for the active-order cap."""

    def find(self, category: Category, order_id: str, link_id: str) -> SimOrder | None:
        """This account's order by id (which wins) or by orderLinkId, open or closed."""
        if order_id:
            found = self.orders.get(order_id)
            return found if found is not None and found.category is category else None
        return self.by_link.get((category, link_id))

    def add(self, order: SimOrder) -> None:
        """Record a new order of this account."""
        self.orders[order.order_id] = order
        if order.link_id:
            self.by_link[(order.category, order.link_id)] = order

    def opened(self, order: SimOrder) -> bool:
        """Index an order that now rests; False when it already did."""
        if order.order_id in self.open_orders:
            return False
        self.open_orders[order.order_id] = order
        self.open_count[(order.category, order.symbol)] += 1
        if order.reduce_only:
            self.reduce_only.setdefault(order.symbol, {})[order.order_id] = order
        return True

    def closed(self, order: SimOrder) -> bool:
        """Drop an order that no longer rests from the open indexes; False when it did not."""
        if self.open_orders.pop(order.order_id, None) is None:
            return False
        self.open_count[(order.category, order.symbol)] -= 1
        if order.reduce_only:
            self.reduce_only.get(order.symbol, {}).pop(order.order_id, None)
        return True

    def reduce_only_room(self, symbol: str, side: Side, exclude: str = "") -> Decimal:
        """How much more a reduce-only order on `side` may hold (besides the resting ones
        but `exclude`); negative when such an order would not reduce the position."""
        size = self.account.position(symbol).size
        if size == 0 or (size > 0) == (side is Side.BUY):
            return Decimal(-1)
        resting = self.reduce_only.get(symbol, {}).values()
        held = sum((o.leaves for o in resting if o.order_id != exclude), ZERO)
        return abs(size) - held

    def add_execution(self, execution: Execution) -> None:
        """Append an execution (its `seq` is its index in its category's list)."""
        self.executions[execution.category].append(execution)
        if execution.order_id:  # funding settlements belong to no order
            self.execs_by_order.setdefault(execution.order_id, []).append(execution)
