"""Resting orders (set-up of rows 1, 2 and 5), row 4 (fill -> position) and row 5 (freeze ->
venue flat)."""

from __future__ import annotations

import asyncio
import time
from functools import partial

from bench.e2e_client import CallFailed, call, last_position_id, next_position
from bench.e2e_load import gather_limited
from bench.e2e_orders import Body, for_account, marketable, resting
from bench.e2e_run import Ctx, Figures, Measure
from bench.e2e_table import percentile

RESTING_BATCH = 20
RESTING_CONCURRENCY = 8
RESTING_TIMEOUT_S = 60.0
POSITION_TIMEOUT_S = 10.0
FLAT_TIMEOUT_S = 30.0
FLAT_POLL_S = 0.005


async def place_resting(ctx: Ctx, count: int) -> None:
    """Place `count` GTC orders 3-4% from the mid through the gateway (batches of 20),
    spread evenly over the symbols and sides, and over the accounts batch by batch (batch j
    is account j mod N's); wait until the venue holds all of them (over every account).
    Raises if that takes more than RESTING_TIMEOUT_S."""
    symbols = len(ctx.insts)
    bodies = [resting(ctx.insts[i % symbols], i // symbols, ctx.ids()) for i in range(count)]
    chunks = [bodies[i : i + RESTING_BATCH] for i in range(0, count, RESTING_BATCH)]
    for j, chunk in enumerate(chunks):
        for body in chunk:
            for_account(body, ctx.account(j))

    async def send(chunk: list[Body]) -> None:
        while True:  # a shed (429) or failed (5xx) batch is sent again: same ids, no doubles
            try:
                await call(ctx.http, "POST", ctx.gateway.batch_url, {"orders": chunk})
                return
            except CallFailed:
                await asyncio.sleep(0.2)

    async def place() -> None:
        await gather_limited([partial(send, c) for c in chunks], RESTING_CONCURRENCY)
        while True:
            if await ctx.sim.open_orders() >= count:
                return
            await asyncio.sleep(0.1)

    try:
        await asyncio.wait_for(place(), RESTING_TIMEOUT_S)
    except TimeoutError:
        held = await ctx.sim.open_orders()
        raise RuntimeError(
            f"{held:,} of {count:,} resting orders at the venue after {RESTING_TIMEOUT_S:.0f} s"
        ) from None


def fill_to_position(*, samples: int) -> Measure:
    """Sequential Market orders on the first symbol, Buy then Sell (the position goes
    qty, 0, qty, ...). For each: the simulator's execNs -> the envelope ts_ns of the first
    PositionUpdated with the new qty (when positions published it), and -> when our XREAD
    on positions.updates returned it."""

    async def measure(ctx: Ctx) -> Figures:
        inst = ctx.insts[0]
        start_ns = time.time_ns()
        seen: dict[str, tuple[int, int]] = {}
        lost = 0
        for i in range(samples):
            side = "Buy" if i % 2 == 0 else "Sell"
            expected = inst.qty if side == "Buy" else 0
            after = await last_position_id(ctx.redis)
            cid = ctx.ids()
            await ctx.gateway.place(marketable(inst, side, cid))
            got = await next_position(
                ctx.redis, after, inst.symbol, str(expected), POSITION_TIMEOUT_S
            )
            if got is None:
                lost += 1
                if lost > 2:
                    raise RuntimeError(f"{lost} fills got no position update within 10 s")
                continue
            seen[cid] = got
            await asyncio.sleep(0.05)
        executions = (await ctx.sim.receipts(start_ns))["executions"]
        exec_ns: dict[str, int] = {}
        for e in executions:
            exec_ns.setdefault(e["orderLinkId"], int(e["execNs"]))
        published = [(p - exec_ns[c]) / 1e6 for c, (p, _) in seen.items() if c in exec_ns]
        read = [(r - exec_ns[c]) / 1e6 for c, (_, r) in seen.items() if c in exec_ns]
        if lost:
            ctx.notes.append(f"{lost} of {samples} fills got no position update")
        if not published:
            raise RuntimeError("no fill was measured")
        return {
            "published_p50": percentile(published, 50),
            "published_p99": percentile(published, 99),
            "read_p50": percentile(read, 50),
            "read_p99": percentile(read, 99),
        }

    return measure


def freeze_to_flat(*, resting_orders: int) -> Measure:
    """Rest `resting_orders` on every symbol, POST /v1/risk/freeze, then poll the
    simulator every 5 ms until it holds no open order: ms from the POST to that answer."""

    async def measure(ctx: Ctx) -> Figures:
        await place_resting(ctx, resting_orders)
        started = time.perf_counter()
        await ctx.gateway.freeze("bench-e2e: freeze -> venue flat")
        answered = time.perf_counter()
        deadline = started + FLAT_TIMEOUT_S
        while (open_orders := await ctx.sim.open_orders()) > 0:
            if time.perf_counter() > deadline:
                raise RuntimeError(f"{open_orders} orders still open {FLAT_TIMEOUT_S:.0f} s on")
            await asyncio.sleep(FLAT_POLL_S)
        flat = time.perf_counter()
        ctx.notes.append(f"the freeze POST answered in {(answered - started) * 1000:.0f} ms")
        return {"flat_ms": (flat - started) * 1000}

    return measure
