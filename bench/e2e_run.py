"""One run of one row: a freshly started stack, the limits raised, the marks in, then the
row's measurement under a timeout; the stack is stopped whatever happens.

Every run of every row gets its own stack (new redis-server or cluster, simulator and
services), so no run sees another's orders, streams, positions or freeze. The run's Redis
client is `redis_from_url`'s, as the services' (a cluster client on a `--cluster` stack).
"""

from __future__ import annotations

import asyncio
import os
import time
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from pathlib import Path

import aiohttp
import redis.asyncio as aioredis

from bench.e2e_client import Gateway, Sim, session
from bench.e2e_orders import Ids, Instrument, instruments
from bench.e2e_stack import (
    STOP_GRACE_S,
    BenchStack,
    LoadProfile,
    StackDown,
    cpu_seconds,
)
from libs.common.domain.ids import AccountId, Symbol
from libs.common.redis_connect import redis_from_url
from libs.common.topology import mark_key

MARKS_TIMEOUT_S = 20.0
Figures = dict[str, float]
"""A run's results by figure key (e.g. "venue", "cpu:gateway")."""


@dataclass(frozen=True)
class Options:
    """What the command line chose."""

    runs: int
    quick: bool
    engine_repo: Path
    log_dir: Path
    durable_redis: bool = False
    """Run Redis with an AOF fsynced before every acknowledged write."""
    cluster: bool = False
    """Run a 3-primary/3-replica Redis Cluster instead of one redis-server."""
    accounts: int = 1
    """Accounts of the desk; the load goes round-robin over them."""

    def profile(self) -> LoadProfile:
        """The load profile these options ask for."""
        return LoadProfile(
            durable_redis=self.durable_redis, cluster=self.cluster, accounts=self.accounts
        )

    @property
    def window_s(self) -> float:
        """The measured window of a throughput or latency run."""
        return 2.0 if self.quick else 5.0

    @property
    def warmup_s(self) -> float:
        return 0.5 if self.quick else 1.0


@dataclass
class Ctx:
    """A started stack and clients for one run."""

    stack: BenchStack
    http: aiohttp.ClientSession
    gateway: Gateway
    sim: Sim
    redis: aioredis.Redis
    insts: list[Instrument]
    ids: Ids
    notes: list[str] = field(default_factory=list)
    """What the run wants said next to its figures (e.g. how many requests were shed)."""

    @property
    def accounts(self) -> tuple[AccountId, ...]:
        """The desk's accounts (`default` first)."""
        return self.stack.profile.account_ids

    def account(self, n: int) -> AccountId:
        """The account of the n-th request: round-robin over the accounts."""
        return self.accounts[n % len(self.accounts)]

    def cpu(self) -> dict[str, float]:
        """CPU seconds so far of every process of the stack, and of this load generator."""
        pids = self.stack.pids() | {"load generator": os.getpid()}
        return {name: cpu_seconds(pid) for name, pid in pids.items()}

    async def shard_commands(self) -> dict[int, int]:
        """Each cluster primary's `total_commands_processed` (INFO stats) so far, by shard
        number, read from all of them at once on a plain client per node ({} without a
        cluster)."""

        async def read(port: int) -> int:
            client = aioredis.Redis(host="127.0.0.1", port=port, socket_timeout=5)
            try:
                info = await client.info("stats")
            finally:
                await client.aclose()
            return int(info["total_commands_processed"])

        shards = self.stack.shards
        counts = await asyncio.gather(*(read(shard.primary.port) for shard in shards))
        return {shard.number: count for shard, count in zip(shards, counts, strict=True)}


@dataclass
class RunOutcome:
    """The figures of a run, or why it has none."""

    figures: Figures = field(default_factory=dict)
    notes: list[str] = field(default_factory=list)
    error: str | None = None


Measure = Callable[[Ctx], Awaitable[Figures]]


@asynccontextmanager
async def fresh_stack(
    opts: Options, name: str, connections: int, profile: LoadProfile | None = None
) -> AsyncIterator[Ctx]:
    """Start a stack (logs in `opts.log_dir/name`), raise the risk limits, wait for every
    symbol's mark; stop the stack on the way out (noting any process it had to kill)."""
    profile = profile or opts.profile()
    stack = BenchStack(opts.log_dir / name, engine_repo=opts.engine_repo, profile=profile)
    ctx: Ctx | None = None
    try:
        await asyncio.to_thread(stack.start)
        async with session(connections) as http:
            redis = redis_from_url(stack.redis_url)
            try:
                ctx = Ctx(
                    stack,
                    http,
                    Gateway(http, stack.gateway_url),
                    Sim(http, stack.sim_url),
                    redis,
                    instruments(profile.symbols),
                    Ids(name.replace("/", "-")),
                )
                if stack.shards:
                    placed = (f"{a} on shard {_shard_number(stack, a)}" for a in ctx.accounts)
                    ctx.notes.append(f"accounts: {', '.join(placed)}")
                await ctx.gateway.put_limits(dict(profile.risk_limits))
                await _wait_marks(redis, profile.symbols)
                yield ctx
            finally:
                await redis.aclose()
    finally:
        killed = await asyncio.to_thread(stack.stop)
        if killed and ctx is not None:
            ctx.notes.append(
                f"SIGKILLed at the end ({STOP_GRACE_S:.0f} s after SIGTERM): {', '.join(killed)}"
            )


def _shard_number(stack: BenchStack, account: AccountId) -> str:
    shard = stack.shard_of(account)
    return str(shard.number) if shard else "?"


async def _wait_marks(redis: aioredis.Redis, symbols: tuple[str, ...]) -> None:
    """Until every symbol has a mark. One EXISTS of every mark: they share the `{marks}`
    hash tag, so it stays in one slot on a cluster."""
    deadline = time.monotonic() + MARKS_TIMEOUT_S
    keys = [mark_key(Symbol(s)) for s in symbols]
    while await redis.exists(*keys) < len(keys):
        if time.monotonic() > deadline:
            raise StackDown(f"no mark for every one of {', '.join(symbols)} in Redis")
        await asyncio.sleep(0.1)


async def run_once(
    opts: Options, name: str, measure: Measure, *, connections: int, timeout_s: float
) -> RunOutcome:
    """One run of a row on a fresh stack; never raises, never hangs past `timeout_s`."""
    outcome = RunOutcome()

    async def body() -> None:
        async with fresh_stack(opts, name, connections) as ctx:
            try:
                outcome.figures = await measure(ctx)
            finally:
                outcome.notes = ctx.notes
                dead = ctx.stack.dead()
                if dead:
                    outcome.notes.append(f"died during the run: {', '.join(dead)}")

    try:
        await asyncio.wait_for(body(), timeout_s)
    except TimeoutError:
        outcome.error = f"timed out after {timeout_s:.0f} s"
    except Exception as error:
        outcome.error = f"{type(error).__name__}: {error}"[:200]
    return outcome
