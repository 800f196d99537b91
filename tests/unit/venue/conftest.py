"""Shared fixtures for the venue unit tests: instrument rules like the fact sheet's."""

from __future__ import annotations

from decimal import Decimal

import pytest

from libs.common.domain.enums import Category
from libs.common.domain.instruments import InstrumentRules


@pytest.fixture
def btc_linear() -> InstrumentRules:
    return InstrumentRules(
        symbol="BTCUSDT",
        category=Category.LINEAR,
        base_coin="BTC",
        tick_size=Decimal("0.1"),
        min_price=Decimal("0.1"),
        max_price=Decimal("1999999.8"),
        qty_step=Decimal("0.001"),
        min_qty=Decimal("0.001"),
        max_qty=Decimal("1190"),
        max_mkt_qty=Decimal("500"),
        min_notional=Decimal("5"),
    )


@pytest.fixture
def btc_spot() -> InstrumentRules:
    return InstrumentRules(
        symbol="BTCUSDT",
        category=Category.SPOT,
        base_coin="BTC",
        tick_size=Decimal("0.01"),
        min_price=Decimal("0.01"),
        max_price=Decimal("9999999"),
        qty_step=Decimal("0.000001"),
        min_qty=Decimal("0.000001"),
        max_qty=Decimal("71.73956243"),
        max_mkt_qty=Decimal("5.7"),
        min_notional=Decimal("5"),
    )
