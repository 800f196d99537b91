"""E2E fixtures: one simulator for the session; per test a flushed Redis db, a reset simulator
(frozen market, raised limits) and a fresh stack of service processes (`tests/e2e/harness.py`).

Every scenario on a stack of `make_stack` runs twice: on one Redis (`[redis]`) and on a Redis
Cluster of 3 primaries and 3 replicas (`[cluster]`, `tests/redis_cluster.py`), where a script
or command whose keys cross hash slots fails. A failed test prints the tail of every
process's log.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Awaitable, Callable, Generator, Iterator
from pathlib import Path

import pytest
import redis.asyncio as aioredis

from tests.e2e.harness import E2EStack
from tests.simulator import SimProcess

SIM_LIMITS = {
    "tradePerSecond": 100_000,
    "spotTradePerSecond": 100_000,
    "queryPerSecond": 100_000,
    "dcpPerSecond": 100_000,
    "ipPer5s": 1_000_000,
}
"""Simulator rate limits high enough that no e2e test meets them."""

FAILED = pytest.StashKey[bool]()

StackFactory = Callable[..., Awaitable[E2EStack]]


@pytest.hookimpl(wrapper=True, tryfirst=True)
def pytest_runtest_makereport(
    item: pytest.Item, call: pytest.CallInfo[None]
) -> Generator[None, pytest.TestReport, pytest.TestReport]:
    report = yield
    if report.failed:
        item.stash[FAILED] = True
    return report


@pytest.fixture(scope="session")
def e2e_sim() -> Iterator[SimProcess]:
    """One simulator process for every e2e test."""
    sim = SimProcess(market_frozen=True).start()
    try:
        yield sim
    finally:
        sim.stop()


@pytest.fixture(params=["redis", "cluster"])
async def e2e_redis_url(request: pytest.FixtureRequest) -> str:
    """Where a stack keeps its state, emptied first: the session's Redis db, or the session's
    Redis Cluster (a `redis+cluster://` URL every service and `redis_from_url` take)."""
    if request.param == "cluster":
        return str(request.getfixturevalue("redis_cluster_url"))
    return await flushed(str(request.getfixturevalue("redis_url")))


async def flushed(url: str) -> str:
    """`url` (a Redis db), emptied."""
    client = aioredis.Redis.from_url(url)
    try:
        await client.flushdb()
    finally:
        await client.aclose()
    return url


@pytest.fixture
async def make_stack(
    e2e_redis_url: str, e2e_sim: SimProcess, tmp_path: Path, request: pytest.FixtureRequest
) -> AsyncIterator[StackFactory]:
    """`await make_stack(routers=N, env={"router": {...}})`: a started stack, stopped after;
    on `e2e_redis_url` (emptied first), or on `redis_url=` a Redis of the test's own (one it
    will kill, or a Sentinel set-up)."""
    await e2e_sim.control("reset", {"marketFrozen": True})
    await e2e_sim.control("limits", SIM_LIMITS)
    stacks: list[E2EStack] = []

    async def factory(
        *,
        routers: int = 1,
        env: dict[str, dict[str, str]] | None = None,
        redis_url: str = e2e_redis_url,
    ) -> E2EStack:
        stack = E2EStack(redis_url, e2e_sim, tmp_path / f"logs-{len(stacks)}", env=env or {})
        stacks.append(stack)
        return await stack.start(routers=routers)

    try:
        yield factory
    finally:
        for stack in stacks:
            await stack.stop()
            if request.node.stash.get(FAILED, False):
                print(stack.logs())


@pytest.fixture
async def stack(make_stack: StackFactory) -> E2EStack:
    """The default stack: one process of each service."""
    return await make_stack()
