"""Bybit's rate limits: per UID per endpoint group (rolling 1 s) and per IP (rolling 5 s).

Every account (UID) has windows of its own: keys of one account share them, another
account's calls do not count against it. The IP limit counts every call from an address.

Over the UID limit a request gets retCode 10006; every private response carries
`X-Bapi-Limit`, `X-Bapi-Limit-Status` (remaining) and `X-Bapi-Limit-Reset-Timestamp`.
Over the IP limit the address is banned for `ip_ban_seconds`: HTTP 403 until then.
"""

from __future__ import annotations

from collections import deque
from dataclasses import dataclass

from libs.common.domain.enums import Category

UID_WINDOW_MS = 1000
IP_WINDOW_MS = 5000
TRADE_GROUPS = frozenset({"trade", "batch", "cancel-all", "set-leverage", "switch-mode"})
"""Endpoint groups at the trade limit (Bybit: 10/s for linear set-leverage and switch-mode)."""


@dataclass(slots=True)
class Limits:
    """The limits in force; /sim/limits changes them at runtime."""

    trade_per_second: int
    spot_trade_per_second: int
    query_per_second: int
    dcp_per_second: int
    ip_per_5s: int
    ip_ban_seconds: int
    weight_per_minute: int = 2400
    """Binance personality: REQUEST_WEIGHT per IP and minute (429 -1003 beyond)."""
    orders_per_minute: int = 1200
    """Binance personality: ORDERS per account and minute (429 -1015 beyond)."""
    orders_per_10s: int = 300
    """Binance personality: ORDERS per account and 10 seconds (429 -1015 beyond)."""

    def for_group(self, group: str, category: str | None) -> int:
        """The per-second limit of an endpoint group (`TRADE_GROUPS` and "dcp" are trade
        groups; anything else is a query group)."""
        if group in TRADE_GROUPS:
            if category == Category.SPOT.value:
                return self.spot_trade_per_second
            return self.trade_per_second
        if group == "dcp":
            return self.dcp_per_second
        return self.query_per_second


@dataclass(frozen=True, slots=True)
class Quota:
    """The outcome of charging a window: how many units were granted, and the headers."""

    granted: int
    limit: int
    remaining: int
    reset_ms: int

    def headers(self) -> dict[str, str]:
        return {
            "X-Bapi-Limit": str(self.limit),
            "X-Bapi-Limit-Status": str(self.remaining),
            "X-Bapi-Limit-Reset-Timestamp": str(self.reset_ms),
        }


class _Window:
    """Timestamps of the hits inside a rolling window."""

    __slots__ = ("hits", "span")

    def __init__(self, span_ms: int) -> None:
        self.span = span_ms
        self.hits: deque[int] = deque()

    def purge(self, now: int) -> None:
        hits, oldest = self.hits, now - self.span
        while hits and hits[0] <= oldest:
            hits.popleft()

    def take(self, now: int, limit: int, units: int) -> int:
        self.purge(now)
        granted = max(0, min(units, limit - len(self.hits)))
        if granted == 1:
            self.hits.append(now)
        elif granted:
            self.hits.extend([now] * granted)
        return granted


class RateLimiter:
    """UID limits, one rolling window per (UID, group, category)."""

    def __init__(self, limits: Limits) -> None:
        self.limits = limits
        self._windows: dict[tuple[str, str, str | None], _Window] = {}

    def take(
        self, group: str, category: str | None, now: int, units: int = 1, *, uid: str = ""
    ) -> Quota:
        """Charge `units` requests (a batch charges one per order) to the account's group."""
        key = (uid, group, category)
        window = self._windows.get(key)
        if window is None:
            window = self._windows[key] = _Window(UID_WINDOW_MS)
        limit = self.limits.for_group(group, category)
        granted = window.take(now, limit, units)
        remaining = max(0, limit - len(window.hits))
        reset = window.hits[0] + UID_WINDOW_MS if granted < units and window.hits else now
        return Quota(granted, limit, remaining, reset)

    def clear(self) -> None:
        self._windows.clear()


class IpGuard:
    """The per-IP limit across all REST calls, with a ban once it is breached."""

    def __init__(self, limits: Limits) -> None:
        self.limits = limits
        self._windows: dict[str, _Window] = {}
        self._banned_until: dict[str, int] = {}

    def allow(self, ip: str, now: int) -> bool:
        """Count one request from `ip`; False while the address is banned."""
        until = self._banned_until.get(ip)
        if until is not None:
            if now < until:
                return False
            del self._banned_until[ip]
        window = self._windows.get(ip)
        if window is None:
            window = self._windows[ip] = _Window(IP_WINDOW_MS)
        if window.take(now, self.limits.ip_per_5s, 1):
            return True
        self._banned_until[ip] = now + self.limits.ip_ban_seconds * 1000
        window.hits.clear()
        return False

    def clear(self) -> None:
        self._windows.clear()
        self._banned_until.clear()
