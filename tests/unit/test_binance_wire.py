"""The Binance USDⓈ-M adapter without a venue: signing, wire mapping, codes, headroom, policy.

The transport tests run `BinanceRest` against an in-process aiohttp server that checks
every signature over the raw query it received; the policy tests script `BinanceVenue`'s
transport.
"""

from __future__ import annotations

import hashlib
import hmac
from collections.abc import AsyncIterator, Callable
from decimal import Decimal
from typing import Any
from urllib.parse import parse_qsl

import pytest
from aiohttp import web
from aiohttp.test_utils import TestServer
from pydantic import SecretStr

from libs.common.domain.enums import Category, OrderType, Side, TimeInForce, VenueOrderStatus
from libs.common.domain.ids import ClientOrderId, VenueOrderId
from libs.common.venue.barrier import SendBarrier, SendRefused
from libs.common.venue.binance import BinanceConfig, BinancePrivateStream, BinanceVenue
from libs.common.venue.binance import errors as codes
from libs.common.venue.binance.answer import Answer, error_of
from libs.common.venue.binance.errors import BinanceRateLimited
from libs.common.venue.binance.limits import ORDERS, WEIGHT, Limits, headroom, usage_of
from libs.common.venue.binance.parse import (
    parse_execution,
    parse_instrument,
    parse_order,
    parse_position,
    parse_position_push,
    parse_ticker,
)
from libs.common.venue.binance.rest import BinanceRest
from libs.common.venue.binance.signer import prepare, query_string, sign
from libs.common.venue.binance.stream import _updates
from libs.common.venue.binance.wire import (
    ALL_OPEN_ORDERS,
    BATCH_ORDERS,
    OPEN_ORDERS,
    ORDER,
    amend_params,
    cancel_list_params,
    place_params,
    quota_group,
)
from libs.common.venue.errors import (
    RATE_LIMIT_CODE,
    AuthenticationFailed,
    ClockSkew,
    HttpRefused,
    InsufficientBalance,
    InvalidOrderRequest,
    IpBanned,
    OrderClosed,
    OrderNotFound,
    Outcome,
    OutcomeUnknown,
    RateLimited,
    VenueRejected,
    VenueUnavailable,
)
from libs.common.venue.models import (
    AmendOrder,
    BatchErrorKind,
    CancelOrder,
    Execution,
    PlaceOrder,
    RateLimitStatus,
    VenueOrder,
)
from libs.common.venue.signer import ServerClock

LINEAR = Category.LINEAR
# Fact sheet §1 (DOCS, re-computed locally).
DOCS_SECRET = "2b5eb11e18796d12d88f13dc27dbbd02c2cc51ff7059765ed9821957d82bb4d9"
DOCS_PAYLOAD = (
    "symbol=BTCUSDT&side=BUY&type=LIMIT&quantity=1&price=9000&timeInForce=GTC"
    "&recvWindow=5000&timestamp=1591702613943"
)
DOCS_SIGNATURE = "3c661234138461fcc7a7d8746c6558c9842d4e10870d2ecbedf7777cad694af9"

BTC_INFO: dict[str, Any] = {
    "symbol": "BTCUSDT",
    "pair": "BTCUSDT",
    "contractType": "PERPETUAL",
    "status": "TRADING",
    "baseAsset": "BTC",
    "quoteAsset": "USDT",
    "marginAsset": "USDT",
    "pricePrecision": 2,
    "quantityPrecision": 3,
    "filters": [
        {
            "filterType": "PRICE_FILTER",
            "minPrice": "556.80",
            "maxPrice": "4529764",
            "tickSize": "0.10",
        },
        {"filterType": "LOT_SIZE", "minQty": "0.001", "maxQty": "1000", "stepSize": "0.001"},
        {"filterType": "MARKET_LOT_SIZE", "minQty": "0.001", "maxQty": "120", "stepSize": "0.001"},
        {"filterType": "MAX_NUM_ORDERS", "limit": 200},
        {"filterType": "MIN_NOTIONAL", "notional": "100"},
        {"filterType": "PERCENT_PRICE", "multiplierUp": "1.0500", "multiplierDown": "0.9500"},
    ],
}


def order_obj(coid: str = "mmx-1", status: str = "NEW", **kw: Any) -> dict[str, Any]:
    """A Binance order object, as `GET /fapi/v1/order` answers."""
    base: dict[str, Any] = {
        "orderId": 4611875134427365377,
        "symbol": "BTCUSDT",
        "status": status,
        "clientOrderId": coid,
        "price": "60000.0",
        "avgPrice": "0.00000",
        "origQty": "0.010",
        "executedQty": "0",
        "cumQuote": "0",
        "timeInForce": "GTC",
        "type": "LIMIT",
        "origType": "LIMIT",
        "reduceOnly": False,
        "side": "BUY",
        "positionSide": "BOTH",
        "time": 1700000000000,
        "updateTime": 1700000000100,
    }
    return {**base, **kw}


def place(coid: str = "mmx-1", **kw: Any) -> PlaceOrder:
    base: dict[str, Any] = {
        "category": LINEAR,
        "symbol": "BTCUSDT",
        "side": Side.BUY,
        "order_type": OrderType.LIMIT,
        "qty": Decimal("0.0109"),
        "price": Decimal("60000.07"),
        "client_order_id": coid,
    }
    return PlaceOrder.model_validate({**base, **kw})


