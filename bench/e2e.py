"""End-to-end benchmark: the whole stack (redis-server, simulator, risk, router, positions,
gateway) under load, one table of figures.

    python -m bench.e2e [--runs 3] [--quick] [--repo PATH] [--rows single,batch,...]
                        [--durable-redis] [--cluster] [--accounts N]

Rows: 1 throughput of single POSTs and 2 of batches (orders that reached the venue per
second, and gateway-accepted per second), with 0 and 5,000 resting orders; 3 latency at a
paced 100, 500 and 1,000 orders/s (gateway accept -> venue receipt, and the client's round
trip of `POST /v1/orders?wait=true`); 4 fill -> position; 5 freeze -> venue flat with
1,000 resting orders; 6 CPU share of every process during rows 1 and 2. Each line is the
median of `--runs` runs, each on a freshly started stack, with min-max.

`--repo PATH` runs the engine services from another checkout (before/after comparisons);
the simulator and this script always run from this checkout.

`--cluster` runs the stack on a local Redis Cluster of 3 primaries with a replica each
(`libs.common.redis_cluster`, `REDIS_URL=redis+cluster://...`) instead of one redis-server;
row 6 then lists each node (`redis-1` to `redis-3`: the primaries of shards 1-3, numbered by
their slots; `redis-1r` ...: their replicas), and rows 1 and 2 add each shard's share of the
commands the primaries processed in the window (each primary's INFO stats
`total_commands_processed` before and after it, on a plain client per node; the commands a
script runs count, each one), the primaries' commands/s, and each primary's CPU. The notes
say which shard serves each account.

`--accounts N` (default 1) gives the desk N accounts (`default`, `alpha`, `beta`, ...: on a
3-primary cluster the first three hash to three different shards), each with its own
simulator key pair; rows 1-3 send request i for account i mod N (a batch's 20 orders are all
of one account) and the resting orders go batch by batch round-robin over them; row 4 trades
the `default` account, and row 5's freeze is the desk's (every account).
"""

from __future__ import annotations

import argparse
import asyncio
import os
import signal
import subprocess
import sys
import time
from collections.abc import Coroutine, Sequence
from pathlib import Path

import uvloop

from bench.e2e_events import fill_to_position, freeze_to_flat
from bench.e2e_run import Measure, Options, run_once
from bench.e2e_stack import (
    CLUSTER_PRIMARIES,
    REPO_ROOT,
    STOP_GRACE_S,
    SYMBOLS,
    new_log_dir,
    stop_all,
)
from bench.e2e_table import Line, Row, render
from bench.e2e_throughput import (
    BATCH_CONNECTIONS,
    BATCH_SIZE,
    OFFER_BATCH_PER_S,
    OFFER_SINGLE_PER_S,
    SINGLE_CONNECTIONS,
    latency,
    throughput,
)
from libs.common.accounts import MAX_ACCOUNTS

ROW_NAMES = {"1": "single", "2": "batch", "3": "latency", "4": "fill", "5": "freeze"}
LATENCY_RATES = (100, 500, 1_000)
FREEZE_RESTING = 1_000
START_S = 60.0
"""Start-up allowance of a run (the stack itself gives up after 60 s)."""
SKIP_AFTER_S = 60.0


