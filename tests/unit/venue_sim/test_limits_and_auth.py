"""Rate limit windows, the IP ban, and request verification (pure parts of the server)."""

from __future__ import annotations

import pytest

from libs.common.venue.signing import sign_rest, sign_ws_auth
from services.venue_sim.auth import Authenticator, AuthError
from services.venue_sim.ratelimit import IpGuard, Limits, RateLimiter

NOW = 1_700_000_000_000
KEY, SECRET = "k", "s"


def limits(**kw: int) -> Limits:
    values = {
        "trade_per_second": 2,
        "spot_trade_per_second": 3,
        "query_per_second": 5,
        "dcp_per_second": 1,
        "ip_per_5s": 4,
        "ip_ban_seconds": 60,
    }
    values.update(kw)
    return Limits(**values)


def test_rolling_one_second_window_per_group_and_category() -> None:
    limiter = RateLimiter(limits())
    assert [limiter.take("trade", "linear", NOW).granted for _ in range(3)] == [1, 1, 0]
    assert limiter.take("trade", "spot", NOW).granted == 1
    assert limiter.take("realtime", "linear", NOW).granted == 1
    refused = limiter.take("trade", "linear", NOW + 500)
    assert (refused.granted, refused.limit, refused.remaining) == (0, 2, 0)
    assert refused.reset_ms == NOW + 1000
    assert limiter.take("trade", "linear", NOW + 1000).granted == 1


def test_headers_report_limit_remaining_and_reset() -> None:
    quota = RateLimiter(limits()).take("trade", "linear", NOW)
    assert quota.headers() == {
        "X-Bapi-Limit": "2",
        "X-Bapi-Limit-Status": "1",
        "X-Bapi-Limit-Reset-Timestamp": str(NOW),
    }


def test_batches_are_charged_per_order_and_granted_partially() -> None:
    limiter = RateLimiter(limits(trade_per_second=5))
    assert limiter.take("batch", "linear", NOW, 3).granted == 3
    assert limiter.take("batch", "linear", NOW, 3).granted == 2


def test_limits_changed_at_runtime_apply_at_once() -> None:
    shared = limits()
    limiter = RateLimiter(shared)
    limiter.take("trade", "linear", NOW)
    limiter.take("trade", "linear", NOW)
    shared.trade_per_second = 100
    assert limiter.take("trade", "linear", NOW).granted == 1


def test_ip_limit_breach_bans_for_the_configured_time() -> None:
    guard = IpGuard(limits())
    assert [guard.allow("1.2.3.4", NOW) for _ in range(5)] == [True] * 4 + [False]
    assert guard.allow("5.6.7.8", NOW)
    assert not guard.allow("1.2.3.4", NOW + 59_000)
    assert guard.allow("1.2.3.4", NOW + 60_000)


def headers(
    payload: str, ts: int = NOW, window: int = 5000, secret: str = SECRET
) -> dict[str, str]:
    return {
        "X-BAPI-API-KEY": KEY,
        "X-BAPI-TIMESTAMP": str(ts),
        "X-BAPI-RECV-WINDOW": str(window),
        "X-BAPI-SIGN": sign_rest(secret, ts, KEY, window, payload),
    }


def test_a_correct_signature_passes() -> None:
    assert Authenticator({KEY: SECRET}).check_rest(headers("a=1"), "a=1", NOW) == KEY


@pytest.mark.parametrize(
    ("ts", "ok"),
    [(NOW - 5000, True), (NOW - 5001, False), (NOW + 999, True), (NOW + 1000, False)],
)
def test_recv_window_rule(ts: int, ok: bool) -> None:
    auth = Authenticator({KEY: SECRET})
    if ok:
        auth.check_rest(headers("", ts), "", NOW)
        return
    with pytest.raises(AuthError) as info:
        auth.check_rest(headers("", ts), "", NOW)
    assert info.value.code == 10002
    assert f"req_timestamp[{ts}],server_timestamp[{NOW}],recv_window[5000]" in info.value.msg


def test_bad_signature_reports_the_origin_string() -> None:
    with pytest.raises(AuthError) as info:
        Authenticator({KEY: SECRET}).check_rest(headers("x=1", secret="wrong"), "x=1", NOW)
    assert info.value.code == 10004
    assert info.value.msg == f"error sign! origin_string[{NOW}{KEY}5000x=1]"


def test_unknown_key_and_missing_headers() -> None:
    auth = Authenticator({"other": SECRET})
    with pytest.raises(AuthError) as info:
        auth.check_rest(headers(""), "", NOW)
    assert (info.value.code, info.value.http_status) == (10003, 200)
    with pytest.raises(AuthError) as info:
        auth.check_rest({}, "", NOW)
    assert info.value.http_status == 401


def test_ws_auth() -> None:
    auth = Authenticator({KEY: SECRET})
    expires = NOW + 1000
    assert auth.check_ws([KEY, expires, sign_ws_auth(SECRET, expires)], NOW) == (KEY, "")
    assert auth.check_ws([KEY, NOW - 1, sign_ws_auth(SECRET, NOW - 1)], NOW)[0] is None
    assert auth.check_ws([KEY, expires, "00"], NOW)[0] is None
    assert auth.check_ws("nonsense", NOW)[0] is None
