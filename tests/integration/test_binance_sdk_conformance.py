"""Binance's official USDⓈ-M SDK (`binance-sdk-derivatives-trading-usds-futures`), unchanged,
against the simulator's Binance personality.

The SDK is pointed at the simulator only through its configuration
(`ConfigurationRestAPI(base_path=...)`, `ConfigurationWebSocketStreams(stream_url=...)`);
nothing of it is patched. Its REST calls are synchronous, its streams asyncio. Every answer
must parse into the SDK's strictly typed models: a model mismatch (which the SDK logs and
works around) fails the test. The market is frozen and moved by `/sim/mid` and
`/sim/trade`, so every price, fee and balance below is exact.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Callable, Iterator
from decimal import Decimal
from typing import Any

import pytest
from binance_common.configuration import ConfigurationRestAPI, ConfigurationWebSocketStreams
from binance_common.errors import (
    BadRequestError,
    NetworkError,
    ServerError,
    TooManyRequestsError,
    UnauthorizedError,
)
from binance_sdk_derivatives_trading_usds_futures.derivatives_trading_usds_futures import (
    DerivativesTradingUsdsFutures,
)
from binance_sdk_derivatives_trading_usds_futures.rest_api.models import (
    PlaceMultipleOrdersBatchOrdersParameterInner as BatchOrder,
)
from binance_sdk_derivatives_trading_usds_futures.websocket_streams.models import (
    AccountUpdate,
    ListenKeyExpired,
    OrderTradeUpdate,
)

from services.venue_sim.binance.auth import sign as venue_sign
from tests.binance_client import sign
from tests.simulator import SimProcess

BTC = "BTCUSDT"
MISFITS = (
    "did not match the declared types",
    "Failed to parse",
    "Unknown user data event",
    "Error received from server",
    "Error in callback",
)
"""What the SDK logs when an answer or an event does not fit its models, or it got an error."""
Rest = Any
"""The SDK's `DerivativesTradingUsdsFuturesRestAPI`."""


def sdk(sim: SimProcess, **kw: Any) -> DerivativesTradingUsdsFutures:
    options: dict[str, Any] = {"api_key": sim.api_key, "api_secret": sim.api_secret}
    options.update(kw)
    return DerivativesTradingUsdsFutures(
        config_rest_api=ConfigurationRestAPI(base_path=sim.base_url, **options),
        config_ws_streams=ConfigurationWebSocketStreams(stream_url=sim.ws_url),
    )


@pytest.fixture
def sim(binance_sim_process: SimProcess, caplog: pytest.LogCaptureFixture) -> Iterator[SimProcess]:
    """The module's simulator, reset; fails the test when an answer did not fit the SDK's
    models."""
    binance_sim_process.control_sync("reset", {"marketFrozen": True})
    with caplog.at_level(logging.WARNING):
        yield binance_sim_process
    logged = [r.getMessage() for r in caplog.get_records("call")]
    misfits = [message for message in logged if any(m in message for m in MISFITS)]
    assert not misfits, misfits


@pytest.fixture
def client(sim: SimProcess) -> DerivativesTradingUsdsFutures:
    return sdk(sim)


@pytest.fixture
def rest(client: DerivativesTradingUsdsFutures) -> Rest:
    return client.rest_api


def limit(rest: Rest, side: str, qty: float, price: float, **kw: Any) -> Any:
    return rest.new_order(
        symbol=kw.pop("symbol", BTC),
        side=side,
        type="LIMIT",
        time_in_force=kw.pop("time_in_force", "GTC"),
        quantity=qty,
        price=price,
        **kw,
    ).data()


def code_of(call: Callable[[], Any], error: type[Exception] = BadRequestError) -> tuple[Any, Any]:
    """(Binance code, msg) of the SDK error a call raises."""
    with pytest.raises(error) as raised:
        call()
    return raised.value.status_code, raised.value.error_message  # type: ignore[attr-defined]


def order_events(events: list[Any]) -> list[Any]:
    """The order (`o`) of every ORDER_TRADE_UPDATE among the user-data events received."""
    return [e.o for e in events if isinstance(e, OrderTradeUpdate)]


async def open_streams(client: Any) -> Any:
    """The SDK's three stream sockets (`/market`, `/public`, `/private` `/stream`)."""
    return await client.websocket_streams.create_connection()


async def until(predicate: Callable[[], bool], timeout_s: float = 5.0) -> None:
    deadline = time.monotonic() + timeout_s
    while not predicate():
        assert time.monotonic() < deadline, "timed out waiting for a stream message"
        await asyncio.sleep(0.02)


