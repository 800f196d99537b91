"""Freeze at scale (`make bench-freeze`): 1,000 resting orders on 10 symbols, 3 routers, new
orders still flowing, the simulator answering in 0 ms and in 200 ms; one table.

Each run on a fresh stack (its own redis-server, simulator, risk, positions, gateway and three
router processes). The run:

1. rests 1,000 GTC orders spread over the 10 symbols (through the gateway, batches of 20);
2. sets the simulator's latency on every private call (creates, cancels, listings);
3. keeps placing: a batch of one resting order per symbol every 50 ms (200 orders/s), from
   1 s before the freeze until 1 s after every router confirmed it flat;
4. `POST /v1/risk/freeze`; the answer is "freeze acknowledged";
5. polls `/sim/health` every 5 ms until no order is open: "freeze -> venue flat";
6. waits for the three routers' confirmations (`freeze_flat_key`), then reads the
   simulator's receipts: orders it created after the acknowledgement (sends already in
   flight), after it was first seen flat, after the first and after the last confirmation,
   and orders still open at the end.

Targets (issue 9): flat in <= 100 ms at 0 ms, <= 1 s at 200 ms; 0 orders created after the
sweep confirmed, 0 left resting.

    python -m bench.freeze [--runs 3] [--repo PATH]
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import statistics
import sys
import time
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from bench.e2e_client import CallFailed, call
from bench.e2e_events import place_resting
from bench.e2e_orders import resting
from bench.e2e_run import Ctx, Options, fresh_stack
from bench.e2e_stack import REPO_ROOT, LoadProfile, new_log_dir, stop_all
from libs.common import topology
from libs.common.tasks import wait_or_timeout

SYMBOLS = (
    "BTCUSDT",
    "ETHUSDT",
    "SOLUSDT",
    "XRPUSDT",
    "DOGEUSDT",
    "ADAUSDT",
    "AVAXUSDT",
    "LINKUSDT",
    "LTCUSDT",
    "BNBUSDT",
)
ROUTERS = 3
RESTING = 1_000
LATENCIES_MS = (0, 200)
FEED_EVERY_S = 0.05
FLAT_POLL_S = 0.005
TIMEOUT_S = 30.0
RUN_TIMEOUT_S = 240.0
FIGURES = (
    ("freeze acknowledged (POST answered)", "ack_ms", "ms"),
    ("freeze -> venue flat", "flat_ms", "ms"),
    ("freeze -> last router confirmed flat", "confirmed_ms", "ms"),
    ("orders created at the venue after the acknowledgement", "after_ack", ""),
    ("  of which after the venue was first seen flat", "after_flat", ""),
    ("  of which after the first router confirmed", "after_first", ""),
    ("  of which after the last router confirmed", "after_last", ""),
    ("orders open at the venue at the end", "left_open", ""),
)


async def feed(ctx: Ctx, stop: asyncio.Event) -> int:
    """Place one resting order per symbol every FEED_EVERY_S until `stop`; the count sent
    (after the freeze risk denies them: they are sent all the same)."""
    sent, n = 0, 10_000
    while not stop.is_set():
        bodies = [resting(inst, n, ctx.ids()) for inst in ctx.insts]
        n += 1
        with contextlib.suppress(CallFailed):
            await call(ctx.http, "POST", ctx.gateway.batch_url, {"orders": bodies})
            sent += len(bodies)
        await wait_or_timeout(stop, FEED_EVERY_S)
    return sent


async def confirmations(ctx: Ctx) -> list[int]:
    """The ns at which each router confirmed the current freeze flat (waits for all)."""
    state: Any = await ctx.redis.hgetall(topology.FREEZE_KEY)
    key = topology.freeze_flat_key(state[b"generation"].decode(), int(state[b"epoch"]))
    deadline = time.monotonic() + TIMEOUT_S
    while True:
        found: Any = await ctx.redis.hgetall(key)
        if len(found) >= ROUTERS:
            return sorted(int(v) for v in found.values())
        if time.monotonic() > deadline:
            raise RuntimeError(f"{len(found)} of {ROUTERS} routers confirmed flat in time")
        await asyncio.sleep(0.01)


async def measure(ctx: Ctx, latency_ms: int) -> dict[str, float]:
    await place_resting(ctx, RESTING)
    await call(ctx.http, "POST", f"{ctx.sim.base}/sim/faults", {"latencyMs": latency_ms})
    stop = asyncio.Event()
    feeder = asyncio.create_task(feed(ctx, stop))
    await asyncio.sleep(1.0)
    started_ns = time.time_ns()
    await ctx.gateway.freeze("bench-freeze")
    acked_ns = time.time_ns()
    while (still := await ctx.sim.open_orders()) > 0:
        if time.time_ns() - started_ns > TIMEOUT_S * 1e9:
            raise RuntimeError(f"{still} orders still open {TIMEOUT_S:.0f} s after the freeze")
        await asyncio.sleep(FLAT_POLL_S)
    flat_ns = time.time_ns()
    confirmed = await confirmations(ctx)
    await asyncio.sleep(1.0)
    stop.set()
    ctx.notes.append(f"{await feeder} orders offered during the run")
    await asyncio.sleep(1.0)
    received = [int(o["receivedNs"]) for o in (await ctx.sim.receipts(acked_ns))["orders"]]
    return {
        "ack_ms": (acked_ns - started_ns) / 1e6,
        "flat_ms": (flat_ns - started_ns) / 1e6,
        "confirmed_ms": (confirmed[-1] - started_ns) / 1e6,
        "after_ack": len(received),
        "after_flat": sum(r > flat_ns for r in received),
        "after_first": sum(r > confirmed[0] for r in received),
        "after_last": sum(r > confirmed[-1] for r in received),
        "left_open": await ctx.sim.open_orders(),
    }


async def run(opts: Options, latency_ms: int, index: int) -> dict[str, Any]:
    profile = LoadProfile(symbols=SYMBOLS, routers=ROUTERS)
    name = f"freeze-{latency_ms}ms-{index}"
    try:
        async with asyncio.timeout(RUN_TIMEOUT_S):
            async with fresh_stack(opts, name, 64, profile) as ctx:
                figures: dict[str, Any] = await measure(ctx, latency_ms)
                figures["notes"] = ctx.notes
                return figures
    except Exception as error:
        return {"error": f"{type(error).__name__}: {error}"[:200]}


def table(results: dict[int, list[dict[str, Any]]]) -> list[str]:
    """One column per latency: the median of the runs, with min-max."""
    lines = [
        "",
        f"freeze at scale: {RESTING:,} resting on {len(SYMBOLS)} symbols, {ROUTERS} routers",
    ]
    header = f"{'':56}" + "".join(f"{f'sim {lat} ms':>24}" for lat in results)
    lines.append(header)
    for label, key, unit in FIGURES:
        cells = []
        for runs in results.values():
            values = [r[key] for r in runs if key in r]
            if not values:
                cells.append(f"{'-':>24}")
                continue
            mid = statistics.median(values)
            spread = f" ({min(values):.0f}-{max(values):.0f})" if len(values) > 1 else ""
            cells.append(f"{f'{mid:.0f}{unit}{spread}':>24}")
        lines.append(f"{label:56}" + "".join(cells))
    for lat, runs in results.items():
        for i, r in enumerate(runs, 1):
            said = r.get("error") or "; ".join(r.get("notes", []))
            if said:
                lines.append(f"  sim {lat} ms, run {i}: {said}")
    return lines


async def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench.freeze", description=__doc__)
    parser.add_argument("--runs", type=int, default=3, help="runs per latency (default 3)")
    parser.add_argument("--repo", type=Path, default=REPO_ROOT, help="engine checkout to run")
    args = parser.parse_args(argv)
    opts = Options(runs=args.runs, quick=False, engine_repo=args.repo, log_dir=new_log_dir())
    print(f"service logs: {opts.log_dir}", flush=True)
    results: dict[int, list[dict[str, Any]]] = {}
    try:
        for latency_ms in LATENCIES_MS:
            for i in range(args.runs):
                outcome = await run(opts, latency_ms, i + 1)
                results.setdefault(latency_ms, []).append(outcome)
                print(f"sim {latency_ms} ms, run {i + 1}: {outcome}", flush=True)
    finally:
        stop_all()
    print("\n".join(table(results)))
    failed = any("error" in r for runs in results.values() for r in runs)
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(asyncio.run(main()))
