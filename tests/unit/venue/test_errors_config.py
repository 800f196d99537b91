"""retCode classification, error messages, envelopes, rate-limit headers and settings."""

from __future__ import annotations

import pytest
from multidict import CIMultiDict

from libs.common.venue.config import VenueConfig, ws_from_http
from libs.common.venue.errors import (
    InsufficientBalance,
    IpBanned,
    OrderNotFound,
    Outcome,
    OutcomeUnknown,
    RateLimited,
    VenueRejected,
    classify,
    rejection,
)
from libs.common.venue.models import RateLimitStatus
from libs.common.venue.rest import Envelope, limit_status


@pytest.mark.parametrize(
    ("code", "outcome"),
    [
        (0, Outcome.OK),
        (10000, Outcome.AMBIGUOUS),
        (10016, Outcome.AMBIGUOUS),
        (170146, Outcome.AMBIGUOUS),
        (110072, Outcome.DUPLICATE),
        (170141, Outcome.DUPLICATE),
        (110001, Outcome.NOT_FOUND),
        (170213, Outcome.NOT_FOUND),
        (110008, Outcome.NOT_FOUND),
        (10001, Outcome.REJECTED),
        (110094, Outcome.REJECTED),
    ],
)
def test_classify(code: int, outcome: Outcome) -> None:
    assert classify(code) is outcome


def test_rejection_subclasses() -> None:
    assert isinstance(rejection(110001, "order not exists"), OrderNotFound)
    assert isinstance(rejection(170131, "Insufficient balance"), InsufficientBalance)
    err = rejection(110094, "Order does not meet minimum order value 5USDT", context="create x")
    assert type(err) is VenueRejected
    assert str(err) == (
        "create x: venue rejected the request with retCode 110094: "
        "Order does not meet minimum order value 5USDT"
    )


def test_messages_say_what_was_wrong_and_what_to_do() -> None:
    banned = IpBanned(1_700_000_600_000, 600)
    assert "refusing to call the venue" in str(banned) and "600 s" in str(banned)
    limited = RateLimited("/v5/order/create", 1_700_000_000_500, 4.5)
    assert "10006" in str(limited) and "retry after the reset" in str(limited)
    unknown = OutcomeUnknown("create", "timeout", client_order_id="mmx-1")
    assert "mmx-1" in str(unknown) and "reconcile" in str(unknown)


def test_envelope_parse() -> None:
    env = Envelope.parse(
        {"retCode": 0, "retMsg": "OK", "result": {"a": 1}, "retExtInfo": {}, "time": 1671017382656}
    )
    assert env.ret_code == 0 and env.result == {"a": 1} and env.time_ms == 1671017382656
    with pytest.raises(ValueError, match="retCode"):
        Envelope.parse({"error": "nope"})


def test_limit_headers() -> None:
    headers = CIMultiDict(
        {"x-bapi-limit": "10", "X-Bapi-Limit-Status": "9", "X-Bapi-Limit-Reset-Timestamp": "17"}
    )
    assert limit_status(headers) == RateLimitStatus(limit=10, remaining=9, reset_ms=17)
    assert limit_status(CIMultiDict()) is None


def test_config_urls(monkeypatch: pytest.MonkeyPatch) -> None:
    for name in ("MMX_VENUE", "MMX_VENUE_URL", "MMX_API_KEY", "MMX_API_SECRET"):
        monkeypatch.delenv(name, raising=False)
    sim = VenueConfig()
    assert sim.rest_base == "http://127.0.0.1:8090"
    assert sim.ws_private_url == "ws://127.0.0.1:8090/v5/private"
    assert sim.key == "mmx-dev-key" and sim.secret == "mmx-dev-secret"
    main = VenueConfig(venue="bybit-mainnet")
    assert main.rest_base == "https://api.bybit.com"
    assert main.ws_public_url() == "wss://stream.bybit.com/v5/public/linear"
    assert main.key is None and main.secret is None
    demo = VenueConfig(venue="bybit-demo")
    assert demo.ws_private_url == "wss://stream-demo.bybit.com/v5/private"
    assert demo.ws_public_base == "wss://stream.bybit.com"
    assert VenueConfig(venue="bybit-testnet").rest_base == "https://api-testnet.bybit.com"


def test_config_from_env_and_override(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("MMX_VENUE", "bybit-testnet")
    monkeypatch.setenv("MMX_VENUE_URL", "https://proxy.example:8443/")
    monkeypatch.setenv("MMX_API_KEY", "k")
    monkeypatch.setenv("MMX_API_SECRET", "very-secret")
    cfg = VenueConfig()
    assert cfg.rest_base == "https://proxy.example:8443"
    assert cfg.ws_private_url == "wss://proxy.example:8443/v5/private"
    assert cfg.secret == "very-secret"
    assert "very-secret" not in repr(cfg) and "very-secret" not in str(cfg)
    assert ws_from_http("http://127.0.0.1:9/") == "ws://127.0.0.1:9"
