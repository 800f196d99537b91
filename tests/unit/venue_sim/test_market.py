"""The synthetic market: seeded random walk and the trades it prints."""

from __future__ import annotations

from decimal import Decimal

from libs.common.domain.enums import Category, VenueOrderStatus
from services.venue_sim.engine import SyntheticMarket

from .helpers import FakeClock, limit, make_exchange

BTC = (Category.LINEAR, "BTCUSDT")


def _path(seed: int, steps: int = 20) -> list[Decimal]:
    ex = make_exchange(FakeClock())
    walk = SyntheticMarket(ex, seed=seed, volatility_bps=5)
    mids = []
    for _ in range(steps):
        walk.step()
        mids.append(ex.markets[BTC].mid)
    return mids


def test_same_seed_same_path_other_seed_other_path() -> None:
    assert _path(1) == _path(1)
    assert _path(1) != _path(2)


def test_mids_stay_on_the_tick_grid_and_spot_moves_with_linear() -> None:
    ex = make_exchange(FakeClock())
    walk = SyntheticMarket(ex, seed=3, volatility_bps=10)
    for _ in range(10):
        walk.step()
        mid = ex.markets[BTC].mid
        assert mid % Decimal("0.1") == 0
    linear, spot = ex.markets[BTC].mid, ex.markets[(Category.SPOT, "BTCUSDT")].mid
    assert abs(linear - spot) / linear < Decimal("0.0001")


def test_each_step_prints_a_trade_per_market_that_fills_orders_at_the_touch() -> None:
    ex = make_exchange(FakeClock())
    walk = SyntheticMarket(ex, seed=5, volatility_bps=0)
    bid = limit(ex, "Buy", "0.001", "59999.9")
    ask = limit(ex, "Sell", "0.001", "60000.1")
    trades = 0
    for _ in range(20):
        changes = walk.step()
        trades += len(changes.trades)
    assert trades == 20 * len(ex.markets)
    assert bid.status is VenueOrderStatus.FILLED
    assert ask.status is VenueOrderStatus.FILLED
