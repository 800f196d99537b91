"""The smart order router's pure core: microseconds per `route()` over two venues' books.

Two venues with `--levels` levels a side (a tick apart, 0.125 to 1.125 each), different fees;
an order sized to take about half of the better book (no split) and one past it (a split),
each routed `--calls` times, `--runs` times:

    python -m bench.routing [--levels 50] [--calls 2000] [--runs 5]
"""

from __future__ import annotations

import argparse
import statistics
import time
from decimal import Decimal
from typing import Any

from libs.common.domain.enums import Category, Side
from libs.common.domain.instruments import InstrumentRules
from libs.common.domain.routing import route
from libs.common.domain.routing_models import RoutePolicy, RouteRequest, VenueQuote

D = Decimal
RULES = InstrumentRules(
    symbol="BTCUSDT",
    category=Category.LINEAR,
    base_coin="BTC",
    tick_size=D("0.1"),
    min_price=D("0.1"),
    max_price=D("1000000"),
    qty_step=D("0.001"),
    min_qty=D("0.001"),
    max_qty=D("1000"),
    max_mkt_qty=D("1000"),
    min_notional=D("5"),
)


def quote(venue: str, best: Decimal, fee: str, levels: int, now_ns: int) -> VenueQuote:
    asks = tuple((best + D("0.1") * k, D(1 + (k * 7) % 9) / 8) for k in range(levels))
    bids = tuple((best - D("0.1") * (k + 1), D(1 + (k * 5) % 9) / 8) for k in range(levels))
    return VenueQuote(
        venue=venue, rules=RULES, taker_fee_rate=D(fee), book_ts_ns=now_ns, bids=bids, asks=asks
    )


def time_routes(qty: Decimal, quotes: list[VenueQuote], calls: int) -> tuple[float, int]:
    """Microseconds per call, and the children of the last plan."""
    now_ns = time.time_ns()
    request = RouteRequest(side=Side.BUY, qty=qty, limit_price=None, now_ns=now_ns)
    policy = RoutePolicy(max_book_age_ms=60_000)
    started = time.perf_counter()
    for _ in range(calls):
        plan = route(request, quotes, policy)
    return (time.perf_counter() - started) / calls * 1e6, len(plan.children)


def main(levels: int, calls: int, runs: int) -> None:
    now_ns = time.time_ns()
    quotes = [
        quote("bybit", D(60_000), "0.00055", levels, now_ns),
        quote("binance-usdm", D(60_001), "0.0002", levels, now_ns),
    ]
    depth = sum((q for _, q in quotes[1].asks), D(0))
    cases = {"half the better book": depth / 2, "past the better book": depth * D("1.5")}
    results: dict[str, list[float]] = {case: [] for case in cases}
    children: dict[str, int] = {}
    for _ in range(runs):
        for case, qty in cases.items():
            micros, children[case] = time_routes(qty.quantize(D("0.001")), quotes, calls)
            results[case].append(micros)
    print(
        f"\nroute() over 2 venues x {levels} levels a side, {calls} calls a run, median of {runs}"
    )
    print()
    print(f"{'order':<24} {'children':>8} {'us/call':>9}  {'min-max':>13}")
    for case, values in results.items():
        spread = f"{min(values):,.0f}-{max(values):,.0f}"
        median = statistics.median(values)
        print(f"{case:<24} {children[case]:>8} {median:>9,.0f}  {spread:>13}")


def parse_args() -> Any:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0] if __doc__ else None)
    parser.add_argument("--levels", type=int, default=50)
    parser.add_argument("--calls", type=int, default=2_000)
    parser.add_argument("--runs", type=int, default=5)
    return parser.parse_args()


if __name__ == "__main__":
    args = parse_args()
    main(args.levels, args.calls, args.runs)
