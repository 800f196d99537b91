"""The unmodified official `pybit` against the simulator, for every endpoint a client calls at
start or in its trading loop, and the private topics: Bybit's envelope and field names
(`bybit_fields`), the data the engine has, and Bybit's codes.

HTTP: pybit's public `endpoint` attribute is set to the simulator (as in
`test_pybit_conformance`). WebSocket: pybit builds its URL from the module constant
`pybit.unified_trading.PRIVATE_WSS`, which is pointed at the simulator (`ws://`, no TLS);
nothing of pybit's behaviour is patched. One simulator process serves the whole session.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable, Iterator
from typing import Any

import pybit.unified_trading
import pytest
from pybit.exceptions import InvalidRequestError
from pybit.unified_trading import HTTP, WebSocket

from tests.integration import bybit_fields as fields
from tests.integration.conftest import TEST_LIMITS
from tests.simulator import SimProcess

LINEAR = {"category": "linear", "symbol": "BTCUSDT"}


@pytest.fixture
def sim(venue_sim_process: SimProcess) -> SimProcess:
    venue_sim_process.control_sync("reset", {"marketFrozen": True})
    venue_sim_process.control_sync("limits", TEST_LIMITS)
    return venue_sim_process


@pytest.fixture
def http(sim: SimProcess) -> Iterator[HTTP]:
    session = HTTP(testnet=False, api_key=sim.api_key, api_secret=sim.api_secret, retry_delay=0)
    session.endpoint = sim.base_url
    yield session
    session.client.close()


def result(response: dict[str, Any]) -> Any:
    """The result of a successful call, after checking Bybit's envelope."""
    assert set(response) == fields.ENVELOPE
    assert response["retCode"] == 0
    return response["result"]


def has(item: dict[str, Any], expected: frozenset[str]) -> bool:
    """Every field Bybit documents for the item is there (else the missing ones are shown)."""
    missing = expected - set(item)
    assert not missing, f"missing Bybit fields: {sorted(missing)}"
    return True


def code_of(call: Callable[[], Any]) -> int:
    with pytest.raises(InvalidRequestError) as info:
        call()
    return int(info.value.status_code)


def test_start_up_calls_answer_with_bybits_fields(http: HTTP) -> None:
    assert int(result(http.get_server_time())["timeSecond"]) > 1_700_000_000
    for category, expected in (
        ("linear", fields.INSTRUMENT_LINEAR),
        ("spot", fields.INSTRUMENT_SPOT),
    ):
        listed = result(http.get_instruments_info(category=category))
        assert [i["symbol"] for i in listed["list"]] == ["BTCUSDT", "ETHUSDT", "SOLUSDT"]
        assert all(has(item, expected) for item in listed["list"])
    for category in ("inverse", "option"):
        empty = {"category": category, "list": [], "nextPageCursor": ""}
        assert result(http.get_instruments_info(category=category)) == empty
        assert result(http.get_tickers(category=category)) == {"category": category, "list": []}
    assert code_of(lambda: http.get_instruments_info(category="futures")) == 10001
    assert code_of(lambda: http.get_tickers(category="inverse", symbol="BTCUSD")) == 10001
    [ticker] = result(http.get_tickers(**LINEAR))["list"]
    assert has(ticker, fields.TICKER_LINEAR)
    assert all(
        has(t, fields.TICKER_SPOT) for t in result(http.get_tickers(category="spot"))["list"]
    )
    book = result(http.get_orderbook(**LINEAR, limit=5))
    assert (book["s"], len(book["b"]), len(book["a"])) == ("BTCUSDT", 5, 5)
    assert (book["b"][0][0], book["a"][0][0]) == ("59999.9", "60000.1")
    assert has(result(http.get_account_info()), fields.ACCOUNT_INFO)
    [fee] = result(http.get_fee_rates(**LINEAR))["list"]
    assert (fee["takerFeeRate"], fee["makerFeeRate"]) == ("0.00055", "0.0002")
    assert has(result(http.get_api_key_information()), fields.API_KEY)
    wallet = result(http.get_wallet_balance(accountType="UNIFIED"))["list"][0]
    assert has(wallet, fields.WALLET) and has(wallet["coin"][0], fields.WALLET_COIN)