# -- signing ----------------------------------------------------------------------------------


def test_signature_matches_the_docs_test_vector() -> None:
    secret = "2b5eb11e18796d12d88f13dc27dbbd02c2cc51ff7059765ed9821957d82bb4d9"
    payload = (
        "symbol=BTCUSDT&side=BUY&type=LIMIT&quantity=1&price=9000&timeInForce=GTC"
        "&recvWindow=5000&timestamp=1591702613943"
    )
    expected = "3c661234138461fcc7a7d8746c6558c9842d4e10870d2ecbedf7777cad694af9"
    assert venue_sign(secret, payload) == sign(secret, payload) == expected


def test_bad_signature_old_timestamp_and_unknown_key_are_refused(sim: SimProcess) -> None:
    wrong = sdk(sim, api_secret="not-the-secret").rest_api
    assert code_of(wrong.account_information_v3) == (
        -1022,
        "Signature for this request is not valid.",
    )
    unknown = sdk(sim, api_key="nobody").rest_api
    code, msg = code_of(unknown.account_information_v3, UnauthorizedError)
    assert (code, msg) == (-2015, "Invalid API-key, IP, or permissions for action.")
    sim.control_sync("faults", {"clockOffsetMs": 10_000})  # our requests are 10 s old
    code, msg = code_of(sdk(sim).rest_api.account_information_v3)
    assert code == -1021 and msg.startswith("Timestamp for this request is outside of the recvW")
    sim.control_sync("faults", {"clockOffsetMs": -5_000})  # ... or 5 s ahead
    code, msg = code_of(sdk(sim).rest_api.account_information_v3)
    assert code == -1021 and "ahead of the server's time" in msg


# -- market data ------------------------------------------------------------------------------


def test_exchange_information_lists_the_catalogue_filters(rest: Rest) -> None:
    assert rest.test_connectivity().data() == {}
    assert abs(rest.check_server_time().data().server_time - time.time() * 1000) < 5000
    info = rest.exchange_information().data()
    assert [s.symbol for s in info.symbols] == ["BTCUSDT", "ETHUSDT", "SOLUSDT"]
    limits = {(r.rate_limit_type, r.interval, r.interval_num): r.limit for r in info.rate_limits}
    assert limits == {
        ("REQUEST_WEIGHT", "MINUTE", 1): 2400,
        ("ORDERS", "MINUTE", 1): 1200,
        ("ORDERS", "SECOND", 10): 300,
    }
    btc = info.symbols[0]
    assert (btc.contract_type, btc.status, btc.margin_asset) == ("PERPETUAL", "TRADING", "USDT")
    assert (btc.price_precision, btc.quantity_precision) == (1, 3)
    assert btc.time_in_force == ["GTC", "IOC", "FOK", "GTX"]
    filters = {f.filter_type: f.to_dict() for f in btc.filters}
    assert filters["PRICE_FILTER"] == {
        "filterType": "PRICE_FILTER", "minPrice": "0.1", "maxPrice": "1999999.8", "tickSize": "0.1"
    }  # fmt: skip
    assert filters["LOT_SIZE"] == {
        "filterType": "LOT_SIZE", "minQty": "0.001", "maxQty": "1190", "stepSize": "0.001"
    }  # fmt: skip
    assert filters["MARKET_LOT_SIZE"]["maxQty"] == "500"
    assert filters["MIN_NOTIONAL"]["notional"] == "5"
    assert filters["MAX_NUM_ORDERS"]["limit"] == 500
    assert (
        filters["PERCENT_PRICE"]["multiplierUp"],
        filters["PERCENT_PRICE"]["multiplierDown"],
    ) == (
        "1.0500",
        "0.9500",
    )