# -- signing ----------------------------------------------------------------------------------


def test_sign_docs_vector() -> None:
    assert sign(DOCS_SECRET, DOCS_PAYLOAD) == DOCS_SIGNATURE


def test_prepare_signs_the_exact_query_it_sends_signature_last() -> None:
    req = prepare(
        "POST",
        "http://h",
        "/fapi/v1/order",
        {
            "symbol": "BTCUSDT",
            "side": "BUY",
            "type": "LIMIT",
            "quantity": "1",
            "price": "9000",
            "timeInForce": "GTC",
        },
        api_key="k",
        secret=DOCS_SECRET,
        timestamp_ms=1591702613943,
        recv_window=5000,
    )
    signed, _, signature = req.query.rpartition("&signature=")
    assert signature == sign(DOCS_SECRET, signed)
    assert signed.endswith("&timestamp=1591702613943&recvWindow=5000")
    assert req.url == f"http://h/fapi/v1/order?{req.query}"
    assert req.headers["X-MBX-APIKEY"] == "k"


def test_prepare_user_stream_call_carries_the_key_but_no_signature() -> None:
    req = prepare("POST", "http://h", "/fapi/v1/listenKey", api_key="k")
    assert req.url == "http://h/fapi/v1/listenKey"
    assert req.headers["X-MBX-APIKEY"] == "k"


def test_query_string_encodes_bools_decimals_and_json_lists() -> None:
    query = query_string(
        {
            "symbol": "BTCUSDT",
            "reduceOnly": True,
            "price": Decimal("6E+4"),
            "origClientOrderIdList": ["a", "b"],
            "orderId": None,
        }
    )
    assert query == (
        "symbol=BTCUSDT&reduceOnly=true&price=60000&origClientOrderIdList=%5B%22a%22%2C%22b%22%5D"
    )


# -- requests ---------------------------------------------------------------------------------


def test_place_params_round_and_spell_binance() -> None:
    rules = parse_instrument(BTC_INFO)
    order = place(time_in_force=TimeInForce.POST_ONLY, reduce_only=True)
    from libs.common.venue.wire import normalize_place

    assert place_params(order, *normalize_place(rules, order)) == {
        "symbol": "BTCUSDT",
        "side": "BUY",
        "type": "LIMIT",
        "quantity": "0.01",
        "price": "60000",
        "timeInForce": "GTX",
        "reduceOnly": "true",
        "newClientOrderId": "mmx-1",
    }


def test_market_params_have_no_price_and_no_time_in_force() -> None:
    order = place(order_type=OrderType.MARKET, price=None, side=Side.SELL)
    assert place_params(order, Decimal("0.01"), None) == {
        "symbol": "BTCUSDT",
        "side": "SELL",
        "type": "MARKET",
        "quantity": "0.01",
        "newClientOrderId": "mmx-1",
    }


def test_amend_and_batch_cancel_params_prefer_the_venue_id() -> None:
    amend = AmendOrder(
        category=LINEAR,
        symbol="BTCUSDT",
        client_order_id=ClientOrderId("mmx-1"),
        venue_order_id=VenueOrderId("42"),
        side=Side.SELL,
        price=Decimal("1"),
    )
    assert amend_params(amend, Side.SELL, Decimal("0.002"), Decimal("61000.5")) == {
        "symbol": "BTCUSDT",
        "orderId": "42",
        "side": "SELL",
        "quantity": "0.002",
        "price": "61000.5",
    }
    by_id = [CancelOrder(category=LINEAR, symbol="BTCUSDT", venue_order_id=VenueOrderId("7"))]
    by_coid = [CancelOrder(category=LINEAR, symbol="BTCUSDT", client_order_id=ClientOrderId("a"))]
    assert cancel_list_params("BTCUSDT", by_id) == {"symbol": "BTCUSDT", "orderIdList": [7]}
    assert cancel_list_params("BTCUSDT", by_coid) == {
        "symbol": "BTCUSDT",
        "origClientOrderIdList": ["a"],
    }


# -- responses --------------------------------------------------------------------------------


def test_exchange_info_symbol_becomes_rules() -> None:
    rules = parse_instrument(BTC_INFO)
    assert rules.status == "Trading"
    assert (rules.tick_size, rules.min_price, rules.max_price) == (
        Decimal("0.10"),
        Decimal("556.80"),
        Decimal("4529764"),
    )
    assert (rules.qty_step, rules.min_qty, rules.max_qty, rules.max_mkt_qty) == (
        Decimal("0.001"),
        Decimal("0.001"),
        Decimal("1000"),
        Decimal("120"),
    )
    assert rules.min_notional == Decimal("100")
    assert (rules.base_coin, rules.quote_coin) == ("BTC", "USDT")


def test_exchange_info_without_a_tick_is_refused() -> None:
    broken = {**BTC_INFO, "filters": [{"filterType": "LOT_SIZE", "stepSize": "0.001"}]}
    with pytest.raises(ValueError, match="tickSize"):
        parse_instrument(broken)