def test_coin_info_lists_the_coins_the_simulator_knows_with_their_chains(http: HTTP) -> None:
    rows = result(http.get_coin_info())["rows"]
    assert [r["coin"] for r in rows] == ["BTC", "ETH", "SOL", "USDT"]
    assert all(has(r, fields.COIN) for r in rows)
    assert all(has(c, fields.CHAIN) for r in rows for c in r["chains"])
    [usdt] = result(http.get_coin_info(coin="USDT"))["rows"]
    erc20 = next(c for c in usdt["chains"] if c["chain"] == "ETH")
    assert erc20["contractAddress"] == "0xdac17f958d2ee523a2206206994597c13d831ec7"
    assert result(http.get_coin_info(coin="NOPE")) == {"rows": []}


def test_kline_is_built_from_the_trades_printed_newest_first(sim: SimProcess, http: HTTP) -> None:
    prints = [("60010", "0.2"), ("60050.5", "0.1"), ("59990", "0.3")]
    for price, qty in prints:
        sim.control_sync("trade", {"symbol": "BTCUSDT", "price": price, "qty": qty})
    klines = result(http.get_kline(**LINEAR, interval="1"))
    assert (klines["category"], klines["symbol"]) == ("linear", "BTCUSDT")
    rows = klines["list"]
    assert all(len(r) == 7 and all(isinstance(v, str) for v in r) for r in rows)
    starts = [int(r[0]) for r in rows]
    assert starts == sorted(starts, reverse=True) and all(s % 60_000 == 0 for s in starts)
    assert rows[0][4] == "59990"  # the newest candle closes at the last print
    assert sum(float(r[5]) for r in rows) == pytest.approx(0.6)
    assert max(float(r[2]) for r in rows) == 60050.5 and min(float(r[3]) for r in rows) == 59990
    days = result(http.get_kline(category="linear", symbol="BTCUSDT", interval="D"))["list"]
    assert days[-1][1:5] == ["60010", "60050.5", "59990", "59990"]  # one, unless midnight passed
    assert sum(float(d[5]) for d in days) == pytest.approx(0.6)
    assert len(result(http.get_kline(**LINEAR, interval="1", limit=1))["list"]) == 1
    assert code_of(lambda: http.get_kline(**LINEAR, interval="7")) == 10001


def test_mark_and_index_klines_follow_the_mid(sim: SimProcess, http: HTTP) -> None:
    sim.control_sync("mid", {"symbol": "BTCUSDT", "price": "60100"})
    for get in (http.get_mark_price_kline, http.get_index_price_kline):
        rows = result(get(**LINEAR, interval="5"))["list"]
        assert len(rows[0]) == 5 and rows[0][4] == "60100"


def test_recent_trades_are_the_prints_newest_first(sim: SimProcess, http: HTTP) -> None:
    for price in ("60001", "60002", "60003"):
        sim.control_sync("trade", {"symbol": "BTCUSDT", "price": price, "qty": "0.01"})
    listed = result(http.get_public_trade_history(**LINEAR, limit=2))
    assert listed["category"] == "linear"
    assert [t["price"] for t in listed["list"]] == ["60003", "60002"]
    assert all(set(t) == fields.RECENT_TRADE for t in listed["list"])
    assert result(http.get_public_trade_history(category="option")) == {
        "category": "option",
        "list": [],
    }
    spot = {"category": "spot", "symbol": "BTCUSDT"}
    assert code_of(lambda: http.get_public_trade_history(**spot, limit=61)) == 10001


def test_leverage_is_set_per_symbol_and_shows_in_the_position(http: HTTP) -> None:
    assert result(http.set_leverage(**LINEAR, buyLeverage="20", sellLeverage="20")) == {}
    [position] = result(http.get_positions(**LINEAR))["list"]
    assert position["leverage"] == "20"
    again = code_of(lambda: http.set_leverage(**LINEAR, buyLeverage="20", sellLeverage="20"))
    assert again == 110043
    assert (
        code_of(lambda: http.set_leverage(**LINEAR, buyLeverage="20", sellLeverage="10")) == 10001
    )


def test_switch_mode_is_one_way_only(http: HTTP) -> None:
    assert code_of(lambda: http.switch_position_mode(**LINEAR, mode=0)) == 110025
    assert (
        code_of(lambda: http.switch_position_mode(category="linear", coin="USDT", mode=3)) == 110029
    )


