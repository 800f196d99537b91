"""The public order book: synthetic levels around the mid plus our own resting orders."""

from __future__ import annotations

from decimal import Decimal

from libs.common.domain.instruments import round_to_step
from services.venue_sim.engine.book import BookSide
from services.venue_sim.engine.model import MarketState

Level = tuple[Decimal, Decimal]


def synthetic_size(market: MarketState, price: Decimal) -> Decimal:
    """A stable pseudo-random size for the synthetic level at `price` (same price, same size)."""
    rules = market.spec.rules
    units = int(price / rules.tick_size)
    size = market.spec.depth_qty * (1 + (units * 7919) % 9) / 4
    return max(round_to_step(size, rules.qty_step, up=False), rules.min_qty)


def side_levels(market: MarketState, own: BookSide, depth: int, *, bids: bool) -> list[Level]:
    """The best `depth` levels of one side, best first."""
    tick = market.spec.rules.tick_size
    touch = market.bid if bids else market.ask
    step = -tick if bids else tick
    merged: dict[Decimal, Decimal] = {}
    price = touch
    for _ in range(depth):
        if price <= 0:
            break
        merged[price] = synthetic_size(market, price)
        price += step
    for price, qty in own.top(depth):
        merged[price] = merged.get(price, Decimal(0)) + qty
    ordered = sorted(merged, reverse=bids)[:depth]
    return [(p, merged[p]) for p in ordered]


def touch_sizes(market: MarketState, bids: BookSide, asks: BookSide) -> tuple[Level, Level]:
    """((best bid, size), (best ask, size)) of the public book."""
    return side_levels(market, bids, 1, bids=True)[0], side_levels(market, asks, 1, bids=False)[0]
