"""Binance's rate limits: REQUEST_WEIGHT per IP and minute, ORDERS per account in 10-second
and 1-minute windows (fixed windows, as Binance counts them: they restart on the boundary).

Every answer carries `X-MBX-USED-WEIGHT-1M`; order endpoints also carry
`X-MBX-ORDER-COUNT-10S` and `X-MBX-ORDER-COUNT-1M`. Beyond the weight: HTTP 429 -1003; beyond
an order count: HTTP 429 -1015. The limits are the `weight_per_minute`, `orders_per_minute`
and `orders_per_10s` of `services.venue_sim.ratelimit.Limits` (changed by /sim/limits).
"""

from __future__ import annotations

from dataclasses import dataclass

from services.venue_sim.ratelimit import Limits

MINUTE_MS = 60_000
TEN_SECONDS_MS = 10_000


class FixedWindow:
    """Units used in the current window of `span_ms` (aligned to the epoch)."""

    __slots__ = ("span_ms", "start", "used")

    def __init__(self, span_ms: int) -> None:
        self.span_ms = span_ms
        self.start = 0
        self.used = 0

    def roll(self, now: int) -> None:
        """Start a new window when `now` is past the current one."""
        start = now - now % self.span_ms
        if start != self.start:
            self.start, self.used = start, 0

    def fits(self, now: int, units: int, limit: int) -> bool:
        """Whether `units` more stay within `limit` in the window of `now`."""
        self.roll(now)
        return self.used + units <= limit

    def retry_after_s(self, now: int) -> int:
        """Whole seconds until the window restarts (at least 1)."""
        return max(1, -(-(self.start + self.span_ms - now) // 1000))


@dataclass(frozen=True, slots=True)
class Verdict:
    """Whether a request may go on, and what the headers should say."""

    allowed: bool
    headers: dict[str, str]
    retry_after_s: int = 0
    message: str = ""


class BinanceLimiter:
    """The weight windows of every IP and the order windows of every account."""

    def __init__(self, limits: Limits) -> None:
        self.limits = limits
        self._weights: dict[str, FixedWindow] = {}
        self._orders: dict[str, tuple[FixedWindow, FixedWindow]] = {}

    def weight(self, ip: str, now: int, units: int) -> Verdict:
        """Charge `units` of request weight to `ip` unless that passes the limit."""
        window = self._weights.get(ip)
        if window is None:
            window = self._weights[ip] = FixedWindow(MINUTE_MS)
        limit = self.limits.weight_per_minute
        allowed = window.fits(now, units, limit)
        if allowed:
            window.used += units
        headers = {"X-MBX-USED-WEIGHT-1M": str(window.used)}
        if allowed:
            return Verdict(True, headers)
        message = (
            f"Too many requests; current limit of IP({ip}) request weight is {limit} per "
            "1 MINUTE. Please use WebSocket Streams for live updates to avoid polling the API."
        )
        return Verdict(False, headers, window.retry_after_s(now), message)

    def used(self, ip: str, now: int) -> dict[str, str]:
        """The weight header of `ip` as it stands (nothing charged)."""
        window = self._weights.get(ip)
        if window is not None:
            window.roll(now)
        return {"X-MBX-USED-WEIGHT-1M": str(window.used if window is not None else 0)}

    def orders(self, uid: str, now: int, units: int, minute_units: int | None = None) -> Verdict:
        """Charge `units` orders to the account's 10-second window and `minute_units` (the
        same by default) to its minute, unless that passes a limit."""
        minute_units = units if minute_units is None else minute_units
        windows = self._orders.get(uid)
        if windows is None:
            windows = self._orders[uid] = (FixedWindow(TEN_SECONDS_MS), FixedWindow(MINUTE_MS))
        ten, minute = windows
        limits = self.limits
        fits_ten = ten.fits(now, units, limits.orders_per_10s)
        fits_minute = minute.fits(now, minute_units, limits.orders_per_minute)
        if fits_ten and fits_minute:
            ten.used += units
            minute.used += minute_units
        headers = {"X-MBX-ORDER-COUNT-10S": str(ten.used), "X-MBX-ORDER-COUNT-1M": str(minute.used)}
        if fits_ten and fits_minute:
            return Verdict(True, headers)
        if not fits_ten:
            limit, span, window = limits.orders_per_10s, "10 SECONDS", ten
        else:
            limit, span, window = limits.orders_per_minute, "1 MINUTE", minute
        message = f"Too many new orders; current limit is {limit} orders per {span}."
        return Verdict(False, headers, window.retry_after_s(now), message)

    def clear(self) -> None:
        """Forget every window (a reset)."""
        self._weights.clear()
        self._orders.clear()
