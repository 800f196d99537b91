"""Payload building and response parsing."""

from __future__ import annotations

from decimal import Decimal

import pytest

from libs.common.domain.enums import Category, OrderType, Side, TimeInForce, VenueOrderStatus
from libs.common.domain.errors import InvalidOrder
from libs.common.domain.ids import ClientOrderId, VenueOrderId
from libs.common.domain.instruments import InstrumentRules
from libs.common.venue.errors import InvalidOrderRequest
from libs.common.venue.models import AmendOrder, CancelOrder, PlaceOrder
from libs.common.venue.wire import (
    amend_body,
    cancel_body,
    chunks,
    fmt,
    normalize_amend,
    normalize_place,
    parse_execution,
    parse_instrument,
    parse_order,
    parse_position,
    parse_ticker,
    place_body,
)


def _order(**kw: object) -> PlaceOrder:
    base: dict[str, object] = {
        "category": Category.LINEAR,
        "symbol": "BTCUSDT",
        "side": Side.BUY,
        "order_type": OrderType.LIMIT,
        "qty": Decimal("0.0019"),
        "price": Decimal("60000.07"),
        "client_order_id": "mmx-1",
    }
    return PlaceOrder.model_validate({**base, **kw})


@pytest.mark.parametrize(
    ("value", "text"),
    [("0.0010", "0.001"), ("60000.0", "60000"), ("1E+2", "100"), ("1E-7", "0.0000001")],
)
def test_fmt_plain_decimal(value: str, text: str) -> None:
    assert fmt(Decimal(value)) == text


def test_linear_limit_body_is_rounded_never_more_aggressive(btc_linear: InstrumentRules) -> None:
    order = _order()
    body = place_body(order, *normalize_place(btc_linear, order))
    assert body == {
        "category": "linear",
        "symbol": "BTCUSDT",
        "side": "Buy",
        "orderType": "Limit",
        "qty": "0.001",
        "orderLinkId": "mmx-1",
        "price": "60000",
        "timeInForce": "GTC",
    }
    sell = _order(side=Side.SELL, time_in_force=TimeInForce.POST_ONLY, reduce_only=True)
    body = place_body(sell, *normalize_place(btc_linear, sell))
    assert body["price"] == "60000.1"
    assert body["timeInForce"] == "PostOnly"
    assert body["reduceOnly"] is True


def test_spot_market_is_sent_in_base_units(btc_spot: InstrumentRules) -> None:
    order = _order(
        category=Category.SPOT, order_type=OrderType.MARKET, price=None, qty=Decimal("0.01")
    )
    body = place_body(order, *normalize_place(btc_spot, order))
    assert body["marketUnit"] == "baseCoin"
    assert "price" not in body and "timeInForce" not in body


def test_order_that_cannot_be_made_valid_raises_a_clear_error(btc_linear: InstrumentRules) -> None:
    with pytest.raises(InvalidOrderRequest, match=r"below the minimum 0\.001") as info:
        normalize_place(btc_linear, _order(qty=Decimal("0.0004")))
    assert isinstance(info.value.cause, InvalidOrder)
    with pytest.raises(InvalidOrderRequest, match="notional"):
        normalize_place(btc_linear, _order(price=Decimal("100")))
    with pytest.raises(InvalidOrderRequest, match="needs a price"):
        normalize_place(btc_linear, _order(price=None))


def test_reduce_only_on_spot_is_refused(btc_spot: InstrumentRules) -> None:
    with pytest.raises(InvalidOrderRequest, match="reduce_only"):
        normalize_place(btc_spot, _order(category=Category.SPOT, reduce_only=True))


def test_amend_and_cancel_bodies(btc_linear: InstrumentRules) -> None:
    amend = AmendOrder(
        category=Category.LINEAR,
        symbol="BTCUSDT",
        side=Side.BUY,
        client_order_id=ClientOrderId("mmx-1"),
        price=Decimal("59999.99"),
    )
    assert amend_body(amend, *normalize_amend(btc_linear, amend)) == {
        "category": "linear",
        "symbol": "BTCUSDT",
        "orderLinkId": "mmx-1",
        "price": "59999.9",
    }
    by_id = CancelOrder(
        category=Category.SPOT, symbol="BTCUSDT", venue_order_id=VenueOrderId("123")
    )
    assert cancel_body(by_id) == {"category": "spot", "symbol": "BTCUSDT", "orderId": "123"}


def test_amend_qty_only_is_checked_against_the_minimum(btc_linear: InstrumentRules) -> None:
    amend = AmendOrder(
        category=Category.LINEAR,
        symbol="BTCUSDT",
        side=Side.SELL,
        client_order_id=ClientOrderId("mmx-1"),
        qty=Decimal("0.0001"),
    )
    with pytest.raises(InvalidOrderRequest, match="below the minimum"):
        normalize_amend(btc_linear, amend)


