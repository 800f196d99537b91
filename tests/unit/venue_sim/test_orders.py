"""Order entry rules: parameters, instrument rules, ids, amend and cancel, with Bybit codes."""

from __future__ import annotations

from decimal import Decimal
from typing import Any

import pytest

from libs.common.domain.enums import Category, VenueOrderStatus
from services.venue_sim.engine import Exchange, SimError

from .helpers import FakeClock, limit, make_exchange

D = Decimal
BASE = {"symbol": "BTCUSDT", "side": "Buy", "orderType": "Limit", "qty": "0.01", "price": "59000"}


def refused(ex: Exchange, params: dict[str, Any], category: Category = Category.LINEAR) -> SimError:
    with pytest.raises(SimError) as info:
        ex.place(category, params)
    return info.value


@pytest.mark.parametrize(
    ("change", "code", "words"),
    [
        ({"qty": "0.0015"}, 10001, "Qty invalid"),
        ({"qty": "0"}, 10001, "must be positive"),
        ({"qty": "2000"}, 10001, "maximum limit allowed"),
        ({"price": "59000.05"}, 10001, "Price invalid"),
        ({"price": None}, 10001, "price is required"),
        ({"price": "abc"}, 10001, "not a number"),
        ({"side": "buy"}, 10001, "side"),
        ({"orderType": "Stop"}, 10001, "orderType"),
        ({"symbol": "DOGEUSDT"}, 10001, "symbol invalid"),
        ({"symbol": None}, 10001, "symbol is required"),
        ({"orderLinkId": "x" * 37}, 10001, "orderLinkId"),
        ({"orderLinkId": "bad id!"}, 10001, "orderLinkId"),
        ({"positionIdx": 1}, 10001, "position idx not match position mode"),
        ({"triggerPrice": "61000"}, 10001, "not supported"),
        ({"price": "2000000"}, 110003, "out of permissible range"),
        ({"qty": "0.001", "price": "4000"}, 110094, "minimum order value 5USDT"),
    ],
)
def test_linear_parameter_errors(
    ex: Exchange, change: dict[str, Any], code: int, words: str
) -> None:
    params = {k: v for k, v in {**BASE, **change}.items() if v is not None}
    error = refused(ex, params)
    assert error.code == code
    assert words in error.msg
    assert ex.orders == {}


def test_market_qty_is_checked_against_the_market_maximum(ex: Exchange) -> None:
    error = refused(ex, {**BASE, "orderType": "Market", "qty": "501"})
    assert (error.code, "max_qty:50000000000" in error.msg) == (10001, True)


def test_a_36_character_link_id_is_accepted(ex: Exchange) -> None:
    order = limit(ex, "Buy", "0.01", "59000", orderLinkId="a" * 36)
    assert order.link_id == "a" * 36


def test_duplicate_link_id_is_refused_even_after_the_first_order_closed(ex: Exchange) -> None:
    first = limit(ex, "Buy", "0.01", "59000", orderLinkId="dup-1")
    ex.cancel(Category.LINEAR, {"symbol": "BTCUSDT", "orderLinkId": "dup-1"})
    assert first.status is VenueOrderStatus.CANCELLED
    error = refused(ex, {**BASE, "orderLinkId": "dup-1"})
    assert (error.code, error.msg) == (110072, "OrderLinkedID is duplicate")
    assert len(ex.orders) == 1


def test_link_ids_are_unique_per_category(ex: Exchange) -> None:
    limit(ex, "Buy", "0.01", "59000", orderLinkId="same")
    spot = limit(ex, "Buy", "0.01", "59000", orderLinkId="same", category=Category.SPOT)
    assert spot.status is VenueOrderStatus.NEW
    error = refused(ex, {**BASE, "orderLinkId": "same"}, Category.SPOT)
    assert error.code == 170141


def test_insufficient_margin_at_fixed_leverage(clock: FakeClock) -> None:
    ex = make_exchange(clock, balances={"USDT": D("100")})
    limit(ex, "Buy", "0.016", "59000")  # 94.4 USDT of margin at 10x
    error = refused(ex, {**BASE, "qty": "0.001"})
    assert (error.code, error.msg) == (110007, "ab not enough for new order")


def test_active_order_cap_per_symbol(clock: FakeClock) -> None:
    ex = make_exchange(clock, max_active_orders=2)
    limit(ex, "Buy", "0.01", "59000")
    limit(ex, "Buy", "0.01", "59001")
    assert refused(ex, BASE).code == 110020
    limit(ex, "Buy", "0.01", "3000", symbol="ETHUSDT")


