"""Matching against the synthetic market: taker fills at the touch, maker fills on trades."""

from __future__ import annotations

from decimal import Decimal

import pytest

from libs.common.domain.enums import Category, Side, VenueOrderStatus
from services.venue_sim.engine import DEFAULT_UID, Exchange

from .helpers import MAKER, TAKER, FakeClock, limit, market

D = Decimal
BTC = (Category.LINEAR, "BTCUSDT")


def test_starting_touch_is_one_tick_around_the_mid(ex: Exchange) -> None:
    state = ex.markets[BTC]
    assert (state.mid, state.bid, state.ask) == (D("60000"), D("59999.9"), D("60000.1"))


def test_non_marketable_limit_rests(ex: Exchange) -> None:
    order = limit(ex, "Buy", "0.01", "59999.9")
    assert order.status is VenueOrderStatus.NEW
    assert order.order_id in ex.ledger().open_orders
    assert ex.books[BTC].bids.best() == D("59999.9")
    assert ex.ledger().executions[Category.LINEAR] == []


def test_marketable_limit_fills_at_once_at_the_synthetic_ask_as_taker(ex: Exchange) -> None:
    order = limit(ex, "Buy", "0.01", "60100")
    assert order.status is VenueOrderStatus.FILLED
    [fill] = ex.ledger().executions[Category.LINEAR]
    assert (fill.price, fill.qty, fill.is_maker, fill.fee_rate) == (
        D("60000.1"),
        D("0.01"),
        False,
        TAKER,
    )
    assert fill.fee == (D("60000.1") * D("0.01") * TAKER).quantize(D("0.00000001"))
    assert order.leaves == 0 and order.cum_qty == D("0.01")
    assert order.order_id not in ex.ledger().open_orders


def test_market_sell_fills_at_the_bid(ex: Exchange) -> None:
    order = market(ex, "Sell", "0.5")
    assert order.status is VenueOrderStatus.FILLED
    assert order.avg_price == D("59999.9")
    assert ex.ledger().account.position("BTCUSDT").size == D("-0.5")


def test_trade_smaller_than_leaves_fills_partially_at_the_limit_price_as_maker(
    ex: Exchange,
) -> None:
    order = limit(ex, "Buy", "0.010", "59999.9")
    changes = ex.public_trade(*BTC, D("59999.9"), D("0.004"))
    assert order.status is VenueOrderStatus.PARTIALLY_FILLED
    assert order.leaves == D("0.006") and order.cum_qty == D("0.004")
    [fill] = changes.executions
    assert (fill.price, fill.qty, fill.is_maker, fill.fee_rate) == (
        D("59999.9"),
        D("0.004"),
        True,
        MAKER,
    )
    assert fill.leaves == D("0.006")
    assert order.order_id in ex.ledger().open_orders


def test_trade_fills_in_price_then_time_priority(ex: Exchange, clock: FakeClock) -> None:
    older = limit(ex, "Buy", "0.01", "59990")
    clock.advance()
    newer = limit(ex, "Buy", "0.01", "59990")
    better = limit(ex, "Buy", "0.01", "59995")
    changes = ex.public_trade(*BTC, D("59990"), D("0.015"))
    assert [e.order_id for e in changes.executions] == [better.order_id, older.order_id]
    assert better.status is VenueOrderStatus.FILLED
    assert older.status is VenueOrderStatus.PARTIALLY_FILLED and older.leaves == D("0.005")
    assert newer.status is VenueOrderStatus.NEW


def test_trade_above_a_bid_does_not_fill_it(ex: Exchange) -> None:
    order = limit(ex, "Buy", "0.01", "59990")
    changes = ex.public_trade(*BTC, D("59995"), D("1"))
    assert changes.executions == []
    assert order.status is VenueOrderStatus.NEW


def test_aggressor_side_picks_which_side_of_our_book_trades(ex: Exchange) -> None:
    bid = limit(ex, "Buy", "0.01", "59999.9")
    ask = limit(ex, "Sell", "0.01", "60000.1")
    ex.public_trade(*BTC, D("60000.1"), D("1"), Side.BUY)
    assert ask.status is VenueOrderStatus.FILLED
    assert bid.status is VenueOrderStatus.NEW


def test_moving_the_mid_through_resting_orders_fills_them_in_full_at_their_price(
    ex: Exchange,
) -> None:
    near = limit(ex, "Buy", "0.02", "59950")
    far = limit(ex, "Buy", "0.01", "59000")
    changes = ex.set_mid(*BTC, D("59900"))
    assert near.status is VenueOrderStatus.FILLED
    assert far.status is VenueOrderStatus.NEW
    [fill] = changes.executions
    assert (fill.price, fill.qty, fill.is_maker) == (D("59950"), D("0.02"), True)
    assert ex.markets[BTC].bid == D("59899.9")


def test_post_only_that_would_cross_is_accepted_then_cancelled(ex: Exchange) -> None:
    order = limit(ex, "Buy", "0.01", "60000.1", timeInForce="PostOnly")
    assert order.status is VenueOrderStatus.CANCELLED
    assert order.reject_reason == "EC_PostOnlyWillTakeLiquidity"
    assert ex.ledger().executions[Category.LINEAR] == []
    assert ex.books[BTC].count == 0
    assert ex.ledger().account.order_im == 0


def test_post_only_that_does_not_cross_rests(ex: Exchange) -> None:
    order = limit(ex, "Sell", "0.01", "60000.1", timeInForce="PostOnly")
    assert order.status is VenueOrderStatus.NEW


@pytest.mark.parametrize(
    ("tif", "reason"), [("IOC", "EC_NoImmediateQtyToFill"), ("FOK", "EC_NoEnoughQtyToFill")]
)
def test_ioc_and_fok_that_cannot_fill_are_cancelled(ex: Exchange, tif: str, reason: str) -> None:
    order = limit(ex, "Buy", "0.01", "59999.9", timeInForce=tif)
    assert order.status is VenueOrderStatus.CANCELLED
    assert order.reject_reason == reason
    assert order.cum_qty == 0
    assert ex.books[BTC].count == 0


@pytest.mark.parametrize("tif", ["IOC", "FOK"])
def test_marketable_ioc_and_fok_fill_in_full(ex: Exchange, tif: str) -> None:
    order = limit(ex, "Sell", "0.01", "59000", timeInForce=tif)
    assert order.status is VenueOrderStatus.FILLED
    assert order.avg_price == D("59999.9")


def test_cancelled_derivative_keeps_its_filled_qty(ex: Exchange) -> None:
    order = limit(ex, "Buy", "0.01", "59999.9")
    ex.public_trade(*BTC, D("59999.9"), D("0.004"))
    ex.cancel(Category.LINEAR, {"symbol": "BTCUSDT", "orderId": order.order_id})
    assert order.status is VenueOrderStatus.CANCELLED
    assert order.cum_qty == D("0.004") and order.cancel_type == "CancelByUser"


def test_changes_carry_orders_fills_positions_and_wallet(ex: Exchange) -> None:
    order, changes = ex.place(
        Category.LINEAR,
        {"symbol": "BTCUSDT", "side": "Buy", "orderType": "Market", "qty": "0.01"},
    )
    assert list(changes.orders) == [order.order_id]
    assert len(changes.executions) == 1
    assert changes.positions == {(DEFAULT_UID, "BTCUSDT")}
    assert changes.wallet
    assert [t.side for t in changes.trades] == [Side.BUY]
    assert ex.markets[BTC].last_price == D("60000.1")
