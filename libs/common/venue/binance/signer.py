"""Binance request signing: the exact url-encoded query string sent is the one signed. No I/O.

Every parameter travels in the query string, as both official SDKs send them (the body
stays empty for POST / PUT / DELETE too): `k=v&...` in the order given, then `timestamp`,
`recvWindow` and, last, `signature` = hex HMAC-SHA256(secret, everything before it).
"""

from __future__ import annotations

import hashlib
import hmac
from collections.abc import Mapping
from dataclasses import dataclass
from decimal import Decimal
from typing import Any
from urllib.parse import urlencode

import orjson

API_KEY_HEADER = "X-MBX-APIKEY"

Params = Mapping[str, Any]


def sign(secret: str, payload: str) -> str:
    """Lowercase hex HMAC-SHA256 of `payload` (the `totalParams`) under `secret`."""
    return hmac.new(secret.encode(), payload.encode(), hashlib.sha256).hexdigest()


def wire_value(value: Any) -> str:
    """One parameter as Binance reads it: booleans `true`/`false`, Decimals in plain
    notation, lists and dicts as compact JSON (`batchOrders`, `origClientOrderIdList`)."""
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, Decimal):
        return format(value.normalize(), "f")
    if isinstance(value, list | tuple | dict):
        return orjson.dumps(value).decode()
    return str(value)


def query_string(params: Params) -> str:
    """`k=v&...` in the given order, None dropped, url-encoded like the SDKs' `urlencode`."""
    return urlencode([(k, wire_value(v)) for k, v in params.items() if v is not None])


@dataclass(frozen=True, slots=True)
class Prepared:
    """One HTTP request, ready to send byte for byte."""

    method: str
    url: str
    """Already encoded; send with `yarl.URL(url, encoded=True)`."""
    headers: dict[str, str]
    query: str
    """The query string sent, `signature` included when signed."""


def prepare(
    method: str,
    base: str,
    path: str,
    params: Params | None = None,
    *,
    api_key: str | None = None,
    secret: str | None = None,
    timestamp_ms: int = 0,
    recv_window: int = 5000,
) -> Prepared:
    """Build a request; signed (timestamp, recvWindow, signature last) when `secret` is
    given, carrying `X-MBX-APIKEY` when `api_key` is (USER_STREAM calls need the key only)."""
    query = query_string(params or {})
    if secret is not None:
        stamp = urlencode({"timestamp": timestamp_ms, "recvWindow": recv_window})
        query = f"{query}&{stamp}" if query else stamp
        query = f"{query}&signature={sign(secret, query)}"
    headers = {"Accept": "application/json"}
    if api_key is not None:
        headers[API_KEY_HEADER] = api_key
    url = f"{base}{path}?{query}" if query else f"{base}{path}"
    return Prepared(method, url, headers, query)