@pytest.mark.parametrize(
    ("raw", "status", "cancel_type"),
    [
        ("NEW", VenueOrderStatus.NEW, ""),
        ("PARTIALLY_FILLED", VenueOrderStatus.PARTIALLY_FILLED, ""),
        ("FILLED", VenueOrderStatus.FILLED, ""),
        ("CANCELED", VenueOrderStatus.CANCELLED, "Canceled"),
        ("EXPIRED", VenueOrderStatus.CANCELLED, "Expired"),
        ("EXPIRED_IN_MATCH", VenueOrderStatus.CANCELLED, "ExpiredInMatch"),
        ("REJECTED", VenueOrderStatus.REJECTED, ""),
    ],
)
def test_order_status_maps_to_ours(raw: str, status: VenueOrderStatus, cancel_type: str) -> None:
    order = parse_order(order_obj(status=raw, executedQty="0.004", avgPrice="59990.5"))
    assert order.status is status
    assert order.cancel_type == cancel_type
    assert order.leaves_qty == (Decimal("0.006") if status.is_open else 0)


def test_order_object_fields() -> None:
    order = parse_order(
        order_obj(timeInForce="GTX", executedQty="0.004", cumQuote="240", avgPrice="60000")
    )
    assert order.venue_order_id == "4611875134427365377"
    assert order.client_order_id == "mmx-1"
    assert (order.side, order.order_type, order.time_in_force) == (
        Side.BUY,
        OrderType.LIMIT,
        TimeInForce.POST_ONLY,
    )
    assert (order.qty, order.price, order.cum_exec_qty) == (
        Decimal("0.010"),
        Decimal("60000.0"),
        Decimal("0.004"),
    )
    assert (order.cum_exec_value, order.avg_price) == (Decimal("240"), Decimal("60000"))
    assert (order.created_ms, order.updated_ms) == (1700000000000, 1700000000100)
    market = parse_order(order_obj(type="MARKET", origType="MARKET", price="0", timeInForce="GTD"))
    assert (market.order_type, market.price, market.time_in_force) == (OrderType.MARKET, None, None)


def test_user_trade_becomes_an_execution_with_its_fee() -> None:
    fill = parse_execution(
        {
            "buyer": False,
            "commission": "-0.07819010",
            "commissionAsset": "USDT",
            "id": 698759,
            "maker": False,
            "orderId": 25851813,
            "price": "7819.01",
            "qty": "0.002",
            "quoteQty": "15.63802",
            "realizedPnl": "-0.91539999",
            "side": "SELL",
            "positionSide": "SHORT",
            "symbol": "BTCUSDT",
            "time": 1569514978020,
        }
    )
    assert fill.exec_id == "BTCUSDT-698759"
    assert (fill.venue_order_id, fill.client_order_id) == ("25851813", None)
    assert (fill.side, fill.price, fill.qty) == (Side.SELL, Decimal("7819.01"), Decimal("0.002"))
    assert (fill.fee, fill.fee_currency, fill.is_maker) == (Decimal("-0.07819010"), "USDT", False)
    assert fill.fee_rate == Decimal("-0.00500000")
    assert (fill.exec_time_ms, fill.exec_type) == (1569514978020, "Trade")


def test_position_risk_one_way_short() -> None:
    position = parse_position(
        {
            "symbol": "ADAUSDT",
            "positionSide": "BOTH",
            "positionAmt": "-30",
            "entryPrice": "0.385",
            "breakEvenPrice": "0.385077",
            "markPrice": "0.41047590",
            "unRealizedProfit": "-0.76427700",
            "liquidationPrice": "0",
            "notional": "-12.31427700",
            "marginAsset": "USDT",
            "updateTime": 1720736417660,
        }
    )
    assert (position.side, position.size, position.position_idx) == (Side.SELL, Decimal(30), 0)
    assert (position.avg_price, position.mark_price) == (Decimal("0.385"), Decimal("0.41047590"))
    assert position.unrealised_pnl == Decimal("-0.76427700")
    assert position.leverage is None and position.updated_ms == 1720736417660
    flat = parse_position({"symbol": "ADAUSDT", "positionAmt": "0", "entryPrice": "0"})
    assert flat.side is None and flat.size == 0


def test_account_update_position_push() -> None:
    p = {"s": "BTCUSDT", "pa": "0.003", "ep": "60000", "cr": "12.5", "up": "1.2", "ps": "BOTH"}
    position = parse_position_push(p, 1700000000000)
    assert (position.side, position.size, position.cum_realised_pnl) == (
        Side.BUY,
        Decimal("0.003"),
        Decimal("12.5"),
    )


def test_ticker_merges_book_and_mark() -> None:
    book = {
        "symbol": "BTCUSDT",
        "bidPrice": "59999.9",
        "bidQty": "1",
        "askPrice": "60000.1",
        "askQty": "2",
        "time": 1700000000000,
    }
    ticker = parse_ticker(book, {"symbol": "BTCUSDT", "markPrice": "60000.05"})
    assert (ticker.bid, ticker.ask, ticker.mark, ticker.last) == (
        Decimal("59999.9"),
        Decimal("60000.1"),
        Decimal("60000.05"),
        None,
    )
    assert ticker.mid == Decimal("60000.0") and ticker.ts_ms == 1700000000000