def test_book_tickers_mark_price_and_klines(sim: SimProcess, rest: Rest) -> None:
    book = rest.order_book(symbol=BTC, limit=5).data()
    assert len(book.bids) == len(book.asks) == 5
    assert (book.bids[0][0], book.asks[0][0]) == ("59999.9", "60000.1")
    top = rest.symbol_order_book_ticker(symbol=BTC).data().actual_instance
    assert (top.bid_price, top.ask_price) == ("59999.9", "60000.1")
    assert top.bid_qty == book.bids[0][1]
    sim.control_sync("mid", {"symbol": BTC, "price": "61000"})
    assert rest.mark_price(symbol=BTC).data().actual_instance.mark_price == "61000"
    later = rest.order_book(symbol=BTC, limit=5).data()
    assert later.last_update_id > book.last_update_id
    rest.new_order(symbol=BTC, side="SELL", type="MARKET", quantity=0.003)  # prints 60999.9
    for ticker in (rest.symbol_price_ticker, rest.symbol_price_ticker_v2):
        assert ticker(symbol=BTC).data().actual_instance.price == "60999.9"
    everything = rest.symbol_price_ticker_v2().data().actual_instance
    assert {t.symbol for t in everything} == {"BTCUSDT", "ETHUSDT", "SOLUSDT"}
    candles = rest.kline_candlestick_data(symbol=BTC, interval="1m", limit=2).data()
    [candle] = [c for c in candles if c[5] != "0"]  # the minute of the print
    assert candle[4] == "60999.9" and candle[5] == "0.003"  # close, volume
    assert candle[6] - candle[0] == 59_999  # close time
    code, _ = code_of(lambda: rest.kline_candlestick_data(symbol=BTC, interval="8h"))
    assert code == -1120
    assert code_of(lambda: rest.order_book(symbol="NOPEUSDT")) == (-1121, "Invalid symbol.")


# -- orders -----------------------------------------------------------------------------------


def test_limit_order_rests_then_fills_as_maker(sim: SimProcess, rest: Rest) -> None:
    placed = limit(rest, "BUY", 0.002, 59990.0, new_client_order_id="sdk-1")
    assert (placed.status, placed.client_order_id, placed.price) == ("NEW", "sdk-1", "59990.0")
    assert (placed.orig_qty, placed.executed_qty, placed.time_in_force) == ("0.002", "0", "GTC")
    queried = rest.query_order(symbol=BTC, orig_client_order_id="sdk-1").data()
    assert (queried.order_id, queried.status) == (placed.order_id, "NEW")
    sim.control_sync("mid", {"symbol": BTC, "price": "59980"})
    filled = rest.query_order(symbol=BTC, order_id=placed.order_id).data()
    assert (filled.status, filled.executed_qty, filled.avg_price) == ("FILLED", "0.002", "59990")
    [trade] = rest.account_trade_list(symbol=BTC).data()
    assert (trade.order_id, trade.price, trade.qty, trade.quote_qty) == (
        placed.order_id,
        "59990.0",
        "0.002",
        "119.98",
    )
    assert (trade.commission, trade.commission_asset) == ("0.023996", "USDT")  # maker 0.02 %
    assert (trade.maker, trade.buyer, trade.side, trade.realized_pnl) == (True, True, "BUY", "0")
    [position] = rest.position_information_v3(symbol=BTC).data()
    assert (position.position_amt, position.entry_price, position.mark_price) == (
        "0.002",
        "59990",
        "59980",
    )
    assert position.un_realized_profit == "-0.02"
    [v2] = rest.position_information_v2(symbol=BTC).data()
    assert (v2.position_amt, v2.leverage, v2.margin_type) == ("0.002", "10", "cross")


def test_market_orders_fill_at_the_touch_as_taker(rest: Rest) -> None:
    bought = rest.new_order(
        symbol=BTC, side="BUY", type="MARKET", quantity=0.001, new_order_resp_type="RESULT"
    ).data()
    assert (bought.status, bought.executed_qty, bought.type) == ("FILLED", "0.001", "MARKET")
    assert bought.additional_properties["avgPrice"] == "60000.1"
    acked = rest.new_order(symbol=BTC, side="SELL", type="MARKET", quantity=0.001).data()
    assert (acked.status, acked.executed_qty) == ("NEW", "0")  # ACK: as accepted
    assert rest.query_order(symbol=BTC, order_id=acked.order_id).data().status == "FILLED"
    buy, sell = rest.account_trade_list(symbol=BTC).data()
    assert (buy.price, buy.commission, buy.maker) == ("60000.1", "0.03000005", False)
    assert (sell.price, sell.realized_pnl, sell.commission) == ("59999.9", "-0.0002", "0.02999995")
    assert buy.id < sell.id
    [flat] = rest.position_information_v2(symbol=BTC).data()
    assert flat.position_amt == "0"
    assert rest.position_information_v3().data() == []


