"""Bybit V5 request signing (HMAC-SHA256, lowercase hex), shared by the adapter and the simulator.

REST: sign `timestamp + api_key + recv_window + payload`, where payload is the exact query
string of a GET or the exact raw JSON body of a POST, byte for byte as sent.
WebSocket auth: sign `"GET/realtime" + expires`.
"""

from __future__ import annotations

import hashlib
import hmac


def hmac_hex(secret: str, message: str) -> str:
    return hmac.new(secret.encode(), message.encode(), hashlib.sha256).hexdigest()


def rest_origin(timestamp_ms: int | str, api_key: str, recv_window: int | str, payload: str) -> str:
    """The string Bybit signs for a REST call."""
    return f"{timestamp_ms}{api_key}{recv_window}{payload}"


def sign_rest(
    secret: str, timestamp_ms: int | str, api_key: str, recv_window: int | str, payload: str
) -> str:
    return hmac_hex(secret, rest_origin(timestamp_ms, api_key, recv_window, payload))


def sign_ws_auth(secret: str, expires_ms: int) -> str:
    return hmac_hex(secret, f"GET/realtime{expires_ms}")


def signatures_match(expected: str, given: str) -> bool:
    """Constant-time comparison of two hex signatures."""
    return hmac.compare_digest(expected.encode(), given.lower().encode())