def trade_push(x: str = "TRADE", status: str = "PARTIALLY_FILLED") -> dict[str, Any]:
    return {
        "e": "ORDER_TRADE_UPDATE",
        "E": 1700000000050,
        "T": 1700000000040,
        "o": {
            "s": "BTCUSDT", "c": "mmx-1", "S": "BUY", "o": "LIMIT", "f": "GTC", "q": "0.010",
            "p": "60000", "ap": "60000", "sp": "0", "x": x, "X": status, "i": 8886774,
            "l": "0.004" if x == "TRADE" else "0", "z": "0.004", "L": "60000", "N": "USDT",
            "n": "0.048", "T": 1700000000040, "t": 1234, "b": "0", "a": "0", "m": True,
            "R": False, "wt": "CONTRACT_PRICE", "ot": "LIMIT", "ps": "BOTH", "rp": "0",
        },
    }  # fmt: skip


def test_order_trade_update_yields_the_fill_then_the_order() -> None:
    fill, order = _updates("ORDER_TRADE_UPDATE", trade_push())
    assert isinstance(fill, Execution) and isinstance(order, VenueOrder)
    assert fill.exec_id == "BTCUSDT-1234" and fill.client_order_id == "mmx-1"
    assert (fill.qty, fill.price, fill.fee, fill.fee_currency, fill.is_maker) == (
        Decimal("0.004"),
        Decimal("60000"),
        Decimal("0.048"),
        "USDT",
        True,
    )
    assert (fill.leaves_qty, fill.exec_time_ms) == (Decimal("0.006"), 1700000000040)
    assert order.status is VenueOrderStatus.PARTIALLY_FILLED
    assert (order.cum_exec_qty, order.leaves_qty) == (Decimal("0.004"), Decimal("0.006"))


def test_order_update_without_a_trade_yields_the_order_only() -> None:
    (order,) = _updates("ORDER_TRADE_UPDATE", trade_push(x="CANCELED", status="CANCELED"))
    assert isinstance(order, VenueOrder) and order.status is VenueOrderStatus.CANCELLED
    assert _updates("MARGIN_CALL", {"e": "MARGIN_CALL"}) == []


# -- codes ------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("code", "outcome"),
    [
        (0, Outcome.OK),
        (-1006, Outcome.AMBIGUOUS),
        (-1007, Outcome.AMBIGUOUS),
        (-4116, Outcome.DUPLICATE),
        (-2011, Outcome.NOT_FOUND),
        (-2013, Outcome.NOT_FOUND),
        (-2010, Outcome.REJECTED),
        (-2019, Outcome.REJECTED),
        (-4164, Outcome.REJECTED),
        (-5022, Outcome.REJECTED),
        (-1111, Outcome.REJECTED),
    ],
)
def test_classify(code: int, outcome: Outcome) -> None:
    assert codes.classify(code) is outcome


@pytest.mark.parametrize(
    ("code", "kind"),
    [
        (-2011, OrderNotFound),
        (-2013, OrderNotFound),
        (-2019, InsufficientBalance),
        (-2021, VenueRejected),
        (-2022, VenueRejected),
        (-4003, VenueRejected),
        (-4014, VenueRejected),
        (-4023, VenueRejected),
        (-5021, VenueRejected),
        (-1121, VenueRejected),
    ],
)
def test_rejection_kinds_keep_code_and_message(code: int, kind: type[VenueRejected]) -> None:
    error = codes.rejection(code, "msg", context="create x")
    assert type(error) is kind and error.code == code and error.venue_message == "msg"
    assert "create x" in str(error) and str(code) in str(error)


@pytest.mark.parametrize(
    ("status", "code", "hook"),
    [
        (200, 0, 0),
        (400, -2019, 2019),
        (400, -2015, -401),
        (401, 0, -401),
        (418, -1003, -403),
        (429, -1003, -429),
        (503, 0, -503),
        (404, 0, -404),
    ],
)
def test_hook_code_speaks_the_routers_vocabulary(status: int, code: int, hook: int) -> None:
    assert codes.hook_code(status, code) == hook


def test_error_of_reads_binance_bodies() -> None:
    assert error_of(400, {"code": -1121, "msg": "Invalid symbol."}) == (-1121, "Invalid symbol.")
    assert error_of(200, {"code": 200, "msg": "done"}) == (0, "")
    assert error_of(200, order_obj()) == (0, "")
    assert Answer.item({"code": -2011, "msg": "Unknown order sent."}).code == -2011
    assert Answer.item(order_obj()).ok


# -- headroom ---------------------------------------------------------------------------------


def test_headers_become_the_tightest_window() -> None:
    headers = {
        "X-MBX-USED-WEIGHT-1M": "600",
        "X-MBX-ORDER-COUNT-10S": "290",
        "X-MBX-ORDER-COUNT-1M": "300",
        "Content-Type": "application/json",
    }
    used = usage_of(headers)
    assert used == {(WEIGHT, 60_000): 600, (ORDERS, 10_000): 290, (ORDERS, 60_000): 300}
    status = headroom(used, Limits.defaults(), now_ms=1_700_000_003_000)
    assert status == RateLimitStatus(limit=300, remaining=10, reset_ms=1_700_000_010_000)
    weight_only = headroom({(WEIGHT, 60_000): 2400}, Limits.defaults(), now_ms=1_700_000_003_000)
    assert weight_only == RateLimitStatus(limit=2400, remaining=0, reset_ms=1_700_000_040_000)
    assert headroom({}, Limits.defaults(), now_ms=0) is None


