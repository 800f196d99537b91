"""Our resting orders of one (category, symbol), in price-time priority.

Each side keeps `price -> {order_id: order}` (a dict keeps insertion order, so a level is a
FIFO queue with O(1) removal) plus a heap of level prices with lazy deletion, so the best
level is O(log n) to find and adding or cancelling an order is O(1) or O(log n).
"""

from __future__ import annotations

import heapq
from collections.abc import Iterator
from decimal import Decimal

from libs.common.domain.enums import Side
from services.venue_sim.engine.model import SimOrder


class BookSide:
    """One side of the book. Bids keep negated prices in the heap so the best is on top."""

    __slots__ = ("_heap", "_in_heap", "_sign", "levels", "side")

    def __init__(self, side: Side) -> None:
        self.side = side
        self._sign = -1 if side is Side.BUY else 1
        self.levels: dict[Decimal, dict[str, SimOrder]] = {}
        self._heap: list[Decimal] = []
        self._in_heap: set[Decimal] = set()

    def add(self, order: SimOrder) -> None:
        """Queue `order` at the back of its price level."""
        level = self.levels.get(order.price)
        if level is None:
            level = self.levels[order.price] = {}
            if order.price not in self._in_heap:
                self._in_heap.add(order.price)
                heapq.heappush(self._heap, order.price * self._sign)
        level[order.order_id] = order

    def remove(self, order: SimOrder) -> bool:
        """Take `order` out of its level; False when it was not there."""
        level = self.levels.get(order.price)
        if level is None or level.pop(order.order_id, None) is None:
            return False
        if not level:
            del self.levels[order.price]
        return True

    def best(self) -> Decimal | None:
        """The best price with orders on it, or None when this side is empty."""
        heap = self._heap
        while heap:
            price = heap[0] * self._sign
            if price in self.levels:
                return price
            heapq.heappop(heap)
            self._in_heap.discard(price)
        return None

    def crosses(self, price: Decimal, through: Decimal) -> bool:
        """Whether a resting order at `price` trades when the market prints at `through`."""
        return price >= through if self.side is Side.BUY else price <= through

    def crossed_orders(self, through: Decimal) -> Iterator[SimOrder]:
        """Orders that trade at `through`, best price first, oldest first within a price.

        The caller may remove each yielded order (a fill) before asking for the next one; when
        it leaves one in place the iteration stops at that level.
        """
        while (price := self.best()) is not None and self.crosses(price, through):
            level = self.levels[price]
            for order in list(level.values()):
                yield order
                if order.order_id in level:
                    return

    def reachable(self, bound: Decimal) -> list[SimOrder]:
        """The orders an incoming order limited to `bound` trades with (bids at or above
        it, asks at or below), best price first, oldest first within a price."""
        best = self.best()
        if best is None or not self.crosses(best, bound):
            return []  # the common case, without looking at every level
        prices = sorted(
            (p for p in self.levels if self.crosses(p, bound)), reverse=self.side is Side.BUY
        )
        return [order for price in prices for order in self.levels[price].values()]

    def top(self, depth: int) -> list[tuple[Decimal, Decimal]]:
        """Up to `depth` best levels as (price, total leaves qty)."""
        prices = (
            heapq.nlargest(depth, self.levels)
            if self.side is Side.BUY
            else heapq.nsmallest(depth, self.levels)
        )
        return [(p, sum((o.leaves for o in self.levels[p].values()), Decimal(0))) for p in prices]


class Book:
    """Both sides of our resting orders for one instrument."""

    __slots__ = ("asks", "bids", "count")

    def __init__(self) -> None:
        self.bids = BookSide(Side.BUY)
        self.asks = BookSide(Side.SELL)
        self.count = 0

    def side(self, side: Side) -> BookSide:
        return self.bids if side is Side.BUY else self.asks

    def add(self, order: SimOrder) -> None:
        self.side(order.side).add(order)
        self.count += 1

    def remove(self, order: SimOrder) -> None:
        if self.side(order.side).remove(order):
            self.count -= 1
