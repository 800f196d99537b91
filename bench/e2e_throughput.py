"""Rows 1-3 and 6: sustained throughput (single POSTs, batches; with CPU shares and, on a
cluster, each shard's share of the commands) and latency at a paced offered rate.

Load orders are Limit IOC orders 1% from the mid (non-marketable, inside risk's 5% band):
the venue cancels each at once, so the number of resting orders stays what the row set up.
Request i trades for account i mod N (`Ctx.account`): a batch's orders are all of one account.
"""

from __future__ import annotations

import asyncio
import math
import time

from bench.e2e_client import created_ns
from bench.e2e_events import place_resting
from bench.e2e_load import LoadResult, Request, open_loop
from bench.e2e_orders import Body, for_account, ioc_away
from bench.e2e_run import Ctx, Figures, Measure
from bench.e2e_table import percentile
from libs.common.domain.ids import AccountId

BATCH_SIZE = 20
"""Orders per `POST /v1/orders/batch` (the gateway's batch_max_orders default)."""
OFFER_SINGLE_PER_S = 1_000
"""Offered single POSTs per second (orders/s): several times what the stack takes."""
OFFER_BATCH_PER_S = 150
"""Offered batches per second (x 20 = 3,000 orders/s)."""
SINGLE_CONNECTIONS = 64
BATCH_CONNECTIONS = 16
WAIT_MS = 2_000
"""The gateway's default `?wait=true` wait (wait_default_ms)."""
SETTLE_TIMEOUT_S = 25.0
"""How long a latency run waits for its accepted orders to reach the venue."""


def throughput(*, batch: bool, resting: int, window_s: float, warmup_s: float) -> Measure:
    """Offer more than the stack takes for warmup + window; count over the window the orders
    the simulator received, and those the gateway accepted; CPU of each process over it and,
    on a cluster, each primary's share of the commands the primaries processed in it."""

    async def measure(ctx: Ctx) -> Figures:
        if resting:
            await place_resting(ctx, resting)
        size = BATCH_SIZE if batch else 1
        url = ctx.gateway.batch_url if batch else ctx.gateway.orders_url
        rate = OFFER_BATCH_PER_S if batch else OFFER_SINGLE_PER_S

        def make(i: int) -> Request:
            account = ctx.account(i)
            bodies = [_load_order(ctx, i * size + k, account) for k in range(size)]
            ids = tuple(str(b["clientOrderId"]) for b in bodies)
            return url, ({"orders": bodies} if batch else bodies[0]), ids

        start_ns = time.time_ns()
        w0, w1 = start_ns + int(warmup_s * 1e9), start_ns + int((warmup_s + window_s) * 1e9)
        cpu = asyncio.create_task(_usage_between(ctx, warmup_s, window_s))
        load = await open_loop(
            ctx.http,
            make,
            rate=rate,
            duration_s=warmup_s + window_s,
            drain_s=1.0,
            max_outstanding=2 * _connections(batch),
        )
        cpu_share = await cpu
        held = await ctx.sim.open_orders()
        if held != resting:
            ctx.notes.append(f"{held:,} orders open at the venue after the load, not {resting:,}")
        received = await ctx.sim.received_ns(start_ns)
        venue = sum(1 for ns in received.values() if w0 <= ns < w1) / window_s
        accepted = load.count((200, 202), w0, w1) / window_s
        offered = rate * size
        spread = f", round-robin over {len(ctx.accounts)} accounts" if len(ctx.accounts) > 1 else ""
        ctx.notes.append(f"offered {offered}/s on {_connections(batch)} connections{spread}")
        if load.dropped:
            ctx.notes.append(f"{load.dropped} arrivals dropped in the client (backlog full)")
        _note_statuses(ctx, load)
        if venue > 0.9 * offered:
            ctx.notes.append("NOT saturated: the venue took >90% of the offer")
        return {"venue": venue, "accepted": accepted} | cpu_share

    return measure


def _connections(batch: bool) -> int:
    return BATCH_CONNECTIONS if batch else SINGLE_CONNECTIONS