def test_requests_validate_ids() -> None:
    with pytest.raises(ValueError, match="clientOrderId"):
        _order(client_order_id="has space")
    with pytest.raises(ValueError, match="neither"):
        CancelOrder(category=Category.LINEAR, symbol="BTCUSDT")
    with pytest.raises(ValueError, match="symbol"):
        _order(symbol="btcusdt")


def test_chunks() -> None:
    assert [list(c) for c in chunks(list(range(5)), 2)] == [[0, 1], [2, 3], [4]]


ORDER_ITEM = {
    "orderId": "fd4300ae-7847-404e-b947-b46980a4d140",
    "orderLinkId": "test-000005",
    "symbol": "ETHUSDT",
    "price": "1600.00",
    "qty": "0.10",
    "side": "Buy",
    "orderStatus": "PartiallyFilled",
    "cancelType": "UNKNOWN",
    "rejectReason": "EC_NoError",
    "avgPrice": "1600",
    "leavesQty": "0.05",
    "cumExecQty": "0.05",
    "cumExecValue": "80",
    "timeInForce": "GTC",
    "orderType": "Limit",
    "reduceOnly": False,
    "createdTime": "1684738540559",
    "updatedTime": "1684738540561",
}


def test_parse_order() -> None:
    order = parse_order(ORDER_ITEM, Category.LINEAR)
    assert order.status is VenueOrderStatus.PARTIALLY_FILLED
    assert order.client_order_id == "test-000005"
    assert order.qty == Decimal("0.10") and order.leaves_qty == Decimal("0.05")
    assert order.avg_price == Decimal("1600")
    assert order.updated_ms == 1684738540561
    market = parse_order(
        {**ORDER_ITEM, "orderLinkId": "", "price": "0", "avgPrice": "", "timeInForce": "RPI"},
        Category.LINEAR,
    )
    assert market.client_order_id is None and market.price is None and market.avg_price is None
    assert market.time_in_force is None


def test_parse_execution_and_ws_category() -> None:
    fill = parse_execution(
        {
            "category": "linear",
            "symbol": "BTCUSDT",
            "execId": "e1",
            "orderId": "o1",
            "orderLinkId": "mmx-1",
            "side": "Sell",
            "execPrice": "60000.5",
            "execQty": "0.002",
            "execFee": "0.012",
            "feeRate": "0.0001",
            "feeCurrency": "USDT",
            "execType": "Trade",
            "execTime": "1700000000123",
            "isMaker": True,
            "leavesQty": "0",
        }
    )
    assert fill.category is Category.LINEAR and fill.is_maker and fill.side is Side.SELL
    assert fill.price == Decimal("60000.5") and fill.fee == Decimal("0.012")
    assert fill.exec_time_ms == 1700000000123


def test_parse_position_rest_and_ws_shapes() -> None:
    rest = parse_position(
        {"symbol": "BTCUSDT", "side": "Buy", "size": "0.01", "avgPrice": "60000", "leverage": "10"},
        Category.LINEAR,
    )
    ws = parse_position(
        {"category": "linear", "symbol": "BTCUSDT", "side": "", "size": "0", "entryPrice": "0"}
    )
    assert rest.side is Side.BUY and rest.avg_price == Decimal("60000")
    assert ws.side is None and ws.size == 0


def test_parse_ticker() -> None:
    t = parse_ticker(
        {"symbol": "BTCUSDT", "bid1Price": "1", "ask1Price": "3", "lastPrice": "2"},
        Category.SPOT,
        5,
    )
    assert t.mid == Decimal(2) and t.mark is None and t.ts_ms == 5


def test_parse_instruments() -> None:
    linear = parse_instrument(
        {
            "symbol": "BTCUSDT",
            "status": "Trading",
            "baseCoin": "BTC",
            "quoteCoin": "USDT",
            "priceFilter": {"minPrice": "0.10", "maxPrice": "1999999.80", "tickSize": "0.10"},
            "lotSizeFilter": {
                "maxOrderQty": "1190.000",
                "maxMktOrderQty": "500.000",
                "minOrderQty": "0.001",
                "qtyStep": "0.001",
                "minNotionalValue": "5",
            },
        },
        Category.LINEAR,
    )
    assert linear.tick_size == Decimal("0.10") and linear.max_mkt_qty == 500
    spot = parse_instrument(
        {
            "symbol": "BTCUSDT",
            "baseCoin": "BTC",
            "quoteCoin": "USDT",
            "status": "Trading",
            "priceFilter": {"tickSize": "0.01"},
            "lotSizeFilter": {
                "basePrecision": "0.000001",
                "quotePrecision": "0.00000001",
                "minOrderAmt": "5",
                "maxLimitOrderQty": "71.73956243",
                "maxMarketOrderQty": "5.7",
            },
        },
        Category.SPOT,
    )
    assert spot.qty_step == spot.min_qty == Decimal("0.000001")
    assert spot.min_notional == 5 and spot.min_price == Decimal("0.01")
