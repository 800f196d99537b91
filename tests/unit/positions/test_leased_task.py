"""`LeasedTask`: the work runs on one instance at a time, moves on failure, stops cleanly."""

from __future__ import annotations

import asyncio
from collections.abc import Callable, Coroutine
from typing import Any

from libs.common.stores import InMemoryLeaseStore
from services.positions.leader import LeasedTask
from tests.integration.bus.helpers import wait_until

TTL_MS = 150


class Work:
    """Work that records who runs it; fails on demand."""

    def __init__(self) -> None:
        self.running: set[str] = set()
        self.runs: list[str] = []
        self.fail_next = False

    def for_owner(self, owner: str) -> Callable[[asyncio.Event], Coroutine[Any, Any, None]]:
        async def run(release: asyncio.Event) -> None:
            self.runs.append(owner)
            self.running.add(owner)
            try:
                if self.fail_next:
                    self.fail_next = False
                    raise RuntimeError("boom")
                await release.wait()
            finally:
                self.running.discard(owner)

        return run


def task(leases: InMemoryLeaseStore, work: Work, owner: str) -> LeasedTask:
    return LeasedTask(
        "marks", leases=leases, owner=owner, ttl_ms=TTL_MS, work=work.for_owner(owner), retry_s=0.05
    )


async def test_only_one_instance_runs_the_work_and_the_other_takes_over_on_stop() -> None:
    leases, work = InMemoryLeaseStore(), Work()
    first, second = task(leases, work, "a"), task(leases, work, "b")
    await first.start()
    await wait_until(lambda: work.running == {"a"})
    await second.start()
    await asyncio.sleep(TTL_MS * 2 / 1000)

    assert work.running == {"a"} and first.holding and not second.holding

    await first.stop()
    await wait_until(lambda: work.running == {"b"})
    assert await leases.holder("marks") == "b"
    await second.stop()
    assert work.running == set() and await leases.holder("marks") is None


async def test_failed_work_gives_the_lease_up_and_runs_again() -> None:
    leases, work = InMemoryLeaseStore(), Work()
    work.fail_next = True
    only = task(leases, work, "a")

    await only.start()
    await wait_until(lambda: work.runs == ["a", "a"] and work.running == {"a"})
    await only.stop()


async def test_work_that_ignores_its_release_is_cancelled_then_abandoned() -> None:
    leases, stubborn, finish = InMemoryLeaseStore(), asyncio.Event(), asyncio.Event()

    async def ignore_release(release: asyncio.Event) -> None:
        while not finish.is_set():
            try:
                await finish.wait()
            except asyncio.CancelledError:  # swallowed, as a buggy library might
                stubborn.set()

    holder = LeasedTask(
        "marks", leases=leases, owner="a", ttl_ms=TTL_MS, work=ignore_release, grace_s=0.05
    )
    await holder.start()
    await wait_until(lambda: holder.holding)

    await asyncio.wait_for(holder.stop(), timeout=2)

    assert stubborn.is_set() and not holder.holding
    assert await leases.holder("marks") is None
    finish.set()  # let the abandoned work end before the test's loop does
    await asyncio.sleep(0)


async def test_lost_lease_stops_the_work() -> None:
    leases, work = InMemoryLeaseStore(), Work()
    lost: list[bool] = []
    holder = LeasedTask(
        "marks",
        leases=leases,
        owner="a",
        ttl_ms=TTL_MS,
        work=work.for_owner("a"),
        on_lost=lambda: lost.append(True),
    )
    await holder.start()
    await wait_until(lambda: work.running == {"a"})

    await leases.release("marks", "a")  # as if it expired...
    await leases.acquire("marks", "intruder", 10_000)  # ...and another instance took it

    await wait_until(lambda: work.running == set() and not holder.holding)
    assert lost == [True]
    await holder.stop()
