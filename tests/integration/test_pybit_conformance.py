"""The unmodified official `pybit` HTTP client against the simulator.

pybit is pointed at the simulator through its public `endpoint` attribute (set in
`_V5HTTPManager.__post_init__` from the testnet/domain flags); nothing of pybit is patched.
pybit is synchronous, so these are plain sync tests on the session's simulator process.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from typing import Any

import pytest
from pybit.exceptions import FailedRequestError, InvalidRequestError
from pybit.unified_trading import HTTP

from tests.integration.conftest import TEST_LIMITS
from tests.simulator import SimProcess

LINEAR = {"category": "linear", "symbol": "BTCUSDT"}


def client(sim: SimProcess, **kw: Any) -> HTTP:
    options: dict[str, Any] = {
        "api_key": sim.api_key,
        "api_secret": sim.api_secret,
        "retry_delay": 0,
    }
    options.update(kw)
    session = HTTP(testnet=False, **options)
    session.endpoint = sim.base_url
    return session


@pytest.fixture
def sim(venue_sim_process: SimProcess) -> Iterator[SimProcess]:
    venue_sim_process.control_sync("reset", {"marketFrozen": True})
    venue_sim_process.control_sync("limits", TEST_LIMITS)
    yield venue_sim_process


@pytest.fixture
def make_client(sim: SimProcess) -> Iterator[Callable[..., HTTP]]:
    """pybit sessions on the simulator, closed after the test."""
    made: list[HTTP] = []

    def make(**kw: Any) -> HTTP:
        made.append(client(sim, **kw))
        return made[-1]

    yield make
    for session in made:
        session.client.close()


@pytest.fixture
def http(make_client: Callable[..., HTTP]) -> HTTP:
    return make_client()


def ret_codes(sim: SimProcess) -> dict[str, int]:
    codes: dict[str, int] = sim.control_sync("health", method="GET")["retCodes"]
    return codes


def test_place_amend_cancel(http: HTTP) -> None:
    placed = http.place_order(
        **LINEAR, side="Buy", orderType="Limit", qty="0.01", price="59000", orderLinkId="pb-1"
    )
    assert placed["retCode"] == 0 and placed["retMsg"] == "OK"
    order_id = placed["result"]["orderId"]
    assert placed["result"] == {"orderId": order_id, "orderLinkId": "pb-1"}
    amended = http.amend_order(**LINEAR, orderId=order_id, price="59010.5", qty=0.02)
    assert amended["result"]["orderId"] == order_id
    [open_order] = http.get_open_orders(**LINEAR)["result"]["list"]
    assert (open_order["price"], open_order["qty"], open_order["orderStatus"]) == (
        "59010.5",
        "0.020",
        "New",
    )
    cancelled = http.cancel_order(**LINEAR, orderLinkId="pb-1")
    assert cancelled["result"] == {"orderId": order_id, "orderLinkId": "pb-1"}
    history = http.get_order_history(category="linear", orderLinkId="pb-1")["result"]["list"]
    assert history[0]["orderStatus"] == "Cancelled"


def test_cancel_all(http: HTTP) -> None:
    for price in ("59000", "59001"):
        http.place_order(**LINEAR, side="Buy", orderType="Limit", qty="0.01", price=price)
    result = http.cancel_all_orders(category="linear", settleCoin="USDT")["result"]
    assert result["success"] == "1" and len(result["list"]) == 2
    assert http.get_open_orders(**LINEAR)["result"]["list"] == []


def test_batch_place_amend_cancel(http: HTTP) -> None:
    request = [
        {
            "symbol": "BTCUSDT",
            "side": "Sell",
            "orderType": "Limit",
            "qty": "0.01",
            "price": "61000",
            "orderLinkId": f"pbb-{i}",
        }
        for i in range(3)
    ]
    placed = http.place_batch_order(category="linear", request=request)
    assert placed["retCode"] == 0
    assert [i["code"] for i in placed["retExtInfo"]["list"]] == [0, 0, 0]
    assert [i["orderLinkId"] for i in placed["result"]["list"]] == ["pbb-0", "pbb-1", "pbb-2"]
    amended = http.amend_batch_order(
        category="linear",
        request=[
            {"symbol": "BTCUSDT", "orderLinkId": f"pbb-{i}", "price": "61100"} for i in range(3)
        ],
    )
    assert [i["code"] for i in amended["retExtInfo"]["list"]] == [0, 0, 0]
    cancelled = http.cancel_batch_order(
        category="linear",
        request=[{"symbol": "BTCUSDT", "orderLinkId": f"pbb-{i}"} for i in (0, 1, 7)],
    )
    assert [i["code"] for i in cancelled["retExtInfo"]["list"]] == [0, 0, 110001]
    assert len(http.get_open_orders(**LINEAR)["result"]["list"]) == 1


def test_fills_executions_positions_and_wallet(sim: SimProcess, http: HTTP) -> None:
    http.place_order(**LINEAR, side="Buy", orderType="Market", qty="0.1", orderLinkId="pb-mkt")
    http.place_order(
        **LINEAR, side="Sell", orderType="Limit", qty="0.05", price="60100", orderLinkId="pb-mk"
    )
    sim.control_sync("trade", {"symbol": "BTCUSDT", "price": "60100", "qty": "1"})
    executions = http.get_executions(**LINEAR)["result"]["list"]
    assert [e["orderLinkId"] for e in executions] == ["pb-mk", "pb-mkt"]  # newest first
    assert [e["isMaker"] for e in executions] == [True, False]
    [position] = http.get_positions(**LINEAR)["result"]["list"]
    assert (position["side"], position["size"], position["avgPrice"]) == ("Buy", "0.050", "60000.1")
    wallet = http.get_wallet_balance(accountType="UNIFIED")["result"]["list"][0]
    assert wallet["coin"][0]["coin"] == "USDT"
    assert float(wallet["coin"][0]["cumRealisedPnl"]) != 0


def test_public_endpoints(http: HTTP) -> None:
    assert int(http.get_server_time()["result"]["timeSecond"]) > 0
    info = http.get_instruments_info(category="linear", symbol="BTCUSDT")["result"]["list"][0]
    assert info["lotSizeFilter"]["qtyStep"] == "0.001"
    ticker = http.get_tickers(**LINEAR)["result"]["list"][0]
    assert ticker["bid1Price"] == "59999.9"
    book = http.get_orderbook(**LINEAR, limit=3)["result"]
    assert len(book["b"]) == len(book["a"]) == 3


def test_business_errors_raise_invalid_request_with_the_code(http: HTTP) -> None:
    http.place_order(
        **LINEAR, side="Buy", orderType="Limit", qty="0.01", price="59000", orderLinkId="pb-dup"
    )
    with pytest.raises(InvalidRequestError) as info:
        http.place_order(
            **LINEAR, side="Buy", orderType="Limit", qty="0.01", price="59000", orderLinkId="pb-dup"
        )
    assert info.value.status_code == 110072
    with pytest.raises(InvalidRequestError) as info:
        http.cancel_order(**LINEAR, orderLinkId="never")
    assert info.value.status_code == 110001


def test_wrong_secret_is_10004(make_client: Callable[..., HTTP]) -> None:
    forged = make_client(api_secret="wrong-secret")
    with pytest.raises(InvalidRequestError) as info:
        forged.get_open_orders(**LINEAR)
    assert info.value.status_code == 10004
    assert "error sign! origin_string[" in info.value.message


def test_stale_timestamp_is_10002(sim: SimProcess, make_client: Callable[..., HTTP]) -> None:
    sim.control_sync("faults", {"clockOffsetMs": 60_000})  # the venue's clock runs a minute ahead
    strict = make_client(retry_codes={10006})  # pybit retries 10002 by default; don't
    with pytest.raises(InvalidRequestError) as info:
        strict.get_open_orders(**LINEAR)
    assert info.value.status_code == 10002
    assert "recv_window[5000]" in info.value.message
    default = make_client(max_retries=2)
    with pytest.raises(FailedRequestError, match=r"(?i)retries exceeded"):
        default.get_open_orders(**LINEAR)
    assert ret_codes(sim)["10002"] == 3  # pybit re-signed twice, widening recv_window each time


def test_rate_limit_is_retried_after_the_reset_timestamp(sim: SimProcess, http: HTTP) -> None:
    sim.control_sync("faults", {"rateLimitNext": 1})
    placed = http.place_order(**LINEAR, side="Buy", orderType="Limit", qty="0.01", price="59000")
    assert placed["retCode"] == 0
    assert ret_codes(sim)["10006"] == 1


def test_ip_ban_is_a_failed_request_with_http_403(sim: SimProcess, http: HTTP) -> None:
    sim.control_sync("faults", {"ipBanNext": 1})
    with pytest.raises(FailedRequestError) as info:
        http.get_open_orders(**LINEAR)
    assert info.value.status_code == 403
