"""Integer-nanosecond helpers."""

from __future__ import annotations

from decimal import Decimal

from libs.common.domain.time import NS_PER_SECOND, ms_to_ns, ns_to_ms, seconds_to_ns


def test_ms_to_ns_takes_bybit_millisecond_strings() -> None:
    assert ms_to_ns("1672364262474") == 1_672_364_262_474_000_000
    assert ms_to_ns(5) == 5_000_000


def test_ns_to_ms_rounds_down() -> None:
    assert ns_to_ms(1_999_999) == 1
    assert ns_to_ms(ms_to_ns(1672364262474)) == 1672364262474


def test_seconds_to_ns_is_exact_for_decimals_and_rounds_down_below_a_nanosecond() -> None:
    assert seconds_to_ns(2) == 2 * NS_PER_SECOND
    assert seconds_to_ns(Decimal("0.5")) == 500_000_000
    assert seconds_to_ns(Decimal("0.0000000019")) == 1