def test_post_only_ioc_and_fok(rest: Rest) -> None:
    code, msg = code_of(lambda: limit(rest, "BUY", 0.001, 60000.1, time_in_force="GTX"))
    assert code == -5022 and "Post Only order will be rejected" in msg
    assert rest.all_orders(symbol=BTC).data() == []  # not recorded
    maker = limit(rest, "BUY", 0.001, 59999.9, time_in_force="GTX")
    assert (maker.status, maker.time_in_force) == ("NEW", "GTX")
    missed = limit(rest, "BUY", 0.001, 59000.0, time_in_force="IOC", new_order_resp_type="RESULT")
    assert (missed.status, missed.executed_qty) == ("EXPIRED", "0")
    took = limit(rest, "BUY", 0.001, 60000.5, time_in_force="IOC", new_order_resp_type="RESULT")
    assert (took.status, took.executed_qty) == ("FILLED", "0.001")
    assert code_of(lambda: limit(rest, "BUY", 0.001, 59000.0, time_in_force="FOK"))[0] == -5021
    fok = limit(rest, "SELL", 0.001, 59999.9, time_in_force="FOK", new_order_resp_type="RESULT")
    assert fok.status == "FILLED"


def test_filters_refuse_with_binance_codes(rest: Rest) -> None:
    assert code_of(lambda: limit(rest, "BUY", 0.001, 59000.05))[0] == -1111  # 2 decimals
    assert code_of(lambda: limit(rest, "BUY", 1e-05, 59000.0))[0] == -1111  # str(float)
    assert code_of(lambda: limit(rest, "BUY", 0.0001, 59000.0))[0] == -1111
    assert code_of(lambda: limit(rest, "BUY", 2000.0, 59000.0))[0] == -4005
    assert code_of(lambda: limit(rest, "BUY", 0.001, 63000.1)) == (
        -4016,
        "Limit price can't be higher than 63000.0.",
    )
    code, msg = code_of(lambda: limit(rest, "BUY", 0.001, 1000.0))
    assert (code, msg) == (
        -4164,
        "Order's notional must be no smaller than 5 (unless you choose reduce only).",
    )
    code, _ = code_of(lambda: limit(rest, "SELL", 0.001, 60000.0, reduce_only="true"))
    assert code == -2022  # nothing to reduce
    code, msg = code_of(lambda: limit(rest, "BUY", 0.001, 59000.0, new_client_order_id="no spaces"))
    assert code == -4015
    code, _ = code_of(lambda: limit(rest, "BUY", 0.001, 59000.0, position_side="LONG"))
    assert code == -4061


def test_modify_order(sim: SimProcess, rest: Rest) -> None:
    placed = limit(rest, "BUY", 0.002, 59000.0, new_client_order_id="mod-1")
    modified = rest.modify_order(
        symbol=BTC, side="BUY", quantity=0.003, price=59010.0, orig_client_order_id="mod-1"
    ).data()
    assert (modified.order_id, modified.status) == (placed.order_id, "NEW")
    assert (modified.price, modified.orig_qty) == ("59010.0", "0.003")
    assert isinstance(modified.modify_id, int)
    same = {"symbol": BTC, "side": "BUY", "quantity": 0.003, "price": 59010.0}
    assert code_of(lambda: rest.modify_order(**same, order_id=placed.order_id)) == (
        -5027,
        "No need to modify the order.",
    )
    assert code_of(lambda: rest.modify_order(**same, order_id=1)) == (
        -2013,
        "Order does not exist.",
    )
    assert (
        code_of(lambda: rest.modify_order(**{**same, "side": "SELL"}, order_id=placed.order_id))[0]
        == -1130
    )
    sim.control_sync("trade", {"symbol": BTC, "price": "59010", "qty": "0.001", "side": "Sell"})
    cancelled = rest.modify_order(**{**same, "quantity": 0.001}, order_id=placed.order_id).data()
    assert (cancelled.status, cancelled.executed_qty) == ("CANCELED", "0.001")  # qty <= executed


def test_cancel_and_query_errors(rest: Rest) -> None:
    assert code_of(lambda: rest.cancel_order(symbol=BTC, order_id=42)) == (
        -2011,
        "Unknown order sent.",
    )
    assert code_of(lambda: rest.query_order(symbol=BTC, order_id=42)) == (
        -2013,
        "Order does not exist.",
    )
    placed = limit(rest, "SELL", 0.001, 61000.0)
    assert (
        rest.query_current_open_order(symbol=BTC, order_id=placed.order_id).data().status == "NEW"
    )
    cancelled = rest.cancel_order(symbol=BTC, order_id=placed.order_id).data()
    assert (cancelled.status, cancelled.order_id) == ("CANCELED", placed.order_id)
    assert code_of(lambda: rest.cancel_order(symbol=BTC, order_id=placed.order_id))[0] == -2011
    assert code_of(lambda: rest.query_current_open_order(symbol=BTC, order_id=placed.order_id)) == (
        -2013,
        "Order does not exist.",
    )
    assert rest.query_order(symbol=BTC, order_id=placed.order_id).data().status == "CANCELED"
    code, _ = code_of(lambda: rest.query_order(symbol="ETHUSDT", order_id=placed.order_id))
    assert code == -2013  # another symbol's id