def parse(argv: Sequence[str] | None) -> argparse.Namespace:
    """The command line."""
    parser = argparse.ArgumentParser(prog="python -m bench.e2e", description=__doc__)
    parser.add_argument("--runs", type=int, default=3, help="runs per row (default 3)")
    parser.add_argument("--quick", action="store_true", help="1 run, short windows: a smoke check")
    parser.add_argument("--repo", type=Path, default=REPO_ROOT, help="engine checkout to run")
    parser.add_argument(
        "--durable-redis",
        action="store_true",
        help="Redis with an AOF fsynced before every acknowledged write (appendfsync always)",
    )
    parser.add_argument(
        "--cluster",
        action="store_true",
        help=f"run on a local Redis Cluster of {CLUSTER_PRIMARIES} primaries with a replica "
        "each (no persistence) instead of one redis-server; rows 1 and 2 add each shard's "
        "share of the commands",
    )
    parser.add_argument(
        "--accounts",
        type=int,
        default=1,
        help="accounts of the desk (default 1): default, alpha, beta, ...; the load goes "
        "round-robin over them, a batch's orders all of one account",
    )
    parser.add_argument(
        "--rows",
        default="single,batch,latency,fill,freeze",
        help="rows to run, by name or number: single (1), batch (2), latency (3), fill (4), "
        "freeze (5); CPU (6) comes with single and batch",
    )
    args = parser.parse_args(argv)
    args.rows = {ROW_NAMES.get(r.strip(), r.strip()) for r in args.rows.split(",") if r.strip()}
    unknown = args.rows - set(ROW_NAMES.values())
    if unknown:
        parser.error(f"unknown rows {sorted(unknown)}: expected {sorted(ROW_NAMES.values())}")
    if args.runs < 1:
        parser.error("--runs must be at least 1")
    if not 1 <= args.accounts <= MAX_ACCOUNTS:
        parser.error(f"--accounts must be 1 to {MAX_ACCOUNTS}")
    if args.cluster and args.durable_redis:
        parser.error("--cluster runs without persistence: not with --durable-redis")
    if not (args.repo / "services" / "gateway").is_dir():
        parser.error(f"--repo {args.repo} is not a checkout of mmx (no services/gateway)")
    return args


Planned = tuple[str, Row, Measure, int, float]
"""(a name for logs, the row, its measurement, client connections, timeout of one run in s)."""


def plan(opts: Options, rows: set[str]) -> tuple[list[Planned], list[Row]]:
    """The rows to run, and the CPU rows (6) that read the throughput rows' runs."""
    planned: list[Planned] = []
    cpu_rows: list[Row] = []
    resting = 1_000 if opts.quick else 5_000
    window = opts.window_s + opts.warmup_s
    for number, name, batch in (("1", "single", False), ("2", "batch", True)):
        if name not in rows:
            continue
        kind = "batches of 20" if batch else "single POSTs"
        for count in (0, resting):
            row = Row(
                number,
                f"{kind}, {count:,} resting{_desk(opts)}",
                [
                    Line("orders at the venue", "venue", "/s"),
                    Line("accepted by the gateway", "accepted", "/s"),
                    *(_shard_lines() if opts.cluster else []),
                ],
            )
            measure = throughput(
                batch=batch, resting=count, window_s=opts.window_s, warmup_s=opts.warmup_s
            )
            connections = BATCH_CONNECTIONS if batch else SINGLE_CONNECTIONS
            slug = f"{name}-{count}"
            planned.append((slug, row, measure, connections, START_S + 150 + window))
            title = f"CPU % of one core, {row.title}"
            cpu_rows.append(Row("6", title, [], row.outcomes, notes=False))
    if "latency" in rows:
        for rate in LATENCY_RATES:
            row = Row(
                "3",
                f"latency at {rate:,}/s offered{_desk(opts)}",
                [
                    Line("internal p50 (accept -> venue)", "internal_p50", "ms"),
                    Line("internal p99", "internal_p99", "ms"),
                    Line("client p50 (POST ?wait=true)", "client_p50", "ms"),
                    Line("client p99", "client_p99", "ms"),
                    Line("venue intake (first -> last receipt)", "intake", "/s"),
                ],
            )
            measure = latency(rate=rate, window_s=opts.window_s)
            planned.append((f"latency-{rate}", row, measure, 512, START_S + opts.window_s + 70))
    if "fill" in rows:
        samples = 10 if opts.quick else 40
        row = Row(
            "4",
            f"fill -> position, {samples} sequential fills",
            [
                Line("p50 (venue exec -> PositionUpdated ts)", "published_p50", "ms"),
                Line("p99", "published_p99", "ms"),
                Line("p50 (venue exec -> our XREAD)", "read_p50", "ms"),
                Line("p99 (read)", "read_p99", "ms"),
            ],
        )
        measure = fill_to_position(samples=samples)
        planned.append(("fill", row, measure, 8, START_S + samples * 11))
    if "freeze" in rows:
        row = Row(
            "5",
            f"freeze -> venue flat, {FREEZE_RESTING:,} resting on {len(SYMBOLS)} symbols",
            [Line("POST /v1/risk/freeze -> no open order", "flat_ms", "ms")],
        )
        measure = freeze_to_flat(resting_orders=FREEZE_RESTING)
        planned.append(("freeze", row, measure, 16, START_S + 150))
    return planned, cpu_rows


