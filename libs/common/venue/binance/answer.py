"""One Binance answer (`Answer`) and how an error shows in it. Pure, no I/O.

Binance answers an error with an HTTP 4xx / 5xx and `{"code": <negative>, "msg": ...}`; a
batch answers a list whose items are order objects or such `{"code","msg"}`; a few calls
answer success as `{"code": 200, "msg": ...}`.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import orjson

from libs.common.venue.binance.errors import UNKNOWN_OUTCOME


@dataclass(frozen=True, slots=True)
class Answer:
    """One Binance answer: HTTP status, parsed JSON, and its error `code` (0 when none)."""

    status: int
    data: Any = None
    code: int = 0
    msg: str = ""

    @property
    def ok(self) -> bool:
        return self.code == 0

    @property
    def obj(self) -> dict[str, Any]:
        return self.data if isinstance(self.data, dict) else {}

    @property
    def rows(self) -> list[Any]:
        return self.data if isinstance(self.data, list) else []

    @classmethod
    def item(cls, data: Any) -> Answer:
        """One item of a batch answer: an order object, or `{"code","msg"}`."""
        code, msg = error_of(400, data)
        return cls(200, data, code, msg)

    @classmethod
    def unknown(cls, reason: str) -> Answer:
        """A request whose outcome is unknown (timeout, dropped connection, 503 Unknown)."""
        return cls(0, None, UNKNOWN_OUTCOME, reason)


def error_of(status: int, data: Any) -> tuple[int, str]:
    """(code, msg) of an error body; (0, "") for success (`{"code":200}` included)."""
    if not isinstance(data, dict) or "code" not in data or "orderId" in data:
        return 0, ""
    try:
        code = int(data["code"])
    except (TypeError, ValueError):
        return 0, ""
    if code in (0, 200) or (code > 0 and 200 <= status < 300):
        return 0, ""
    return code, str(data.get("msg", ""))


def parse_json(raw: bytes) -> Any:
    """The JSON of a body, None when empty or not JSON."""
    try:
        return orjson.loads(raw) if raw else None
    except orjson.JSONDecodeError:
        return None