def test_client_order_id_is_unique_among_open_orders_only(rest: Rest) -> None:
    first = limit(rest, "BUY", 0.001, 59000.0, new_client_order_id="dup-1")
    assert code_of(lambda: limit(rest, "BUY", 0.001, 58000.0, new_client_order_id="dup-1")) == (
        -4116,
        "clientOrderId is duplicated",
    )
    rest.cancel_order(symbol=BTC, orig_client_order_id="dup-1")
    again = limit(rest, "BUY", 0.001, 58000.0, new_client_order_id="dup-1")
    assert again.order_id != first.order_id and again.status == "NEW"
    assert rest.query_order(symbol=BTC, orig_client_order_id="dup-1").data().price == "58000.0"


def test_batch_place_and_cancel(rest: Rest) -> None:
    orders = [
        BatchOrder(symbol=BTC, side="BUY", type="LIMIT", time_in_force="GTC", quantity=0.001,
                   price=59000.0, new_client_order_id="bat-1"),
        BatchOrder(symbol=BTC, side="SELL", type="LIMIT", time_in_force="GTX", quantity=0.002,
                   price=61000, new_client_order_id="bat-2"),
        BatchOrder(symbol=BTC, side="BUY", type="LIMIT", time_in_force="GTC", quantity=0.001,
                   price=59000.05),
    ]  # fmt: skip
    first, second, third = rest.place_multiple_orders(batch_orders=orders).data()
    assert (first.client_order_id, first.status, first.price) == ("bat-1", "NEW", "59000.0")
    assert (second.client_order_id, second.time_in_force, second.orig_qty) == (
        "bat-2",
        "GTX",
        "0.002",
    )
    assert (third.code, third.order_id) == (-1111, None)
    six = [orders[0]] * 6
    assert code_of(lambda: rest.place_multiple_orders(batch_orders=six))[0] == -4082
    by_id = rest.cancel_multiple_orders(symbol=BTC, order_id_list=[first.order_id, 7]).data()
    assert (by_id[0].status, by_id[0].order_id) == ("CANCELED", first.order_id)
    assert (by_id[1].code, by_id[1].msg) == (-2011, "Unknown order sent.")
    [by_link] = rest.cancel_multiple_orders(symbol=BTC, orig_client_order_id_list=["bat-2"]).data()
    assert (by_link.status, by_link.client_order_id) == ("CANCELED", "bat-2")


def test_open_orders_all_orders_and_cancel_all(sim: SimProcess, rest: Rest) -> None:
    a = limit(rest, "BUY", 0.001, 59000.0)
    b = limit(rest, "SELL", 0.001, 61000.0)
    e = limit(rest, "BUY", 0.01, 2900.0, symbol="ETHUSDT")
    assert [o.order_id for o in rest.current_all_open_orders(symbol=BTC).data()] == [
        a.order_id,
        b.order_id,
    ]
    assert {o.order_id for o in rest.current_all_open_orders().data()} == {
        a.order_id,
        b.order_id,
        e.order_id,
    }
    sim.control_sync("mid", {"symbol": BTC, "price": "58990"})  # fills a
    done = rest.cancel_all_open_orders(symbol=BTC).data()
    assert (done.code, done.msg) == (200, "The operation of cancel all open order is done.")
    assert rest.current_all_open_orders(symbol=BTC).data() == []
    history = rest.all_orders(symbol=BTC).data()
    assert [(o.order_id, o.status) for o in history] == [
        (a.order_id, "FILLED"),
        (b.order_id, "CANCELED"),
    ]
    assert [o.order_id for o in rest.all_orders(symbol=BTC, order_id=b.order_id).data()] == [
        b.order_id
    ]
    assert [o.order_id for o in rest.all_orders(symbol=BTC, limit=1).data()] == [b.order_id]


