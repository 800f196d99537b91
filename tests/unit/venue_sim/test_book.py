"""The resting-order book: price-time priority with O(1) cancel and a lazy best-price heap."""

from __future__ import annotations

from decimal import Decimal

from libs.common.domain.enums import Category, OrderType, Side, TimeInForce
from services.venue_sim.engine.book import Book
from services.venue_sim.engine.model import SimOrder


def order(oid: str, side: Side, price: str, qty: str = "1") -> SimOrder:
    return SimOrder(
        order_id=oid,
        link_id="",
        category=Category.LINEAR,
        symbol="BTCUSDT",
        side=side,
        order_type=OrderType.LIMIT,
        tif=TimeInForce.GTC,
        price=Decimal(price),
        qty=Decimal(qty),
        leaves=Decimal(qty),
        created=0,
        updated=0,
        seq=0,
    )


def test_best_price_is_highest_bid_and_lowest_ask() -> None:
    book = Book()
    for oid, side, price in [("a", Side.BUY, "10"), ("b", Side.BUY, "12"), ("c", Side.SELL, "15")]:
        book.add(order(oid, side, price))
    book.add(order("d", Side.SELL, "14"))
    assert book.bids.best() == Decimal("12")
    assert book.asks.best() == Decimal("14")
    assert book.count == 4


def test_cancelling_the_best_level_reveals_the_next_one() -> None:
    book = Book()
    best, other = order("a", Side.BUY, "12"), order("b", Side.BUY, "11")
    book.add(best)
    book.add(other)
    book.remove(best)
    assert book.bids.best() == Decimal("11")
    book.remove(other)
    assert book.bids.best() is None
    assert book.count == 0


def test_removing_twice_does_not_corrupt_the_count() -> None:
    book = Book()
    first = order("a", Side.SELL, "12")
    book.add(first)
    book.remove(first)
    book.remove(first)
    assert book.count == 0


def test_level_recreated_after_emptying_is_found_again() -> None:
    book = Book()
    first = order("a", Side.BUY, "12")
    book.add(first)
    book.remove(first)
    book.add(order("b", Side.BUY, "11"))
    book.add(order("c", Side.BUY, "12"))
    assert book.bids.best() == Decimal("12")


def test_crossed_orders_come_best_price_first_then_oldest_first() -> None:
    book = Book()
    for oid, price in [("old12", "12"), ("b10", "10"), ("new12", "12"), ("b11", "11"), ("b9", "9")]:
        book.add(order(oid, Side.BUY, price))
    seen = []
    for resting in book.bids.crossed_orders(Decimal("10")):
        seen.append(resting.order_id)
        book.remove(resting)
    assert seen == ["old12", "new12", "b11", "b10"]
    assert book.bids.best() == Decimal("9")


def test_crossed_orders_stop_at_an_order_left_in_place() -> None:
    book = Book()
    book.add(order("first", Side.SELL, "10"))
    book.add(order("second", Side.SELL, "10"))
    seen = [o.order_id for o in book.asks.crossed_orders(Decimal("10"))]
    assert seen == ["first"]


def test_top_aggregates_leaves_per_level() -> None:
    book = Book()
    book.add(order("a", Side.SELL, "10", "1"))
    book.add(order("b", Side.SELL, "10", "2"))
    book.add(order("c", Side.SELL, "11", "5"))
    assert book.asks.top(5) == [(Decimal("10"), Decimal("3")), (Decimal("11"), Decimal("5"))]