def test_amend_changes_price_and_qty_of_an_open_order(ex: Exchange) -> None:
    order = limit(ex, "Buy", "0.01", "59000", orderLinkId="am-1")
    amended, changes = ex.amend(
        Category.LINEAR,
        {"symbol": "BTCUSDT", "orderLinkId": "am-1", "qty": "0.02", "price": "59001"},
    )
    assert amended is order
    assert (order.qty, order.leaves, order.price) == (D("0.020"), D("0.020"), D("59001.0"))
    assert ex.books[(Category.LINEAR, "BTCUSDT")].bids.best() == D("59001")
    assert list(changes.orders) == [order.order_id]


def test_amended_price_that_crosses_fills_as_taker(ex: Exchange) -> None:
    order = limit(ex, "Buy", "0.01", "59000")
    ex.amend(Category.LINEAR, {"symbol": "BTCUSDT", "orderId": order.order_id, "price": "60500"})
    assert order.status is VenueOrderStatus.FILLED
    assert order.avg_price == D("60000.1")


def test_amend_qty_must_exceed_the_filled_qty(ex: Exchange) -> None:
    order = limit(ex, "Buy", "0.01", "59999.9")
    ex.public_trade(Category.LINEAR, "BTCUSDT", D("59999.9"), D("0.004"))
    with pytest.raises(SimError) as info:
        ex.amend(Category.LINEAR, {"symbol": "BTCUSDT", "orderId": order.order_id, "qty": "0.004"})
    assert info.value.code == 110064
    ex.amend(Category.LINEAR, {"symbol": "BTCUSDT", "orderId": order.order_id, "qty": "0.005"})
    assert (order.qty, order.leaves) == (D("0.005"), D("0.001"))


def test_qty_decrease_keeps_time_priority_and_price_change_loses_it(
    ex: Exchange, clock: FakeClock
) -> None:
    first = limit(ex, "Buy", "0.02", "59999.9")
    clock.advance()
    second = limit(ex, "Buy", "0.02", "59999.9")
    ex.amend(Category.LINEAR, {"symbol": "BTCUSDT", "orderId": first.order_id, "qty": "0.01"})
    changes = ex.public_trade(Category.LINEAR, "BTCUSDT", D("59999.9"), D("0.001"))
    assert changes.executions[0].order_id == first.order_id
    ex.amend(Category.LINEAR, {"symbol": "BTCUSDT", "orderId": first.order_id, "price": "59999.8"})
    ex.amend(Category.LINEAR, {"symbol": "BTCUSDT", "orderId": first.order_id, "price": "59999.9"})
    changes = ex.public_trade(Category.LINEAR, "BTCUSDT", D("59999.9"), D("0.001"))
    assert changes.executions[0].order_id == second.order_id


@pytest.mark.parametrize("action", ["amend", "cancel"])
def test_closed_or_unknown_orders_cannot_be_amended_or_cancelled(ex: Exchange, action: str) -> None:
    order = limit(ex, "Buy", "0.01", "60500")  # filled at once
    assert order.status is VenueOrderStatus.FILLED
    operation = getattr(ex, action)
    for ref in ({"orderId": order.order_id}, {"orderLinkId": "never-seen"}):
        with pytest.raises(SimError) as info:
            operation(Category.LINEAR, {"symbol": "BTCUSDT", "price": "59000", **ref})
        assert info.value.code == 110001
        assert "too late to" in info.value.msg


def test_cancel_needs_an_id(ex: Exchange) -> None:
    with pytest.raises(SimError) as info:
        ex.cancel(Category.LINEAR, {"symbol": "BTCUSDT"})
    assert (info.value.code, info.value.msg) == (
        10001,
        "params error: OrderId or orderLinkId is required",
    )


def test_cancel_all_by_symbol_base_coin_or_settle_coin(ex: Exchange) -> None:
    btc = limit(ex, "Buy", "0.01", "59000")
    eth = limit(ex, "Buy", "0.1", "2900", symbol="ETHUSDT")
    spot = limit(ex, "Buy", "0.01", "59000", category=Category.SPOT)
    with pytest.raises(SimError):
        ex.cancel_all(Category.LINEAR, {})
    cancelled, _ = ex.cancel_all(Category.LINEAR, {"symbol": "BTCUSDT"})
    assert cancelled == [btc]
    cancelled, _ = ex.cancel_all(Category.LINEAR, {"settleCoin": "USDT"})
    assert cancelled == [eth]
    assert spot.status is VenueOrderStatus.NEW
    cancelled, _ = ex.cancel_all(Category.SPOT, {})
    assert cancelled == [spot]


def test_cancel_releases_the_reserved_margin(ex: Exchange) -> None:
    order = limit(ex, "Buy", "0.01", "59000")
    assert ex.ledger().account.order_im == D("59")
    ex.cancel(Category.LINEAR, {"symbol": "BTCUSDT", "orderId": order.order_id})
    assert ex.ledger().account.order_im == 0
