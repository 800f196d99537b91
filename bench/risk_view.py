"""The cost of the scaling rule on risk's hot path: one `RiskReader.read` (what every batch of
places and amends reads first), without a rule and with one that scales every symbol.

Starts its own redis-server, writes `--symbols` symbols with a position and a fresh mark, and
times `--reads` reads in a row, `--runs` times, for each case:

- no rule;
- a rule with a schedule window open now (on two limits) and volatility (on two limits),
  every symbol's volatility factor below 1: every symbol's limits are scaled.

    python -m bench.risk_view [--symbols 10] [--reads 2000] [--runs 5]
"""

from __future__ import annotations

import argparse
import asyncio
import statistics
import time
from decimal import Decimal
from typing import Any

import redis.asyncio as aioredis

from libs.common.domain.enums import Side
from libs.common.domain.ids import ExecId, Symbol
from libs.common.domain.limit_scaling import (
    ScalingRule,
    VolatilityEstimate,
    VolatilityRule,
    Window,
)
from libs.common.domain.positions import Fill
from libs.common.domain.risk_checks import RiskLimits
from libs.common.redis_server import start_redis_server
from libs.common.risk_view import RiskReader
from libs.common.stores import RedisPositionStore, RedisRiskStateStore, volatility
from libs.common.stores.exposure_redis import RedisExposureLedger
from libs.common.stores.marks import Mark, RedisMarkStore
from libs.common.stores.volatility import SymbolVolatility

RULE = ScalingRule(
    volatility=VolatilityRule(
        limits=("max_inventory_usd", "max_order_notional"), reference_bps=Decimal(20)
    ),
    schedule=(
        Window(
            name="always",
            start="00:00",
            end="24:00",
            factor=Decimal("0.5"),
            limits=("max_inventory_usd", "max_total_notional"),
        ),
    ),
)


async def prepare(redis: aioredis.Redis, symbols: list[Symbol]) -> None:
    now = time.time_ns()
    marks = [Mark.of(s, ts_ns=now, seen_ns=now + 3600 * 10**9, mark=Decimal(100)) for s in symbols]
    await RedisMarkStore(redis).put_many([m for m in marks if m is not None])
    positions = RedisPositionStore(redis)
    for k, symbol in enumerate(symbols):
        fill = Fill(
            exec_id=ExecId(f"bench-{k}"),
            symbol=symbol,
            side=Side.BUY,
            qty=Decimal(1),
            price=Decimal(100),
            fee=Decimal(0),
            ts_ns=now,
        )
        await positions.apply_fill(fill)


async def time_reads(reader: RiskReader, reads: int) -> float:
    """Microseconds per read."""
    await reader.read(time.time_ns())  # the symbols become known
    started = time.perf_counter()
    for _ in range(reads):
        view = await reader.read(time.time_ns())
    elapsed = time.perf_counter() - started
    assert view.symbols
    return elapsed / reads * 1e6


async def main(symbols: int, reads: int, runs: int) -> None:
    server = start_redis_server()
    names = [Symbol(f"SYM{k}USDT") for k in range(symbols)]
    results: dict[str, list[float]] = {"no rule": [], "a rule scaling every symbol": []}
    try:
        async with aioredis.Redis.from_url(server.url) as redis:
            await prepare(redis, names)
            store = RedisRiskStateStore(redis)
            entry = SymbolVolatility(
                VolatilityEstimate(mid=Decimal(100), ts_ns=1, variance=1e-5, returns=9),
                Decimal("0.5"),
            )
            await volatility.write(redis, dict.fromkeys(names, entry))
            for _ in range(runs):
                for case, rule in (("no rule", None), ("a rule scaling every symbol", RULE)):
                    await store.set_limits(RiskLimits(), scaling=rule)
                    reader = RiskReader(redis, ledger=RedisExposureLedger(redis))
                    results[case].append(await time_reads(reader, reads))
            scaled = await RiskReader(redis, ledger=RedisExposureLedger(redis)).read(time.time_ns())
            assert scaled.limits(names[0]).max_inventory_usd == 2_500  # 10,000 x 0.5 x 0.5
    finally:
        server.stop()
    print(f"\nRiskReader.read over {symbols} symbols, {reads} reads a run, median of {runs} runs\n")
    print(f"{'case':<30} {'us/read':>9}  {'min-max':>13}")
    for case, values in results.items():
        spread = f"{min(values):,.0f}-{max(values):,.0f}"
        print(f"{case:<30} {statistics.median(values):>9,.0f}  {spread:>13}")


def parse_args() -> Any:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0] if __doc__ else None)
    parser.add_argument("--symbols", type=int, default=10)
    parser.add_argument("--reads", type=int, default=2_000)
    parser.add_argument("--runs", type=int, default=5)
    return parser.parse_args()


if __name__ == "__main__":
    args = parse_args()
    asyncio.run(main(args.symbols, args.reads, args.runs))
