"""Fixtures for the simulator's pure engine: an exchange on a fake clock."""

from __future__ import annotations

import pytest

from services.venue_sim.engine import Exchange

from .helpers import FakeClock, make_exchange


@pytest.fixture
def clock() -> FakeClock:
    return FakeClock()


@pytest.fixture
def ex(clock: FakeClock) -> Exchange:
    """BTCUSDT and ETHUSDT (linear and spot), BTC mid 60000 (bid 59999.9 / ask 60000.1)."""
    return make_exchange(clock)