def test_exchange_info_rate_limits_replace_the_defaults() -> None:
    weight = {"rateLimitType": "REQUEST_WEIGHT", "interval": "MINUTE", "intervalNum": 1}
    orders = {"rateLimitType": "ORDERS", "interval": "SECOND", "intervalNum": 10}
    limits = Limits.defaults().updated([{**weight, "limit": 6000}, {**orders, "limit": 50}])
    assert limits.by_window[(WEIGHT, 60_000)] == 6000
    assert limits.by_window[(ORDERS, 10_000)] == 50
    assert limits.by_window[(ORDERS, 60_000)] == 1200


# -- config -----------------------------------------------------------------------------------


def test_config_defaults_to_the_sim_with_its_dev_pair(monkeypatch: pytest.MonkeyPatch) -> None:
    for name in ("MMX_BINANCE_VENUE", "MMX_BINANCE_URL", "MMX_BINANCE_API_KEY"):
        monkeypatch.delenv(name, raising=False)
    config = BinanceConfig()
    assert (config.rest_base, config.ws_base) == ("http://127.0.0.1:8091", "ws://127.0.0.1:8091")
    assert (config.key, config.secret) == ("mmx-dev-key", "mmx-dev-secret")
    assert config.user_stream_url("lk") == "ws://127.0.0.1:8091/ws/lk"


