"""Integration fixtures: the venue simulator as a real subprocess, reset before each test."""

from __future__ import annotations

from collections.abc import AsyncIterator, Iterator

import aiohttp
import pytest

from tests.simulator import SimClient, SimProcess

TEST_LIMITS = {
    "tradePerSecond": 100_000,
    "spotTradePerSecond": 100_000,
    "queryPerSecond": 100_000,
    "dcpPerSecond": 100_000,
    "ipPer5s": 1_000_000,
}
"""Limits high enough that only tests about limits ever meet them."""


def _running(sim: SimProcess) -> Iterator[SimProcess]:
    """`sim` started, and stopped once its fixture ends."""
    sim.start()
    try:
        yield sim
    finally:
        sim.stop()


@pytest.fixture(scope="session")
def venue_sim_process() -> Iterator[SimProcess]:
    """One simulator process for the whole session."""
    yield from _running(SimProcess())


@pytest.fixture(scope="module")
def binance_sim_process() -> Iterator[SimProcess]:
    """One Binance-personality simulator per test module that uses it (not reset)."""
    yield from _running(SimProcess(personality="binance-usdm"))


@pytest.fixture
async def venue_sim(venue_sim_process: SimProcess) -> AsyncIterator[SimProcess]:
    """The session's simulator, reset: no orders, frozen market, raised limits, no faults."""
    await venue_sim_process.control("reset", {"marketFrozen": True})
    await venue_sim_process.control("limits", TEST_LIMITS)
    yield venue_sim_process


@pytest.fixture
async def sim_client(venue_sim: SimProcess) -> AsyncIterator[SimClient]:
    """A signing HTTP client for the reset simulator."""
    async with aiohttp.ClientSession() as session:
        yield SimClient(venue_sim, session)
