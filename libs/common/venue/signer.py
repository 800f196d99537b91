"""Request preparation (exact bytes signed = exact bytes sent) and the server clock. No I/O."""

from __future__ import annotations

import time
from collections import deque
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any
from urllib.parse import quote

import orjson

from libs.common.venue.signing import sign_rest

Params = Mapping[str, str | int | None]

# Characters that would change how a query string is split; such values are percent-encoded.
# Everything else goes out raw, as Bybit's own clients do (a `cursor` is already encoded).
_UNSAFE = frozenset("&=#+ ?")


def query_string(params: Params) -> str:
    """`k=v&...` sorted by key, None dropped, no URL-encoding of ordinary values.

    This exact string is both signed and sent after `?`.
    """
    parts = []
    for key in sorted(params):
        value = params[key]
        if value is None:
            continue
        text = str(value)
        if any(ch in _UNSAFE or not ch.isascii() for ch in text):
            text = quote(text, safe="")
        parts.append(f"{key}={text}")
    return "&".join(parts)


def json_body(body: Mapping[str, Any]) -> bytes:
    """Compact JSON; these exact bytes are both signed and sent."""
    return orjson.dumps(body)


@dataclass(frozen=True, slots=True)
class Prepared:
    """One HTTP request, ready to send byte for byte."""

    method: str
    url: str
    """Already encoded; send with `yarl.URL(url, encoded=True)`."""
    body: bytes | None
    headers: dict[str, str]
    payload: str
    """The payload part of the signed string (query string or raw body)."""


def prepare(
    method: str,
    base: str,
    path: str,
    *,
    params: Params | None = None,
    body: Mapping[str, Any] | None = None,
    credentials: tuple[str, str] | None = None,
    timestamp_ms: int = 0,
    recv_window: int = 5000,
) -> Prepared:
    """Build a GET (from `params`) or POST (from `body`), signed when `credentials` is given."""
    headers: dict[str, str] = {}
    if method == "GET":
        payload = query_string(params or {})
        url = f"{base}{path}?{payload}" if payload else f"{base}{path}"
        raw = None
    else:
        raw = json_body(body or {})
        payload = raw.decode()
        url = f"{base}{path}"
        headers["Content-Type"] = "application/json"
    if credentials is not None:
        key, secret = credentials
        headers.update(
            {
                "X-BAPI-API-KEY": key,
                "X-BAPI-TIMESTAMP": str(timestamp_ms),
                "X-BAPI-RECV-WINDOW": str(recv_window),
                "X-BAPI-SIGN": sign_rest(secret, timestamp_ms, key, recv_window, payload),
            }
        )
    return Prepared(method, url, raw, headers, payload)


def wall_ms() -> int:
    return time.time_ns() // 1_000_000


class ServerClock:
    """Venue time = local time + offset.

    Each sample is `server_ms - local_receive_ms`. The server stamped its time before we
    received it, so every sample is a lower bound of the true offset: our timestamps err
    on the early side, which the recv_window tolerates (late by > 1 s is rejected). The
    estimate is the largest of the recent samples, so old samples age out after drift.
    """

    def __init__(self, window: int = 32) -> None:
        self._samples: deque[int] = deque(maxlen=window)
        self._offset = 0

    @property
    def offset_ms(self) -> int:
        return self._offset

    def now_ms(self) -> int:
        return wall_ms() + self._offset

    def observe(self, server_ms: int, local_receive_ms: int | None = None) -> None:
        """Take one sample (from `/v5/market/time` or an envelope's `time`)."""
        local = wall_ms() if local_receive_ms is None else local_receive_ms
        self._samples.append(server_ms - local)
        self._offset = max(self._samples)

    def reset(self, offset_ms: int) -> None:
        """Forget the samples and use `offset_ms` (after a 10002, or to simulate skew)."""
        self._samples.clear()
        self._offset = offset_ms
