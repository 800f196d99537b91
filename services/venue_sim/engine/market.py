"""The synthetic market: a seeded random walk of every mid, and a public trade per tick."""

from __future__ import annotations

import random
from decimal import Decimal

from libs.common.domain.enums import Side
from libs.common.domain.instruments import round_to_step
from services.venue_sim.engine.exchange import Exchange
from services.venue_sim.engine.model import Changes


class SyntheticMarket:
    """Moves the exchange's markets one tick at a time; the same seed gives the same path.

    A symbol's linear and spot mids take the same relative shock each tick. After the move,
    each market prints one trade at its new touch (a Sell at the bid or a Buy at the ask) of
    a random size around the instrument's typical trade size, which fills our resting orders
    at that price in priority order.
    """

    def __init__(self, exchange: Exchange, *, seed: int, volatility_bps: float) -> None:
        self.exchange = exchange
        self.rng = random.Random(seed)
        self.volatility_bps = volatility_bps

    def step(self) -> Changes:
        """Advance every market by one tick."""
        rng = self.rng
        sigma = self.volatility_bps / 10_000
        shocks: dict[str, Decimal] = {}
        changes = Changes()
        for (category, symbol), market in self.exchange.markets.items():
            shock = shocks.get(symbol)
            if shock is None:
                shock = shocks[symbol] = Decimal(repr(round(rng.gauss(0.0, sigma), 10)))
            rules = market.spec.rules
            mid = round_to_step(market.mid * (1 + shock), rules.tick_size, up=False)
            changes.merge(self.exchange.set_mid(category, symbol, max(mid, rules.tick_size)))
            side = Side.SELL if rng.random() < 0.5 else Side.BUY
            price = market.bid if side is Side.SELL else market.ask
            size = market.spec.trade_qty * Decimal(repr(round(rng.expovariate(1.0), 6)))
            qty = max(round_to_step(size, rules.qty_step, up=False), rules.min_qty)
            changes.merge(self.exchange.public_trade(category, symbol, price, qty, side))
        return changes
