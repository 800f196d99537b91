"""Spot: coin balances, fees in the received coin, quote-sized market buys, spot codes."""

from __future__ import annotations

from decimal import Decimal
from typing import Any

import pytest

from libs.common.domain.enums import Category, VenueOrderStatus
from services.venue_sim.engine import Exchange, SimError

from .helpers import limit, market

D = Decimal
SPOT = Category.SPOT
BTC = (SPOT, "BTCUSDT")
BASE = {"symbol": "BTCUSDT", "side": "Buy", "orderType": "Limit", "qty": "0.01", "price": "59000"}


@pytest.mark.parametrize(
    ("change", "code"),
    [
        ({"qty": "0.0000001"}, 170137),
        ({"price": "59000.001"}, 170134),
        ({"qty": "0.00001", "price": "1000"}, 170140),
        ({"qty": "100"}, 170124),
        ({"symbol": "DOGEUSDT"}, 170121),
        ({"qty": "2"}, 170131),
    ],
)
def test_spot_error_codes(ex: Exchange, change: dict[str, Any], code: int) -> None:
    with pytest.raises(SimError) as info:
        ex.place(SPOT, {**BASE, **change})
    assert info.value.code == code


def test_sell_needs_the_base_coin(ex: Exchange) -> None:
    with pytest.raises(SimError) as info:
        limit(ex, "Sell", "0.01", "61000", category=SPOT)
    assert info.value.code == 170131


def test_market_buy_qty_is_quote_coin_by_default(ex: Exchange) -> None:
    order = market(ex, "Buy", "300", category=SPOT)
    assert order.market_unit == "quoteCoin"
    assert order.status is VenueOrderStatus.FILLED
    assert order.qty == D("300")
    assert order.cum_qty == D("0.004999")  # 300 / 60000.01 rounded down to the 0.000001 step
    fee = (order.cum_qty * D("0.001")).quantize(D("0.00000001"))
    assert ex.ledger().account.balances["BTC"] == order.cum_qty - fee
    assert ex.ledger().account.balances["USDT"] == D(100_000) - order.cum_value


def test_buy_then_sell_moves_balances_and_sell_fee_is_in_quote(ex: Exchange) -> None:
    market(ex, "Buy", "0.02", category=SPOT, marketUnit="baseCoin")
    btc = ex.ledger().account.balances["BTC"]
    limit(ex, "Sell", "0.01", "60100", category=SPOT)
    assert ex.ledger().account.locked["BTC"] == D("0.01")
    changes = ex.public_trade(*BTC, D("60100"), D("1"))
    [fill] = changes.executions
    assert fill.fee_currency == "USDT"
    assert ex.ledger().account.balances["BTC"] == btc - D("0.01")
    assert ex.ledger().account.locked["BTC"] == 0


def test_resting_buy_locks_quote_coin_until_cancelled(ex: Exchange) -> None:
    order = limit(ex, "Buy", "0.01", "59000", category=SPOT)
    assert ex.ledger().account.locked["USDT"] == D("590")
    ex.cancel(SPOT, {"symbol": "BTCUSDT", "orderId": order.order_id})
    assert ex.ledger().account.locked["USDT"] == 0


def test_partially_filled_spot_order_cancels_as_partially_filled_canceled(ex: Exchange) -> None:
    order = limit(ex, "Buy", "0.01", "59999.99", category=SPOT)
    ex.public_trade(*BTC, D("59999.99"), D("0.004"))
    ex.cancel(SPOT, {"symbol": "BTCUSDT", "orderId": order.order_id})
    assert order.status is VenueOrderStatus.PARTIALLY_FILLED_CANCELED
    assert order.cum_qty == D("0.004")


def test_spot_unknown_order_is_170213(ex: Exchange) -> None:
    with pytest.raises(SimError) as info:
        ex.cancel(SPOT, {"symbol": "BTCUSDT", "orderLinkId": "nope"})
    assert (info.value.code, info.value.msg) == (170213, "Order does not exist.")


def test_spot_has_no_reduce_only(ex: Exchange) -> None:
    with pytest.raises(SimError) as info:
        ex.place(SPOT, {**BASE, "reduceOnly": True})
    assert info.value.code == 10001
