"""Load generators: open-loop arrivals at a fixed rate, independent of the answers.

`open_loop` schedules request i at `start + i / rate` and fires it as its own task over a
keep-alive pool; a request that finds every connection busy waits for one in the client,
so the offered rate never bends to the engine's answers. Each request's outcome is kept
with its scheduled time, so latency is measured from when the request was due (no
coordinated omission).
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field

import aiohttp

from bench.e2e_client import post_status
from bench.e2e_orders import Body
from libs.common.tasks import cancel_and_wait

Request = tuple[str, Body, tuple[str, ...]]
"""(url, body, the clientOrderIds in it)."""
MakeRequest = Callable[[int], Request]


@dataclass(frozen=True, slots=True)
class Outcome:
    """One request: when it was due and when it was answered (wall-clock ns), and how."""

    due_ns: int
    done_ns: int
    status: int
    """HTTP status; 0 when the request failed or was cancelled."""
    ids: tuple[str, ...]
    """The clientOrderIds it carried."""


@dataclass
class LoadResult:
    """Every request fired, and how late the scheduler fell behind at worst."""

    outcomes: list[Outcome] = field(default_factory=list)
    max_lag_ms: float = 0.0
    dropped: int = 0
    """Arrivals not sent because `max_outstanding` requests were already out."""

    def statuses(self) -> dict[int, int]:
        """Requests by HTTP status (0: no answer)."""
        found: dict[int, int] = {}
        for o in self.outcomes:
            found[o.status] = found.get(o.status, 0) + 1
        return found

    def count(self, statuses: tuple[int, ...], start_ns: int, end_ns: int) -> int:
        """Orders in requests answered with one of `statuses` within [start_ns, end_ns)."""
        return sum(
            len(o.ids)
            for o in self.outcomes
            if o.status in statuses and start_ns <= o.done_ns < end_ns
        )


async def open_loop(
    http: aiohttp.ClientSession,
    make: MakeRequest,
    *,
    rate: float,
    duration_s: float,
    drain_s: float,
    max_outstanding: int | None = None,
) -> LoadResult:
    """Fire `rate` requests per second for `duration_s`; then wait up to `drain_s` for the
    answers still out, and cancel the rest (their status is 0). With `max_outstanding`, an
    arrival that finds that many requests out (sent, or waiting for a connection) is
    dropped and counted instead: the client stays cheap however far the offer exceeds
    what the server takes."""
    result = LoadResult()
    tasks: list[asyncio.Task[None]] = []
    outstanding = 0

    async def fire(request: Request, due_ns: int) -> None:
        nonlocal outstanding
        url, body, ids = request
        status = 0
        try:
            status = await post_status(http, url, body)
        except (aiohttp.ClientError, TimeoutError):
            status = 0
        finally:
            outstanding -= 1
            result.outcomes.append(Outcome(due_ns, time.time_ns(), status, ids))

    start = time.perf_counter()
    start_ns = time.time_ns()
    total = int(rate * duration_s)
    for i in range(total):
        due = i / rate
        delay = start + due - time.perf_counter()
        if delay > 0:
            await asyncio.sleep(delay)
        else:
            result.max_lag_ms = max(result.max_lag_ms, -delay * 1000)
        if max_outstanding is not None and outstanding >= max_outstanding:
            result.dropped += 1
            continue
        outstanding += 1
        tasks.append(asyncio.create_task(fire(make(i), start_ns + int(due * 1e9))))
    await _settle(tasks, drain_s)
    return result


async def _settle(tasks: list[asyncio.Task[None]], drain_s: float) -> None:
    if not tasks:
        return
    _, pending = await asyncio.wait(tasks, timeout=drain_s)
    for task in pending:
        await cancel_and_wait(task)


async def gather_limited(jobs: list[Callable[[], Awaitable[None]]], limit: int) -> None:
    """Run `jobs` with at most `limit` at once."""
    gate = asyncio.Semaphore(limit)

    async def run(job: Callable[[], Awaitable[None]]) -> None:
        async with gate:
            await job()

    await asyncio.gather(*(run(job) for job in jobs))