def test_config_reads_its_prefix_and_never_shows_the_secret(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv("MMX_BINANCE_VENUE", "binance-mainnet")
    monkeypatch.setenv("MMX_BINANCE_API_SECRET", "s3cr3t")
    config = BinanceConfig()
    assert config.rest_base == "https://fapi.binance.com"
    assert config.key is None and config.secret == "s3cr3t"
    assert "s3cr3t" not in repr(config)
    testnet = BinanceConfig(venue="binance-testnet", url="https://x.test/")
    assert (testnet.rest_base, testnet.ws_base) == ("https://x.test", "wss://x.test")


# -- the transport over real HTTP ---------------------------------------------------------------

KEY, SECRET = "k-test", "s-test"
Handler = Callable[[web.Request, dict[str, str]], web.Response]


def _verified(request: web.Request) -> dict[str, str]:
    """The request's parameters, after checking its signature over the raw query."""
    raw = request.rel_url.raw_query_string
    signed, _, signature = raw.rpartition("&signature=")
    expected = hmac.new(SECRET.encode(), signed.encode(), hashlib.sha256).hexdigest()
    assert signature == expected, "signature over the raw query"
    assert request.headers["X-MBX-APIKEY"] == KEY
    return dict(parse_qsl(raw))


class Sim:
    """A scripted Binance: `routes[(method, path)]` answer in turn (the last one repeats)."""

    def __init__(self) -> None:
        self.routes: dict[tuple[str, str], list[Handler]] = {}
        self.seen: list[tuple[str, str, dict[str, str]]] = []
        self.server_time = 1_700_000_000_000

    async def handle(self, request: web.Request) -> web.Response:
        key = (request.method, request.path)
        if request.path == "/fapi/v1/time":
            return web.json_response({"serverTime": self.server_time})
        params = _verified(request)
        self.seen.append((request.method, request.path, params))
        handlers = self.routes[key]
        handler = handlers.pop(0) if len(handlers) > 1 else handlers[0]
        return handler(request, params)


def reply(body: Any, status: int = 200, headers: dict[str, str] | None = None) -> Handler:
    return lambda _r, _p: web.json_response(body, status=status, headers=headers)


@pytest.fixture
async def sim_rest() -> AsyncIterator[tuple[Sim, BinanceRest]]:
    sim = Sim()
    app = web.Application()
    app.router.add_route("*", "/{tail:.*}", sim.handle)
    server = TestServer(app, host="127.0.0.1")
    await server.start_server()
    config = BinanceConfig(
        venue="binance-testnet",
        url=str(server.make_url("")),
        api_key=KEY,
        api_secret=SecretStr(SECRET),
        retry_backoff_s=0.001,
        max_rate_limit_wait_s=0.0,
    )
    rest = BinanceRest(config)
    await rest.start()
    try:
        yield sim, rest
    finally:
        await rest.close()
        await server.close()


async def test_rest_signs_and_notes_headroom(sim_rest: tuple[Sim, BinanceRest]) -> None:
    sim, rest = sim_rest
    headers = {"X-MBX-USED-WEIGHT-1M": "12", "X-MBX-ORDER-COUNT-10S": "299"}
    sim.routes[("POST", ORDER)] = [reply(order_obj(), headers=headers)]
    calls: list[tuple[str, int]] = []
    rest.on_request = lambda path, code, _s: calls.append((path, code))
    answer = await rest.send("POST", ORDER, {"symbol": "BTCUSDT", "newClientOrderId": "mmx-1"})
    assert answer.ok and answer.obj["clientOrderId"] == "mmx-1"
    assert sim.seen[-1][2]["recvWindow"] == "5000"
    status = rest.rate_limits[ORDER]
    assert (status.limit, status.remaining) == (300, 1)
    assert calls == [(ORDER, 0)]


async def test_rest_resyncs_the_clock_once_after_1021(sim_rest: tuple[Sim, BinanceRest]) -> None:
    sim, rest = sim_rest
    late = reply({"code": -1021, "msg": "Timestamp outside of the recvWindow."}, 400)
    sim.routes[("GET", ORDER)] = [late, reply(order_obj())]
    assert (await rest.get(ORDER, {"symbol": "BTCUSDT"})).ok
    sim.routes[("GET", ORDER)] = [late]
    with pytest.raises(ClockSkew, match="-1021"):
        await rest.get(ORDER, {"symbol": "BTCUSDT"})


@pytest.mark.parametrize(
    ("status", "body", "error"),
    [
        (401, {"code": -2015, "msg": "Invalid API-key, IP, or permissions for action."},
         AuthenticationFailed),
        (400, {"code": -1022, "msg": "Signature for this request is not valid."},
         AuthenticationFailed),
        (429, {"code": -1003, "msg": "Too many requests."}, RateLimited),
        (418, {"code": -1003, "msg": "Way too many requests; IP banned."}, IpBanned),
        (404, None, HttpRefused),
    ],
)  # fmt: skip
async def test_rest_refusals(
    sim_rest: tuple[Sim, BinanceRest], status: int, body: Any, error: type[Exception]
) -> None:
    sim, rest = sim_rest
    handler = reply(body, status) if body else (lambda _r, _p: web.Response(status=status))
    sim.routes[("POST", ORDER)] = [handler]
    with pytest.raises(error):
        await rest.send("POST", ORDER, {"symbol": "BTCUSDT"})
    if status == 418:
        assert rest.banned_for_s > 0
        with pytest.raises(IpBanned):  # refused without calling
            await rest.get(ORDER)
        assert len(sim.seen) == 1
    if status == 429:
        assert rest.rate_limits[ORDER].remaining == 0


@pytest.mark.parametrize(
    ("body", "sent"),
    [
        ({"code": -1000, "msg": "Unknown error, please check your request or try again later."},
         True),
        ({"code": -1001, "msg": "Internal error; unable to process your request."}, False),
        ({"code": -1007, "msg": "Timeout waiting for response; execution status unknown."}, True),
        ({"timestamp": 1, "path": "/fapi/v1/order", "msg": "Service Unavailable."}, False),
        ({"timestamp": 1, "path": "/fapi/v1/order", "msg": "Unknown error, please check."}, True),
        ({"timestamp": 1, "path": "/fapi/v1/order", "msg": "Bad Gateway"}, True),
    ],
)  # fmt: skip
async def test_rest_5xx_says_whether_the_venue_may_have_acted(
    sim_rest: tuple[Sim, BinanceRest], body: dict[str, Any], sent: bool
) -> None:
    sim, rest = sim_rest
    sim.routes[("POST", ORDER)] = [reply(body, 503)]
    with pytest.raises(VenueUnavailable) as caught:
        await rest.send("POST", ORDER, {"symbol": "BTCUSDT"})
    assert caught.value.sent is sent
    assert len(sim.seen) == 1  # a mutating call is never repeated here


async def test_rest_reads_retry_5xx(sim_rest: tuple[Sim, BinanceRest]) -> None:
    sim, rest = sim_rest
    sim.routes[("GET", ORDER)] = [reply({"code": -1001, "msg": "Internal error"}, 503),
                                  reply(order_obj())]  # fmt: skip
    assert (await rest.get(ORDER)).ok and len(sim.seen) == 2


async def test_rest_barrier_refuses_creates_but_not_cancels(
    sim_rest: tuple[Sim, BinanceRest],
) -> None:
    sim, rest = sim_rest
    rest.barrier = SendBarrier(recv_window_ms=5000)  # closed
    sim.routes[("DELETE", ORDER)] = [reply(order_obj(status="CANCELED"))]
    with pytest.raises(SendRefused, match="POST /fapi/v1/order"):
        await rest.send("POST", ORDER, {"symbol": "BTCUSDT"})
    with pytest.raises(SendRefused):
        await rest.send("POST", BATCH_ORDERS, {"batchOrders": []})
    assert (await rest.send("DELETE", ORDER, {"symbol": "BTCUSDT"})).ok
    assert [m for m, _, _ in sim.seen] == ["DELETE"]


# -- the outcome policy, over a scripted transport ------------------------------------------------

Step = Answer | Exception


class FakeRest:
    """Answers mutating calls from `script` and order queries from `orders` (by client id)."""

    def __init__(self) -> None:
        self.clock = ServerClock()
        self.script: list[Step] = []
        self.sent: list[tuple[str, str, dict[str, Any]]] = []
        self.orders: dict[str, dict[str, Any]] = {}
        self.lookups = 0

    async def send(
        self, method: str, path: str, params: Any = None, *, security: str = "signed"
    ) -> Answer:
        self.sent.append((method, path, dict(params or {})))
        step = self.script.pop(0)
        if isinstance(step, Exception):
            raise step
        return step

    async def get(self, path: str, params: Any = None, *, security: str = "signed") -> Answer:
        assert path == ORDER, path
        self.lookups += 1
        params = dict(params or {})
        for d in self.orders.values():
            if params.get("origClientOrderId") in (None, d["clientOrderId"]) and params.get(
                "orderId"
            ) in (None, str(d["orderId"])):
                return Answer(200, d)
        return Answer(400, {"code": -2013, "msg": "Order does not exist."}, -2013, "x")


def unknown() -> Answer:
    return Answer.unknown("TimeoutError")


def rejected(code: int, msg: str = "refused") -> Answer:
    return Answer(400, {"code": code, "msg": msg}, code, msg)


@pytest.fixture
def venue() -> tuple[BinanceVenue, FakeRest]:
    v = BinanceVenue(BinanceConfig(recv_window=1, resend_guard_ms=0, sync_clock_on_start=False))
    fake = FakeRest()
    v.rest = fake  # type: ignore[assignment]
    v._rules["BTCUSDT"] = parse_instrument(BTC_INFO)
    return v, fake


async def test_place_ack(venue: tuple[BinanceVenue, FakeRest]) -> None:
    v, fake = venue
    fake.script = [Answer(200, order_obj())]
    ack = await v.place(place())
    assert (ack.client_order_id, ack.venue_order_id, ack.recovered) == (
        "mmx-1",
        "4611875134427365377",
        False,
    )
    assert fake.sent[0][2]["newClientOrderId"] == "mmx-1"


async def test_duplicate_client_id_is_a_recovered_ack(venue: tuple[BinanceVenue, FakeRest]) -> None:
    v, fake = venue
    fake.orders["mmx-1"] = order_obj()
    fake.script = [rejected(-4116, "clientOrderId is duplicated")]
    ack = await v.place(place())
    assert ack.recovered and ack.order is not None and ack.order.status is VenueOrderStatus.NEW
    assert len(fake.sent) == 1  # never placed twice


async def test_ambiguous_create_found_is_recovered_never_resent(
    venue: tuple[BinanceVenue, FakeRest],
) -> None:
    v, fake = venue
    fake.orders["mmx-1"] = order_obj()
    fake.script = [unknown()]
    ack = await v.place(place())
    assert ack.recovered and ack.attempts == 1 and len(fake.sent) == 1


async def test_ambiguous_create_absent_is_resent_once_with_the_same_id(
    venue: tuple[BinanceVenue, FakeRest],
) -> None:
    v, fake = venue
    fake.script = [unknown(), Answer(200, order_obj())]
    ack = await v.place(place())
    assert not ack.recovered and ack.attempts == 2
    assert [p["newClientOrderId"] for _, _, p in fake.sent] == ["mmx-1", "mmx-1"]
    assert fake.lookups == 2  # once at once, once after the first request's recvWindow


async def test_twice_ambiguous_create_is_outcome_unknown(
    venue: tuple[BinanceVenue, FakeRest],
) -> None:
    v, fake = venue
    fake.script = [unknown(), unknown()]
    with pytest.raises(OutcomeUnknown, match="mmx-1"):
        await v.place(place())


async def test_business_reject_and_failed_create(venue: tuple[BinanceVenue, FakeRest]) -> None:
    v, fake = venue
    fake.script = [rejected(-5022, "Post Only order will be rejected.")]
    with pytest.raises(VenueRejected) as caught:
        await v.place(place(time_in_force=TimeInForce.POST_ONLY))
    assert caught.value.code == -5022
    fake.script = [rejected(-1008, "Server is currently overloaded")]
    with pytest.raises(VenueUnavailable) as unavailable:
        await v.place(place())
    assert unavailable.value.sent is False


async def test_invalid_order_is_never_sent(venue: tuple[BinanceVenue, FakeRest]) -> None:
    v, fake = venue
    with pytest.raises(InvalidOrderRequest):
        await v.place(place(qty=Decimal("0.0001")))
    with pytest.raises(InvalidOrderRequest, match="linear"):
        await v.place(place(category=Category.SPOT))
    assert fake.sent == []


async def test_cancel_of_a_final_order_returns_its_snapshot(
    venue: tuple[BinanceVenue, FakeRest],
) -> None:
    v, fake = venue
    fake.orders["mmx-1"] = order_obj(status="FILLED", executedQty="0.010")
    fake.script = [rejected(-2011, "Unknown order sent.")]
    ack = await v.cancel(CancelOrder(category=LINEAR, symbol="BTCUSDT", client_order_id="mmx-1"))
    assert ack.recovered and ack.order is not None
    assert ack.order.status is VenueOrderStatus.FILLED


async def test_cancel_of_an_unknown_order_raises_not_found(
    venue: tuple[BinanceVenue, FakeRest],
) -> None:
    v, fake = venue
    fake.script = [rejected(-2011, "Unknown order sent.")]
    with pytest.raises(OrderNotFound) as caught:
        await v.cancel(CancelOrder(category=LINEAR, symbol="BTCUSDT", client_order_id="nope"))
    assert caught.value.code == -2011 and not isinstance(caught.value, OrderClosed)


async def test_amend_fetches_what_it_keeps(venue: tuple[BinanceVenue, FakeRest]) -> None:
    v, fake = venue
    fake.orders["mmx-1"] = order_obj(side="SELL")
    fake.script = [Answer(200, order_obj(price="61000.0"))]
    amend = AmendOrder(
        category=LINEAR, symbol="BTCUSDT", client_order_id="mmx-1", side=Side.SELL,
        price=Decimal("61000.04"),
    )  # fmt: skip
    ack = await v.amend(amend)
    assert not ack.recovered
    method, path, params = fake.sent[0]
    assert (method, path) == ("PUT", ORDER)
    assert params == {
        "symbol": "BTCUSDT",
        "origClientOrderId": "mmx-1",
        "side": "SELL",
        "quantity": "0.01",
        "price": "61000.1",
    }


async def test_amend_of_a_filled_order_is_order_closed(
    venue: tuple[BinanceVenue, FakeRest],
) -> None:
    v, fake = venue
    fake.orders["mmx-1"] = order_obj(status="FILLED")
    amend = AmendOrder(
        category=LINEAR, symbol="BTCUSDT", client_order_id="mmx-1", side=Side.BUY,
        price=Decimal("59000"),
    )  # fmt: skip
    with pytest.raises(OrderClosed):
        await v.amend(amend)
    assert fake.sent == []


async def test_get_order_unknown_is_none(venue: tuple[BinanceVenue, FakeRest]) -> None:
    v, _ = venue
    assert await v.get_order(LINEAR, "BTCUSDT", "nope") is None


async def test_batch_place_goes_in_chunks_of_five_and_keeps_input_order(
    venue: tuple[BinanceVenue, FakeRest],
) -> None:
    v, fake = venue
    orders = [place(f"b-{i}") for i in range(7)]
    first = [order_obj(f"b-{i}", orderId=i) for i in range(5)]
    first[2] = {"code": -2019, "msg": "Margin is insufficient."}
    fake.script = [
        Answer(200, first),
        Answer(200, [order_obj(f"b-{i}", orderId=i) for i in (5, 6)]),
    ]
    results = await v.place_batch(orders)
    assert [len(p["batchOrders"]) for _, _, p in fake.sent] == [5, 2]
    assert [r.client_order_id for r in results] == [f"b-{i}" for i in range(7)]
    assert [r.ok for r in results] == [True, True, False, True, True, True, True]
    assert (results[2].error_kind, results[2].code) == (BatchErrorKind.REJECTED, -2019)
    assert results[6].venue_order_id == "6"


async def test_spot_reads_are_empty(venue: tuple[BinanceVenue, FakeRest]) -> None:
    v, fake = venue
    assert await v.instruments(Category.SPOT) == {}
    assert await v.open_orders(Category.SPOT) == []
    assert await v.get_order(Category.SPOT, "BTCUSDT", "x") is None
    assert fake.lookups == 0


def test_private_stream_takes_the_routers_arguments() -> None:
    v = BinanceVenue(BinanceConfig())
    stream = BinancePrivateStream(v, categories=(LINEAR,), topics=("order",), since_ms=5)
    assert stream.exec_cursor_ms == 5 and stream.venue is v


def test_use_credentials_swaps_the_pair_in_place() -> None:
    v = BinanceVenue(BinanceConfig(api_key="old", api_secret=SecretStr("old-s")))

    class Pair:
        api_key = "new"
        api_secret = SecretStr("new-s")

    v.use_credentials(Pair())
    assert v.config.key == "new" and v.rest.config.secret == "new-s"


async def test_refused_resend_of_an_absent_create_is_not_sent(
    venue: tuple[BinanceVenue, FakeRest],
) -> None:
    v, fake = venue
    fake.script = [unknown(), SendRefused("POST /fapi/v1/order")]
    with pytest.raises(SendRefused):
        await v.place(place())
    fake.script = [unknown(), VenueUnavailable(ORDER, "reset by peer")]
    with pytest.raises(OutcomeUnknown, match=r"attempt 2.*not found"):
        await v.place(place())


async def test_history_pages_back_through_a_window_of_most_recent_rows(
    venue: tuple[BinanceVenue, FakeRest], monkeypatch: pytest.MonkeyPatch
) -> None:
    v, fake = venue
    monkeypatch.setattr("libs.common.venue.binance.queries.PAGE", 3)
    trades = [
        {"id": i, "orderId": 1, "symbol": "BTCUSDT", "side": "BUY", "price": "1", "qty": "1",
         "commission": "0", "commissionAsset": "USDT", "maker": True, "time": 1000 + i // 2}
        for i in range(8)
    ]  # fmt: skip
    asked: list[tuple[int, int]] = []

    async def get(path: str, params: Any = None, *, security: str = "signed") -> Answer:
        lo, hi, limit = params["startTime"], params["endTime"], params["limit"]
        asked.append((lo, hi))
        inside = [t for t in trades if lo <= t["time"] <= hi]
        return Answer(200, inside[-limit:])  # Binance: the most recent `limit` of the window

    fake.get = get  # type: ignore[method-assign]
    fills = await v.executions_of(["BTCUSDT"], 1000, end_ms=2000)
    assert [f.exec_id for f in fills] == [f"BTCUSDT-{i}" for i in range(8)]
    assert asked[0] == (1000, 2000) and len(asked) >= 3


def test_quota_groups_for_the_router() -> None:
    assert [quota_group(p) for p in (ORDER, BATCH_ORDERS, ALL_OPEN_ORDERS, OPEN_ORDERS)] == [
        "trade",
        "batch",
        "cancel_all",
        "query",
    ]


async def test_rate_limited_batch_is_not_sent_with_the_routers_code(
    venue: tuple[BinanceVenue, FakeRest],
) -> None:
    v, fake = venue
    fake.script = [BinanceRateLimited(BATCH_ORDERS, None, 1.0, code=-1015)]
    results = await v.place_batch([place("r-1"), place("r-2")])
    assert [(r.error_kind, r.code) for r in results] == [
        (BatchErrorKind.NOT_SENT, RATE_LIMIT_CODE)
    ] * 2
    assert "-1015" in results[0].message