def test_the_trading_loop_queries_answer_with_bybits_fields(http: HTTP) -> None:
    http.place_order(**LINEAR, side="Buy", orderType="Market", qty="0.01", orderLinkId="loop-1")
    http.place_order(**LINEAR, side="Buy", orderType="Limit", qty="0.01", price="59000")
    [resting] = result(http.get_open_orders(**LINEAR))["list"]
    assert has(resting, fields.ORDER) and resting["orderStatus"] == "New"
    history = result(http.get_order_history(category="linear"))["list"]
    assert [o["orderStatus"] for o in history] == ["New", "Filled"]
    [fill] = result(http.get_executions(**LINEAR))["list"]
    assert has(fill, fields.EXECUTION) and fill["orderLinkId"] == "loop-1"
    [position] = result(http.get_positions(**LINEAR))["list"]
    assert has(position, fields.POSITION) and (position["side"], position["size"]) == (
        "Buy",
        "0.010",
    )
    assert float(position["breakEvenPrice"]) > float(position["avgPrice"])
    for category in ("inverse", "option"):  # listed nothing: empty pages, not errors
        assert result(http.get_positions(category=category))["list"] == []
        assert result(http.get_open_orders(category=category))["list"] == []


class Pushes:
    """What pybit's WebSocket hands to the callbacks, per topic, plus pybit's own log of
    the acks it accepted."""

    def __init__(self) -> None:
        self.by_topic: dict[str, list[dict[str, Any]]] = {}
        self.log: list[str] = []

    def callback(self, message: dict[str, Any]) -> None:
        self.by_topic.setdefault(message["topic"], []).extend(message["data"])

    def wait(self, done: Callable[[], bool], what: str, timeout_s: float = 15.0) -> None:
        deadline = time.monotonic() + timeout_s
        while not done():
            assert time.monotonic() < deadline, f"timed out waiting for {what}: {self.log}"
            time.sleep(0.02)


@pytest.fixture
def pushes(sim: SimProcess, monkeypatch: pytest.MonkeyPatch) -> Iterator[tuple[WebSocket, Pushes]]:
    monkeypatch.setattr(pybit.unified_trading, "PRIVATE_WSS", sim.ws_private_url)
    seen = Pushes()
    handler = logging.Handler(logging.DEBUG)
    handler.emit = lambda record: seen.log.append(record.getMessage())  # type: ignore[method-assign]
    pybit_log = logging.getLogger("pybit._websocket_stream")
    pybit_log.addHandler(handler)
    previous_level = pybit_log.level
    pybit_log.setLevel(logging.DEBUG)
    ws = WebSocket(
        testnet=False,
        channel_type="private",
        api_key=sim.api_key,
        api_secret=sim.api_secret,
        private_auth_expire=10,  # pybit's 1 s expiry can lapse on a loaded machine
    )
    try:
        yield ws, seen
    finally:
        ws.exit()
        pybit_log.removeHandler(handler)
        pybit_log.setLevel(previous_level)


def test_private_topics_reach_pybits_callbacks_with_bybits_fields(
    http: HTTP, pushes: tuple[WebSocket, Pushes]
) -> None:
    ws, seen = pushes
    for stream in (ws.order_stream, ws.execution_stream, ws.position_stream, ws.wallet_stream):
        stream(seen.callback)
    seen.wait(lambda: sum("successful" in m and "Subscription" in m for m in seen.log) == 4, "acks")
    assert ws.auth is True

    http.place_order(**LINEAR, side="Buy", orderType="Market", qty="0.01", orderLinkId="ws-1")
    seen.wait(lambda: {"order", "execution", "position", "wallet"} <= set(seen.by_topic), "pushes")
    order = seen.by_topic["order"][-1]
    assert has(order, fields.ORDER_WS) and (order["orderLinkId"], order["orderStatus"]) == (
        "ws-1",
        "Filled",
    )
    assert has(seen.by_topic["execution"][-1], fields.EXECUTION_WS)
    position = seen.by_topic["position"][-1]
    assert has(position, fields.POSITION_WS) and position["size"] == "0.010"
    wallet = seen.by_topic["wallet"][-1]
    assert has(wallet, fields.WALLET) and has(wallet["coin"][0], fields.WALLET_COIN)

    http.set_leverage(**LINEAR, buyLeverage="25", sellLeverage="25")
    seen.wait(lambda: seen.by_topic["position"][-1]["leverage"] == "25", "the leverage push")
