"""Signing vectors and request preparation: the bytes signed are the bytes sent."""

from __future__ import annotations

import orjson

from libs.common.venue.signer import ServerClock, json_body, prepare, query_string
from libs.common.venue.signing import sign_rest, sign_ws_auth

# Vectors computed independently with `openssl dgst -sha256 -hmac SECRET`.
DOCS_GET_SIGN = "37813c67fafb3017e92354eb88f218e7e52a98f9f5eb74cfcf0b21f17edb143b"
POST_SIGN = "e0d6d68634eb0125dc88f40b366da95b99695542370f7704fb9b6e3390777fbe"
WS_SIGN = "576f56fa5272945acb2516e124919a7621b1b4ffc7dceaa00cee63a217c3fa42"
POST_BODY = {
    "category": "linear",
    "symbol": "BTCUSDT",
    "side": "Buy",
    "orderType": "Limit",
    "qty": "0.001",
    "orderLinkId": "abc-1",
    "price": "60000",
    "timeInForce": "GTC",
}


def test_docs_get_vector() -> None:
    query = "category=option&symbol=BTC-29JUL22-25000-C"
    assert sign_rest("YYYYYYYYYY", 1658384314791, "XXXXXXXXXX", 5000, query) == DOCS_GET_SIGN


def test_ws_auth_vector() -> None:
    assert sign_ws_auth("mmx-dev-secret", 1700000010000) == WS_SIGN


def test_query_string_sorted_without_none_and_unencoded() -> None:
    params = {"symbol": "BTC-29JUL22-25000-C", "category": "option", "cursor": None}
    assert query_string(params) == "category=option&symbol=BTC-29JUL22-25000-C"


def test_query_string_keeps_an_encoded_cursor_and_encodes_separators() -> None:
    assert query_string({"cursor": "a%3D1%2Cb"}) == "cursor=a%3D1%2Cb"
    assert query_string({"cursor": "a=1&b"}) == "cursor=a%3D1%26b"


def test_prepare_get_signs_the_query_it_sends() -> None:
    req = prepare(
        "GET",
        "http://h",
        "/v5/order/realtime",
        params={"symbol": "BTC-29JUL22-25000-C", "category": "option"},
        credentials=("XXXXXXXXXX", "YYYYYYYYYY"),
        timestamp_ms=1658384314791,
        recv_window=5000,
    )
    assert req.url == "http://h/v5/order/realtime?category=option&symbol=BTC-29JUL22-25000-C"
    assert req.body is None
    assert req.headers["X-BAPI-SIGN"] == DOCS_GET_SIGN
    assert req.headers["X-BAPI-TIMESTAMP"] == "1658384314791"
    assert req.headers["X-BAPI-RECV-WINDOW"] == "5000"
    assert req.headers["X-BAPI-API-KEY"] == "XXXXXXXXXX"


def test_prepare_post_signs_the_exact_body_bytes() -> None:
    req = prepare(
        "POST",
        "http://h",
        "/v5/order/create",
        body=POST_BODY,
        credentials=("mmx-dev-key", "mmx-dev-secret"),
        timestamp_ms=1700000000000,
    )
    assert req.body == json_body(POST_BODY)
    assert req.body is not None and req.payload == req.body.decode()
    assert orjson.loads(req.body) == POST_BODY
    assert req.headers["X-BAPI-SIGN"] == POST_SIGN
    assert req.headers["Content-Type"] == "application/json"


def test_unsigned_request_has_no_auth_headers() -> None:
    req = prepare("GET", "http://h", "/v5/market/time")
    assert req.url == "http://h/v5/market/time"
    assert "X-BAPI-SIGN" not in req.headers


def test_clock_takes_the_largest_recent_lower_bound() -> None:
    clock = ServerClock(window=3)
    clock.observe(1_000_500, 1_000_000)  # +500
    clock.observe(1_000_400, 1_000_000)  # +400: a slower answer, a looser bound
    assert clock.offset_ms == 500
    clock.observe(1_000_300, 1_000_000)
    clock.observe(1_000_300, 1_000_000)
    clock.observe(1_000_300, 1_000_000)  # the +500 sample aged out
    assert clock.offset_ms == 300


def test_clock_reset_forgets_samples() -> None:
    clock = ServerClock()
    clock.observe(2_000, 1_000)
    clock.reset(-60_000)
    assert clock.offset_ms == -60_000
    clock.observe(1_010, 1_000)
    assert clock.offset_ms == 10
