"""Rate-limit headroom from Binance's `X-MBX-*` headers, in the adapter-neutral shape.

Binance reports usage, not what is left: `X-MBX-USED-WEIGHT-1M` (request weight per IP,
every answer) and `X-MBX-ORDER-COUNT-10S` / `-1M` (orders per account, order answers).
`headroom` turns one answer's headers into the `RateLimitStatus` the router reads for
Bybit's `X-Bapi-Limit*` (`RestClient.rate_limits[path]`): the window with the smallest
share left, its limit, what is left of it, and when it resets (windows are fixed, aligned
to the interval on the venue's clock).
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any

from libs.common.venue.models import RateLimitStatus

WEIGHT = "REQUEST_WEIGHT"
ORDERS = "ORDERS"
_HEADER = re.compile(r"^x-mbx-(used-weight|order-count)-(\d+)([smhd])$", re.IGNORECASE)
_KIND = {"used-weight": WEIGHT, "order-count": ORDERS}
_UNIT_MS = {"s": 1_000, "m": 60_000, "h": 3_600_000, "d": 86_400_000}
_EXCHANGE_UNIT = {"SECOND": "s", "MINUTE": "m", "HOUR": "h", "DAY": "d"}

Window = tuple[str, int]
"""(kind, length in ms), e.g. (REQUEST_WEIGHT, 60000)."""


@dataclass(frozen=True, slots=True)
class Limits:
    """What Binance admits per window: `(kind, window ms) → limit`."""

    by_window: Mapping[Window, int] = field(default_factory=dict)

    @classmethod
    def defaults(
        cls, weight_1m: int = 2400, orders_10s: int = 300, orders_1m: int = 1200
    ) -> Limits:
        """The documented limits (fact sheet §5), until exchangeInfo says otherwise."""
        return cls(
            {(WEIGHT, 60_000): weight_1m, (ORDERS, 10_000): orders_10s, (ORDERS, 60_000): orders_1m}
        )

    def updated(self, rate_limits: Iterable[Mapping[str, Any]]) -> Limits:
        """These limits overridden by exchangeInfo's `rateLimits` entries."""
        merged = dict(self.by_window)
        for entry in rate_limits:
            unit = _EXCHANGE_UNIT.get(str(entry.get("interval", "")).upper())
            kind = str(entry.get("rateLimitType", ""))
            if unit is None or kind not in (WEIGHT, ORDERS):
                continue
            window = int(entry.get("intervalNum") or 1) * _UNIT_MS[unit]
            merged[(kind, window)] = int(entry["limit"])
        return Limits(merged)


def usage_of(headers: Mapping[str, str]) -> dict[Window, int]:
    """Every `X-MBX-USED-WEIGHT-*` / `X-MBX-ORDER-COUNT-*` header of one answer."""
    used: dict[Window, int] = {}
    for name, value in headers.items():
        match = _HEADER.match(name)
        if match is None:
            continue
        kind, count, unit = match.groups()
        try:
            used[(_KIND[kind.lower()], int(count) * _UNIT_MS[unit.lower()])] = int(value)
        except ValueError:
            continue
    return used


def window_end_ms(now_ms: int, window_ms: int) -> int:
    """When the fixed window holding `now_ms` ends."""
    return (now_ms // window_ms + 1) * window_ms


def headroom(used: Mapping[Window, int], limits: Limits, now_ms: int) -> RateLimitStatus | None:
    """The tightest window of one answer's usage; None when it reported none we know."""
    best: tuple[float, RateLimitStatus] | None = None
    for window, count in used.items():
        limit = limits.by_window.get(window)
        if limit is None:
            continue
        remaining = max(0, limit - count)
        status = RateLimitStatus(
            limit=limit, remaining=remaining, reset_ms=window_end_ms(now_ms, window[1])
        )
        share = remaining / limit
        if best is None or share < best[0]:
            best = (share, status)
    return None if best is None else best[1]


def spent(status: RateLimitStatus | None, reset_ms: int) -> RateLimitStatus:
    """The headroom after a 429 / 418: nothing left until `reset_ms`."""
    limit = status.limit if status is not None else None
    return RateLimitStatus(limit=limit, remaining=0, reset_ms=reset_ms)