def _desk(opts: Options) -> str:
    """What a row's title says of the Redis and the accounts when they are not the default."""
    said = [f"{CLUSTER_PRIMARIES}-shard cluster"] if opts.cluster else []
    said += [f"{opts.accounts} accounts"] if opts.accounts > 1 else []
    return f" ({', '.join(said)})" if said else ""


def _shard_lines() -> list[Line]:
    """Each shard's share of the commands the primaries processed, their total, and each
    primary's CPU (rows 1 and 2 on a cluster)."""
    shares = [
        Line(f"shard {n} commands (share)", f"shard:{n}", "%")
        for n in range(1, CLUSTER_PRIMARIES + 1)
    ]
    cpu = [
        Line(f"shard {n} primary CPU (redis-{n})", f"cpu:redis-{n}", "%")
        for n in range(1, CLUSTER_PRIMARIES + 1)
    ]
    return [*shares, Line("commands on the primaries", "shard_commands", "/s"), *cpu]


def cpu_lines(row: Row) -> list[Line]:
    """Row 6's lines: every process its runs measured (`cpu:<name>` figures), in the order
    the stack lists them (`BenchStack.pids`, then the load generator)."""
    names: dict[str, None] = {}
    for outcome in row.outcomes:
        names |= dict.fromkeys(k.removeprefix("cpu:") for k in outcome.figures if k[:4] == "cpu:")
    return [Line(name, f"cpu:{name}", "%") for name in names] or [Line("every process", "-", "%")]


def preamble(opts: Options) -> list[str]:
    """What ran, under which load profile and method: printed above the table."""
    head = _git_head(opts.engine_repo)
    load = os.getloadavg()
    return [
        f"mmx end-to-end benchmark: {opts.runs} run(s) per row, each on a fresh stack",
        f"engine (risk, router, positions, gateway) from {opts.engine_repo} at {head}; "
        f"simulator and bench from {REPO_ROOT}",
        f"machine: {os.cpu_count()} cores, load average at start {load[0]:.2f}",
        "load profile (every raised limit):",
        *(f"  {line}" for line in opts.profile().lines()),
        "method:",
        f"  symbols: {', '.join(SYMBOLS)}: all {len(SYMBOLS)} linear symbols the simulator "
        "lists (row 5 asks for 10; there are only these); market frozen, mids at catalogue",
        "  load orders: Limit IOC 1% from the mid (non-marketable, inside the 5% band); the "
        "venue cancels each at once, so the resting count stays constant",
        "  resting orders: GTC Limit 3-4% from the mid, both sides, evenly over the symbols, "
        "placed through the gateway in batches of 20 before the window",
        f"  throughput: open loop, {OFFER_SINGLE_PER_S:,} single POSTs/s on "
        f"{SINGLE_CONNECTIONS} keep-alive connections, or {OFFER_BATCH_PER_S} batches/s of "
        f"{BATCH_SIZE} on {BATCH_CONNECTIONS} (an arrival finding twice that many requests out "
        f"is dropped in the client and counted); {opts.warmup_s} s warm-up, then a "
        f"{opts.window_s} s window: orders the simulator received in it (its receivedNs) / s, "
        "orders in requests the gateway answered 200/202 in it / s",
        f"  latency: paced open loop for {opts.window_s} s; internal = order record "
        "created_ts_ns -> simulator receivedNs (inf: never arrived); client = due time -> "
        "answer of POST /v1/orders?wait=true",
        "  fill -> position: Market orders one at a time; simulator execNs -> envelope ts_ns "
        "of the positions.updates entry with the new qty, and -> our XREAD of it (p99 of "
        "a few dozen samples is about their maximum)",
        "  freeze: POST /v1/risk/freeze, then GET /sim/health every 5 ms until openOrders is 0",
        "  CPU: /proc/<pid>/stat utime+stime over the throughput window, % of one core",
        *_method_of_desk(opts),
        f"  every run: new {_redis(opts)}, simulator and services on free ports; "
        f"stopped with SIGTERM, SIGKILL {STOP_GRACE_S:.0f} s later (noted when needed)",
        f"service logs: {opts.log_dir}",
    ]


