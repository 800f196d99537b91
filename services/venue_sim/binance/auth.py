"""Binance request authentication: the `X-MBX-APIKEY` header, and for SIGNED (TRADE and
USER_DATA) endpoints `timestamp`, `recvWindow` and `signature`.

`signature` = hex HMAC-SHA256(secret, totalParams), where totalParams is the query string
concatenated with the body exactly as received (the `signature` parameter taken out of
whichever of them carries it). A request is in time when
`timestamp < server_time + 1000` and `server_time - timestamp <= recvWindow` (5000 by
default, at most 60000). The keys and the accounts they trade are the shared
`services.venue_sim.auth.Authenticator`'s.
"""

from __future__ import annotations

from collections.abc import Mapping

from libs.common.venue.binance.signer import API_KEY_HEADER
from libs.common.venue.binance.signer import sign as sign
from libs.common.venue.signing import signatures_match
from services.venue_sim.auth import Authenticator
from services.venue_sim.binance import errors, params
from services.venue_sim.binance.errors import BinanceError
from services.venue_sim.binance.params import Params

DEFAULT_RECV_WINDOW = 5000
MAX_RECV_WINDOW = 60_000
FUTURE_TOLERANCE_MS = 1000


def split_signature(raw_query: str, raw_body: str) -> tuple[str, str]:
    """(totalParams without the signature, the signature sent or "")."""
    signature = ""
    unsigned: list[str] = []
    for raw in (raw_query, raw_body):
        kept = []
        for part in raw.split("&") if raw else ():
            if part.startswith("signature=") and not signature:
                signature = part.partition("=")[2]
            else:
                kept.append(part)
        unsigned.append("&".join(kept))
    return "".join(unsigned), signature


def api_key(registry: Authenticator, headers: Mapping[str, str]) -> str:
    """The accepted API key of the `X-MBX-APIKEY` header; -2014 / -2015 (HTTP 401)."""
    key = headers.get(API_KEY_HEADER, "")
    if not key:
        raise BinanceError(
            errors.BAD_API_KEY_FMT, f"API-key format invalid: no {API_KEY_HEADER} header.", 401
        )
    if key not in registry.keys:
        raise BinanceError(
            errors.REJECTED_MBX_KEY, "Invalid API-key, IP, or permissions for action.", 401
        )
    return key


def check_time(p: Params, now: int) -> None:
    """`timestamp` within `recvWindow` of the server's time (-1021), or -1102 / -1131."""
    timestamp = params.integer(p, "timestamp", -1)
    if timestamp < 0:
        raise errors.mandatory("timestamp")
    window = params.integer(p, "recvWindow", DEFAULT_RECV_WINDOW, 1, 2**31)
    if window > MAX_RECV_WINDOW:
        raise BinanceError(
            errors.BAD_RECV_WINDOW, f"recvWindow must be less than {MAX_RECV_WINDOW}."
        )
    if timestamp >= now + FUTURE_TOLERANCE_MS:
        raise BinanceError(
            errors.INVALID_TIMESTAMP,
            f"Timestamp for this request was {FUTURE_TOLERANCE_MS}ms ahead of the server's "
            f"time (timestamp {timestamp}, server time {now}).",
        )
    if now - timestamp > window:
        raise BinanceError(
            errors.INVALID_TIMESTAMP,
            "Timestamp for this request is outside of the recvWindow "
            f"(timestamp {timestamp}, server time {now}, recvWindow {window}).",
        )


def check_signed(
    registry: Authenticator,
    headers: Mapping[str, str],
    raw_query: str,
    raw_body: str,
    p: Params,
    now: int,
) -> str:
    """The API key of a correctly signed, timely request; raises BinanceError."""
    key = api_key(registry, headers)
    check_time(p, now)
    total, signature = split_signature(raw_query, raw_body)
    if not signature:
        raise errors.mandatory("signature")
    expected = sign(registry.keys[key], total)
    if not signatures_match(expected, signature):
        raise BinanceError(errors.INVALID_SIGNATURE, "Signature for this request is not valid.")
    return key