def _load_order(ctx: Ctx, n: int, account: AccountId) -> Body:
    body = ioc_away(ctx.insts[n % len(ctx.insts)], n // len(ctx.insts), ctx.ids())
    return for_account(body, account)


async def _usage_between(ctx: Ctx, warmup_s: float, window_s: float) -> Figures:
    """% of one core each process used over the window (`cpu:<process>`); on a cluster,
    each primary's share in % of the commands all primaries processed over it
    (`shard:<n>`: INFO stats total_commands_processed, after minus before) and their sum
    per second (`shard_commands`)."""
    await asyncio.sleep(warmup_s)
    commands_before = await ctx.shard_commands()
    before, t0 = ctx.cpu(), time.monotonic()
    await asyncio.sleep(window_s)
    after, elapsed = ctx.cpu(), time.monotonic() - t0
    commands_after = await ctx.shard_commands()
    figures = {f"cpu:{name}": (after[name] - before[name]) / elapsed * 100 for name in before}
    done = {n: commands_after[n] - commands_before[n] for n in commands_before}
    total = sum(done.values())
    if total > 0:
        figures |= {f"shard:{n}": count / total * 100 for n, count in done.items()}
        figures["shard_commands"] = total / elapsed
    return figures


def _note_statuses(ctx: Ctx, load: LoadResult) -> None:
    other = {s: n for s, n in sorted(load.statuses().items()) if s not in (200, 202)}
    if other:
        said = ", ".join(f"{s or 'unanswered at the end'}: {n}" for s, n in other.items())
        ctx.notes.append(f"requests not accepted ({said})")
    if load.max_lag_ms > 50:
        ctx.notes.append(f"load generator fell {load.max_lag_ms:.0f} ms behind its schedule")


def latency(*, rate: int, window_s: float) -> Measure:
    """Paced single POSTs with `?wait=true` at `rate`/s for the window. Internal: the
    record's created_ts_ns (gateway accept) -> the simulator's receivedNs; client: the round
    trip from when the request was due to its answer."""

    async def measure(ctx: Ctx) -> Figures:
        url = f"{ctx.gateway.orders_url}?wait=true"

        account_of: dict[str, AccountId] = {}

        def make(i: int) -> Request:
            account = ctx.account(i)
            body = _load_order(ctx, i, account)
            account_of[str(body["clientOrderId"])] = account
            return url, body, (str(body["clientOrderId"]),)

        start_ns = time.time_ns()
        load = await open_loop(
            ctx.http, make, rate=rate, duration_s=window_s, drain_s=WAIT_MS / 1000 + 10
        )
        answered = [o for o in load.outcomes if o.status in (200, 202)]
        client = [(o.done_ns - o.due_ns) / 1e6 for o in answered]
        accepted = await created_ns(ctx.redis, {o.ids[0]: account_of[o.ids[0]] for o in answered})
        received = await _settle(ctx, start_ns, len(accepted))
        internal = [
            (received[cid] - ns) / 1e6 if cid in received else math.inf
            for cid, ns in accepted.items()
        ]
        _note_statuses(ctx, load)
        timed_out = sum(1 for o in answered if o.status == 202)
        if timed_out:
            ctx.notes.append(f"{timed_out} answered 202 (no outcome within {WAIT_MS} ms)")
        missing = sum(1 for cid in accepted if cid not in received)
        if missing:
            ctx.notes.append(f"{missing} accepted but not at the venue {SETTLE_TIMEOUT_S:.0f} s on")
        if not internal or not client:
            raise RuntimeError("no order was accepted")
        times = sorted(received.values())
        intake = (len(times) - 1) / ((times[-1] - times[0]) / 1e9) if len(times) > 1 else 0.0
        return {
            "internal_p50": percentile(internal, 50),
            "internal_p99": percentile(internal, 99),
            "client_p50": percentile(client, 50),
            "client_p99": percentile(client, 99),
            "intake": intake,
        }

    return measure


async def _settle(ctx: Ctx, since_ns: int, expected: int) -> dict[str, int]:
    """The receipts since `since_ns` once `expected` orders are in, or once none came for
    5 s, or after SETTLE_TIMEOUT_S."""
    deadline = time.monotonic() + SETTLE_TIMEOUT_S
    received = await ctx.sim.received_ns(since_ns)
    last_change, count = time.monotonic(), len(received)
    while len(received) < expected and time.monotonic() < deadline:
        if time.monotonic() - last_change > 5:
            break
        await asyncio.sleep(0.5)
        received = await ctx.sim.received_ns(since_ns)
        if len(received) != count:
            last_change, count = time.monotonic(), len(received)
    return received