def _redis(opts: Options) -> str:
    if opts.cluster:
        return f"Redis Cluster ({CLUSTER_PRIMARIES} primaries, 1 replica each, no persistence)"
    fsync = "AOF, appendfsync always" if opts.durable_redis else "no persistence"
    return f"redis-server ({fsync})"


def _method_of_desk(opts: Options) -> list[str]:
    """How the accounts and the shards are measured, when they are in play."""
    said = []
    if opts.accounts > 1:
        said.append(
            f"  accounts: request i (a single POST, or a batch of {BATCH_SIZE} all of one "
            f"account) trades for account i mod {opts.accounts}; resting orders batch by batch "
            "likewise; row 4 trades default, row 5 freezes the desk"
        )
    if opts.cluster:
        said.append(
            "  shards: INFO stats total_commands_processed of each primary (a plain client per "
            "node) at the start and end of the throughput window (every command a script "
            "runs counts); each primary's share of the primaries' total, and that total / s; "
            "shard n = the primary of the n-th slot range (redis-n; redis-nr its replica)"
        )
    return said


def _git_head(repo: Path) -> str:
    try:
        found = subprocess.run(
            ["git", "-C", str(repo), "rev-parse", "--short", "HEAD"],
            capture_output=True,
            text=True,
            timeout=10,
            check=True,
        )
    except (OSError, subprocess.SubprocessError):
        return "an unknown commit"
    return f"commit {found.stdout.strip()} (+ any uncommitted changes)"


async def run_all(opts: Options, planned: list[Planned]) -> None:
    """Every run of every row, run-major (run 1 of every row, then run 2, ...). A row whose
    run failed after more than SKIP_AFTER_S is not run again (it would only fail as slowly)."""
    for run in range(1, opts.runs + 1):
        for name, row, measure, connections, timeout_s in planned:
            if row.stopped:
                continue
            started = time.monotonic()
            outcome = await run_once(
                opts, f"{name}-run{run}", measure, connections=connections, timeout_s=timeout_s
            )
            row.outcomes.append(outcome)
            took = time.monotonic() - started
            if outcome.error and took > SKIP_AFTER_S and run < opts.runs:
                row.stopped = True
                outcome.notes.append("the row's later runs were skipped")
            status = outcome.error or ", ".join(
                f"{k} {v:.1f}" for k, v in outcome.figures.items() if not k.startswith("cpu:")
            )
            said = f"  run {run} of row {row.number}, {row.title}: {status} ({took:.0f} s)"
            print(said, file=sys.stderr, flush=True)


async def interruptible(work: Coroutine[None, None, None]) -> None:
    """Run `work`; SIGINT or SIGTERM cancels it, so every run stops its stack on the way."""
    loop = asyncio.get_running_loop()
    task = asyncio.ensure_future(work)
    for sig in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(sig, task.cancel)
    await task


def main(argv: Sequence[str] | None = None) -> None:
    """Run the selected rows and print the load profile, then the table."""
    args = parse(argv)
    opts = Options(
        runs=1 if args.quick else args.runs,
        quick=args.quick,
        engine_repo=args.repo.resolve(),
        log_dir=new_log_dir(),
        durable_redis=args.durable_redis,
        cluster=args.cluster,
        accounts=args.accounts,
    )
    planned, cpu_rows = plan(opts, args.rows)
    lines = preamble(opts)
    print("\n".join(lines), flush=True)
    started = time.monotonic()
    try:
        uvloop.run(interruptible(run_all(opts, planned)))
    except (KeyboardInterrupt, asyncio.CancelledError):
        print("interrupted: the table holds the runs done so far", flush=True)
    finally:
        stop_all()
    for row in cpu_rows:
        row.lines = cpu_lines(row)
    print()
    print(render([row for _, row, *_ in planned] + cpu_rows))
    took = time.monotonic() - started
    print(f"\ntook {took:.0f} s; load average at the end {os.getloadavg()[0]:.2f}")


if __name__ == "__main__":
    main()
