"""The cost of the scaling rule on risk's hot path: one `RiskReader.read` (what every batch of
places and amends reads first), without a rule and with one that scales every symbol.

Starts its own redis-server, writes `--symbols` symbols with a position and a fresh mark, and
times `--reads` reads in a row, `--runs` times, for each case:

- no rule;
- a rule with a schedule window open now (on two limits) and volatility (on two limits),
  every symbol's volatility factor below 1: every symbol's limits are scaled.

`--venues bybit,binance-usdm` gives every symbol a position at each venue, read (and added
up) by a reader of both: the cost of a second venue on the hot path.

    python -m bench.risk_view [--symbols 10] [--reads 2000] [--runs 5] [--venues bybit]
"""

from __future__ import annotations

import argparse
import asyncio
import statistics
import time
from decimal import Decimal
from typing import Any

import redis.asyncio as aioredis

from libs.common.accounts import DEFAULT_VENUES, parse_venues
from libs.common.domain.enums import Side
from libs.common.domain.ids import ExecId, Symbol, VenueId
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


async def prepare(redis: aioredis.Redis, symbols: list[Symbol], venues: list[VenueId]) -> None:
    now = time.time_ns()
    marks = [Mark.of(s, ts_ns=now, seen_ns=now + 3600 * 10**9, mark=Decimal(100)) for s in symbols]
    await RedisMarkStore(redis).put_many([m for m in marks if m is not None])
    for venue in venues:
        positions = RedisPositionStore(redis, venue=venue)
        for k, symbol in enumerate(symbols):
            fill = Fill(
                exec_id=ExecId(f"bench-{venue}-{k}"),
                symbol=symbol,
                side=Side.BUY,
                qty=Decimal(1),
                price=Decimal(100),
                fee=Decimal(0),
                ts_ns=now,
                venue=venue,
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


async def main(symbols: int, reads: int, runs: int, venues: list[VenueId]) -> None:
    server = start_redis_server()
    names = [Symbol(f"SYM{k}USDT") for k in range(symbols)]
    results: dict[str, list[float]] = {"no rule": [], "a rule scaling every symbol": []}
    try:
        async with aioredis.Redis.from_url(server.url) as redis:
            await prepare(redis, names, venues)
            store = RedisRiskStateStore(redis)
            entry = SymbolVolatility(
                VolatilityEstimate(mid=Decimal(100), ts_ns=1, variance=1e-5, returns=9),
                Decimal("0.5"),
            )
            await volatility.write(redis, dict.fromkeys(names, entry))
            for _ in range(runs):
                for case, rule in (("no rule", None), ("a rule scaling every symbol", RULE)):
                    await store.set_limits(RiskLimits(), scaling=rule)
                    reader = RiskReader(
                        redis, ledger=RedisExposureLedger(redis, venues=venues), venues=venues
                    )
                    results[case].append(await time_reads(reader, reads))
            ledger = RedisExposureLedger(redis, venues=venues)
            scaled = await RiskReader(redis, ledger=ledger, venues=venues).read(time.time_ns())
            assert scaled.limits(names[0]).max_inventory_usd == 2_500  # 10,000 x 0.5 x 0.5
            assert scaled.position_qty(names[0]) == len(venues)  # one at each venue, added up
    finally:
        server.stop()
    at = ", ".join(venues)
    print(
        f"\nRiskReader.read over {symbols} symbols at {at}, {reads} reads a run, median of {runs}\n"
    )
    print(f"{'case':<30} {'us/read':>9}  {'min-max':>13}")
    for case, values in results.items():
        spread = f"{min(values):,.0f}-{max(values):,.0f}"
        print(f"{case:<30} {statistics.median(values):>9,.0f}  {spread:>13}")


def parse_args() -> Any:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0] if __doc__ else None)
    parser.add_argument("--symbols", type=int, default=10)
    parser.add_argument("--reads", type=int, default=2_000)
    parser.add_argument("--runs", type=int, default=5)
    parser.add_argument("--venues", type=parse_venues, default=DEFAULT_VENUES)
    return parser.parse_args()


if __name__ == "__main__":
    args = parse_args()
    asyncio.run(main(args.symbols, args.reads, args.runs, list(args.venues)))
