"""Integer-nanosecond time. Every timestamp in mmx is an `int` of nanoseconds since the epoch.

The core never reads a clock: callers pass `ts_ns` / `now_ns` in, so tests are deterministic.
"""

from __future__ import annotations

from decimal import ROUND_FLOOR, Decimal

NS_PER_US = 1_000
NS_PER_MS = 1_000_000
NS_PER_SECOND = 1_000_000_000


def ms_to_ns(ms: int | str) -> int:
    """Convert venue milliseconds (Bybit sends them as strings, e.g. "1672364262474") to ns."""
    return int(ms) * NS_PER_MS


def ns_to_ms(ns: int) -> int:
    """Convert ns to whole milliseconds, rounding down (towards the past)."""
    return ns // NS_PER_MS


def seconds_to_ns(seconds: int | Decimal) -> int:
    """Convert a duration in seconds to ns, rounding down to the nanosecond."""
    return int((Decimal(seconds) * NS_PER_SECOND).to_integral_value(rounding=ROUND_FLOOR))