def test_account_and_balances(rest: Rest) -> None:
    rest.new_order(symbol=BTC, side="BUY", type="MARKET", quantity=0.001)
    limit(rest, "BUY", 0.01, 2900.0, symbol="ETHUSDT")
    wallet = Decimal(100_000) - Decimal("0.03000005")  # the taker fee of 60000.1 x 0.001
    upl = Decimal("0.001") * (60000 - Decimal("60000.1"))
    position_im, order_im = Decimal(6), Decimal("2.9")  # 10x leverage
    available = wallet + upl - position_im - order_im
    for info in (rest.account_information_v2().data(), rest.account_information_v3().data()):
        assert Decimal(info.total_wallet_balance) == wallet
        assert Decimal(info.total_unrealized_profit) == upl
        assert Decimal(info.total_margin_balance) == wallet + upl
        assert Decimal(info.total_initial_margin) == position_im + order_im
        assert Decimal(info.total_open_order_initial_margin) == order_im
        assert Decimal(info.total_maint_margin) == Decimal("0.3")
        assert Decimal(info.available_balance) == available
        [usdt] = info.assets
        assert (usdt.asset, Decimal(usdt.wallet_balance)) == ("USDT", wallet)
    v2 = rest.account_information_v2().data()
    assert (v2.can_trade, v2.fee_tier) == (True, 0)
    assert [p.symbol for p in v2.positions] == ["BTCUSDT", "ETHUSDT", "SOLUSDT"]
    assert (v2.positions[0].position_amt, v2.positions[0].leverage) == ("0.001", "10")
    v3 = rest.account_information_v3().data()
    assert [(p.symbol, p.position_amt) for p in v3.positions] == [
        ("BTCUSDT", "0.001"),
        ("ETHUSDT", "0"),
    ]
    for balances in (
        rest.futures_account_balance_v2().data(),
        rest.futures_account_balance_v3().data(),
    ):
        [usdt] = balances
        assert (usdt.asset, Decimal(usdt.balance), Decimal(usdt.available_balance)) == (
            "USDT",
            wallet,
            available,
        )


def test_leverage_margin_type_position_mode_and_commission(rest: Rest) -> None:
    changed = rest.change_initial_leverage(symbol=BTC, leverage=20).data()
    assert (changed.leverage, changed.symbol, changed.max_notional_value) == (20, BTC, "5000000")
    assert rest.position_information_v2(symbol=BTC).data()[0].leverage == "20"
    assert rest.change_initial_leverage(symbol=BTC, leverage=20).data().leverage == 20
    assert code_of(lambda: rest.change_initial_leverage(symbol=BTC, leverage=101)) == (
        -4028,
        "Leverage 101 is not valid",
    )
    isolated = rest.change_margin_type(symbol=BTC, margin_type="ISOLATED").data()
    assert (isolated.code, isolated.msg) == (200, "success")
    assert rest.position_information_v2(symbol=BTC).data()[0].margin_type == "isolated"
    assert code_of(lambda: rest.change_margin_type(symbol=BTC, margin_type="ISOLATED"))[0] == -4046
    limit(rest, "BUY", 0.001, 59000.0)
    assert code_of(lambda: rest.change_margin_type(symbol=BTC, margin_type="CROSSED"))[0] == -4047
    assert rest.get_current_position_mode().data().dual_side_position is False
    assert code_of(lambda: rest.change_position_mode(dual_side_position="false")) == (
        -4059,
        "No need to change position side.",
    )
    assert code_of(lambda: rest.change_position_mode(dual_side_position="true"))[0] == -1128
    rates = rest.user_commission_rate(symbol=BTC).data()
    assert (rates.symbol, rates.maker_commission_rate, rates.taker_commission_rate) == (
        BTC,
        "0.0002",
        "0.0005",
    )


def test_countdown_cancel_all(rest: Rest) -> None:
    kept = limit(rest, "BUY", 0.001, 59000.0)
    armed = rest.auto_cancel_all_open_orders(symbol=BTC, countdown_time=300).data()
    assert (armed.symbol, armed.countdown_time) == (BTC, "300")
    rest.auto_cancel_all_open_orders(symbol=BTC, countdown_time=0)  # disarmed
    time.sleep(0.5)
    assert rest.query_order(symbol=BTC, order_id=kept.order_id).data().status == "NEW"
    rest.auto_cancel_all_open_orders(symbol=BTC, countdown_time=200)
    time.sleep(0.5)
    assert rest.query_order(symbol=BTC, order_id=kept.order_id).data().status == "CANCELED"


def test_listen_key_lifecycle(rest: Rest) -> None:
    key = rest.start_user_data_stream().data().listen_key
    assert len(key) == 64
    assert rest.start_user_data_stream().data().listen_key == key  # the active one, extended
    assert rest.keepalive_user_data_stream().data().listen_key == key
    rest.close_user_data_stream()
    assert code_of(rest.keepalive_user_data_stream) == (-1125, "This listenKey does not exist.")
    assert rest.start_user_data_stream().data().listen_key != key


# -- limits and faults ------------------------------------------------------------------------


def test_rate_limit_headers_and_429s(sim: SimProcess, rest: Rest) -> None:
    info = rest.exchange_information()
    used = int(info.headers["X-MBX-USED-WEIGHT-1M"])
    assert [(r.rateLimitType, r.interval, r.intervalNum) for r in info.rate_limits] == [
        ("REQUEST_WEIGHT", "MINUTE", 1)
    ]
    book = rest.order_book(symbol=BTC, limit=1000)
    assert int(book.headers["X-MBX-USED-WEIGHT-1M"]) in (used + 20, 20)  # 20 in a new minute
    placed = rest.new_order(symbol=BTC, side="BUY", type="LIMIT", time_in_force="GTC",
                            quantity=0.001, price=59000.0)  # fmt: skip
    counts = {(r.rateLimitType, r.interval, r.intervalNum): r.count for r in placed.rate_limits}
    assert counts[("ORDERS", "SECOND", 10)] == counts[("ORDERS", "MINUTE", 1)] == 1
    sim.control_sync("limits", {"weightPerMinute": 5, "ordersPer10s": 2})
    with pytest.raises(TooManyRequestsError) as throttled:
        for _ in range(20):
            rest.check_server_time()
    assert throttled.value.status_code == -1003 and (throttled.value.retry_after or 0) >= 1
    sim.control_sync("limits", {"weightPerMinute": 2400})
    with pytest.raises(TooManyRequestsError) as too_many:
        for _ in range(10):
            limit(rest, "BUY", 0.001, 59000.0)
    assert too_many.value.status_code == -1015
    assert "orders per 10 SECONDS" in too_many.value.error_message


def test_faults_make_the_outcome_unknown_or_failed(sim: SimProcess, rest: Rest) -> None:
    sim.control_sync("faults", {"http5xxAfterNext": 1})
    with pytest.raises(ServerError) as unknown:
        limit(rest, "BUY", 0.001, 59000.0, new_client_order_id="f-after")
    assert unknown.value.status_code == 503
    assert rest.query_order(symbol=BTC, orig_client_order_id="f-after").data().status == "NEW"
    sim.control_sync("faults", {"dropResponseNext": 1})
    with pytest.raises(NetworkError):
        limit(rest, "BUY", 0.001, 59000.0, new_client_order_id="f-drop")
    assert rest.query_order(symbol=BTC, orig_client_order_id="f-drop").data().status == "NEW"
    sim.control_sync("faults", {"http5xxNext": 1})
    with pytest.raises(ServerError):
        limit(rest, "BUY", 0.001, 59000.0, new_client_order_id="f-failed")
    assert (
        code_of(lambda: rest.query_order(symbol=BTC, orig_client_order_id="f-failed"))[0] == -2013
    )
    fired = sim.control_sync("health", method="GET")["faults"]["fired"]
    assert fired == {"http5xxAfterNext": 1, "dropResponseNext": 1, "http5xxNext": 1}


# -- streams ----------------------------------------------------------------------------------


async def test_user_data_stream_delivers_order_trade_update_for_a_fill(
    sim: SimProcess, client: DerivativesTradingUsdsFutures
) -> None:
    rest = client.rest_api
    key = (await asyncio.to_thread(rest.start_user_data_stream)).data().listen_key
    streams = await open_streams(client)
    try:
        events: list[Any] = []
        handle = await streams.user_data(key)
        handle.on("message", lambda event: events.append(event.actual_instance))
        placed = await asyncio.to_thread(
            limit, rest, "BUY", 0.002, 59990.0, new_client_order_id="ws-1"
        )
        await sim.control("mid", {"symbol": BTC, "price": "59980"})
        await until(lambda: any(isinstance(e, AccountUpdate) for e in events))
        updates = order_events(events)
        assert [(u.x, u.X, u.z) for u in updates] == [
            ("NEW", "NEW", "0"),
            ("TRADE", "FILLED", "0.002"),
        ]
        trade = updates[1]
        assert (trade.s, trade.c, trade.i, trade.S, trade.o, trade.f) == (
            BTC, "ws-1", placed.order_id, "BUY", "LIMIT", "GTC",
        )  # fmt: skip
        assert (trade.l, trade.L, trade.ap, trade.n, trade.N) == (
            "0.002", "59990.0", "59990", "0.023996", "USDT",
        )  # fmt: skip
        assert (trade.m, trade.rp, trade.ps, trade.R) == (True, "0", "BOTH", False)
        fills: Any = (await asyncio.to_thread(rest.account_trade_list, symbol=BTC)).data()
        [fill] = fills
        assert (trade.t, trade.T) == (fill.id, fill.time)
        accounts: list[Any] = [e.a for e in events if isinstance(e, AccountUpdate)]
        [account] = accounts
        assert account.m == "ORDER"
        assert [(b.a, b.wb) for b in account.B] == [("USDT", "99999.976004")]
        assert [(p.s, p.pa, p.ep, p.ps) for p in account.P] == [(BTC, "0.002", "59990", "BOTH")]
        resting = await asyncio.to_thread(limit, rest, "SELL", 0.001, 61000.0)
        await asyncio.to_thread(
            rest.modify_order,
            symbol=BTC, side="SELL", quantity=0.002, price=61010.0, order_id=resting.order_id,
        )  # fmt: skip
        await asyncio.to_thread(rest.cancel_order, symbol=BTC, order_id=resting.order_id)
        await asyncio.to_thread(limit, rest, "BUY", 0.001, 59000.0, time_in_force="IOC")
        await until(lambda: order_events(events)[-1].x == "EXPIRED")
        assert [(u.x, u.X, u.p, u.q) for u in order_events(events)[2:]] == [
            ("NEW", "NEW", "61000.0", "0.001"),
            ("AMENDMENT", "NEW", "61010.0", "0.002"),
            ("CANCELED", "CANCELED", "61010.0", "0.002"),
            ("NEW", "NEW", "59000.0", "0.001"),
            ("EXPIRED", "EXPIRED", "59000.0", "0.001"),
        ]
        await sim.control("listen-keys/expire", {})
        await until(lambda: isinstance(events[-1], ListenKeyExpired))
        assert events[-1].listen_key == key
    finally:
        await streams.close_connection()


async def test_book_ticker_depth_and_mark_price_streams(
    sim: SimProcess, client: DerivativesTradingUsdsFutures
) -> None:
    streams = await open_streams(client)
    try:
        tickers: list[Any] = []
        books: list[Any] = []
        diffs: list[Any] = []
        marks: list[Any] = []
        for subscribe, seen in (
            (streams.individual_symbol_book_ticker_streams(symbol="btcusdt"), tickers),
            (streams.partial_book_depth_streams(symbol="btcusdt", levels=5), books),
            (streams.diff_book_depth_streams(symbol="btcusdt", update_speed="100ms"), diffs),
            (streams.mark_price_stream(symbol="btcusdt", update_speed="1s"), marks),
        ):
            (await subscribe).on("message", seen.append)
        await until(lambda: bool(tickers and books))
        assert (tickers[0].b, tickers[0].a, tickers[0].s) == ("59999.9", "60000.1", BTC)
        assert books[0].b[0][0] == "59999.9" and len(books[0].a) == 5
        snapshot: Any = (
            await asyncio.to_thread(client.rest_api.order_book, symbol=BTC, limit=1000)
        ).data()
        await sim.control("mid", {"symbol": BTC, "price": "60050"})
        await until(
            lambda: bool(diffs) and tickers[-1].b == "60049.9" and books[-1].b[0][0] == "60049.9"
        )
        assert (tickers[-1].a, tickers[-1].e) == ("60050.1", "bookTicker")
        first = diffs[0]
        assert (first.pu, first.U) == (snapshot.last_update_id, snapshot.last_update_id + 1)
        assert first.e == "depthUpdate" and first.u >= first.U
        assert ["60049.9", books[-1].b[0][1]] in first.b
        await until(lambda: bool(marks) and marks[-1].p == "60050", timeout_s=3)
        assert (marks[-1].e, marks[-1].s, marks[-1].i) == ("markPriceUpdate", BTC, "60050")
    finally:
        await streams.close_connection()


async def test_dropped_private_pushes(
    sim: SimProcess, client: DerivativesTradingUsdsFutures
) -> None:
    rest = client.rest_api
    key = (await asyncio.to_thread(rest.start_user_data_stream)).data().listen_key
    streams = await open_streams(client)
    try:
        events: list[Any] = []
        (await streams.user_data(key)).on("message", lambda e: events.append(e.actual_instance))
        await sim.control("faults", {"dropPrivateNext": 1})
        placed = await asyncio.to_thread(limit, rest, "BUY", 0.001, 59000.0)
        await asyncio.to_thread(rest.cancel_order, symbol=BTC, order_id=placed.order_id)
        await until(lambda: bool(events))
        await asyncio.sleep(0.2)
        assert [(e.o.i, e.o.x) for e in events] == [(placed.order_id, "CANCELED")]  # NEW was lost
    finally:
        await streams.close_connection()
