"""The same orders placed through the mmx Bybit adapter and through `pybit`, side by side.

Starts the simulator in its own process (market frozen, rate limits raised so the client is
what is measured), then places N resting Limit orders per run: one at a time, C in flight, and
in batches of 20 (`/v5/order/create-batch`) with C in flight. In flight means asyncio tasks for
the adapter (under uvloop, as the router runs it) and one thread per in-flight request for
pybit, each thread with its own `HTTP` session, which is how pybit is used concurrently.
Between runs the simulator is reset so every run sees the same empty book. After every run the
simulator's own order list is checked: exactly N orders, one per orderLinkId.

    python -m bench.venue_adapter [--orders 2000] [--concurrency 32]
"""

from __future__ import annotations

import argparse
import asyncio
import functools
import json
import statistics
import tempfile
import threading
import time
import urllib.request
from collections.abc import Awaitable, Callable, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from decimal import Decimal
from pathlib import Path
from typing import Any

import uvloop
from pybit.unified_trading import HTTP

from libs.common.domain.enums import Category, OrderType, Side
from libs.common.domain.ids import ClientOrderId
from libs.common.redis_server import free_port
from libs.common.venue import BybitVenue, PlaceOrder, VenueConfig
from services.stack import ProcessSpec, Stack, http_probe, python_module

KEY, SECRET = "bench-key", "bench-secret"
SYMBOL = "BTCUSDT"
BATCH = 20
"""Bybit's linear batch limit."""
LIMITS = {
    "tradePerSecond": 10_000_000,
    "queryPerSecond": 10_000_000,
    "ipPer5s": 100_000_000,
    "maxActiveOrders": 1_000_000,
}


@dataclass(frozen=True)
class Result:
    client: str
    mode: str
    orders: int
    seconds: float
    latencies: Sequence[float]

    def row(self) -> str:
        q = statistics.quantiles(self.latencies, n=100)
        return (
            f"| {self.client:<14} | {self.mode:<23} | {self.orders:>6} | "
            f"{self.orders / self.seconds:>8.0f} | {q[49] * 1e3:>7.2f} | {q[98] * 1e3:>7.2f} |"
        )


def _price(i: int) -> str:
    """Resting bids well below the simulator's mid, spread over 200 ticks."""
    return str(Decimal("30000") + Decimal(i % 200) / 10)


def _control(base: str, path: str, body: dict[str, Any] | None = None) -> Any:
    data = json.dumps(body or {}).encode()
    request = urllib.request.Request(
        f"{base}/sim/{path}", data=data, headers={"Content-Type": "application/json"}
    )
    with urllib.request.urlopen(request, timeout=10) as response:
        return json.loads(response.read())


def _sim_orders(base: str) -> list[dict[str, Any]]:
    with urllib.request.urlopen(f"{base}/sim/orders", timeout=30) as response:
        orders: list[dict[str, Any]] = json.loads(response.read())["list"]
        return orders


def _reset(base: str) -> None:
    _control(base, "reset", {"marketFrozen": True})
    _control(base, "limits", LIMITS)


def _check(base: str, prefix: str, n: int) -> None:
    links = [o["orderLinkId"] for o in _sim_orders(base) if o["orderLinkId"].startswith(prefix)]
    if len(links) != n or len(set(links)) != n:
        raise SystemExit(f"{prefix}: the simulator holds {len(links)} orders, expected {n}")


async def _adapter(base: str, n: int, concurrency: int, prefix: str, batch: int) -> Result:
    config = VenueConfig(
        venue="sim", venue_url=base, api_key=KEY, api_secret=SECRET, pool_size=concurrency
    )
    async with BybitVenue(config) as venue:
        await venue.instruments(Category.LINEAR)
        orders = [
            PlaceOrder(
                category=Category.LINEAR,
                symbol=SYMBOL,
                side=Side.BUY,
                order_type=OrderType.LIMIT,
                qty=Decimal("0.001"),
                price=Decimal(_price(i)),
                client_order_id=ClientOrderId(f"{prefix}-{i}"),
            )
            for i in range(n)
        ]
        latencies: list[float] = []

        async def one(chunk: list[PlaceOrder]) -> None:
            t0 = time.perf_counter()
            if batch > 1:
                results = await venue.place_batch(chunk)
                if not all(r.ok for r in results):
                    raise SystemExit(f"batch items failed: {[r.message for r in results]}")
            else:
                await venue.place(chunk[0])
            latencies.append(time.perf_counter() - t0)

        chunks = [orders[i : i + batch] for i in range(0, n, batch)]
        seconds = await _in_flight([functools.partial(one, c) for c in chunks], concurrency)
    return Result("mmx adapter", _mode(concurrency, batch), n, seconds, latencies)


def _mode(concurrency: int, batch: int) -> str:
    flight = "sequential" if concurrency == 1 else f"{concurrency} in flight"
    return flight if batch == 1 else f"batch {batch}, {flight}"


async def _in_flight(jobs: Sequence[Callable[[], Awaitable[None]]], concurrency: int) -> float:
    pending = iter(jobs)

    async def worker() -> None:
        for job in pending:
            await job()

    start = time.perf_counter()
    await asyncio.gather(*(worker() for _ in range(concurrency)))
    return time.perf_counter() - start


def _pybit(base: str, n: int, concurrency: int, prefix: str, batch: int) -> Result:
    local = threading.local()
    sessions: list[HTTP] = []

    def session() -> HTTP:
        if not hasattr(local, "http"):
            local.http = HTTP(testnet=False, api_key=KEY, api_secret=SECRET, max_retries=1)
            local.http.endpoint = base  # point the unmodified client at the simulator
            sessions.append(local.http)
        return local.http

    latencies: list[float] = []

    def order(i: int) -> dict[str, str]:
        return {
            "symbol": SYMBOL,
            "side": "Buy",
            "orderType": "Limit",
            "qty": "0.001",
            "price": _price(i),
            "orderLinkId": f"{prefix}-{i}",
        }

    def one(start: int) -> None:
        http = session()
        t0 = time.perf_counter()
        if batch > 1:
            request = [order(i) for i in range(start, min(start + batch, n))]
            http.place_batch_order(category="linear", request=request)
        else:
            http.place_order(category="linear", **order(start))
        latencies.append(time.perf_counter() - t0)

    with ThreadPoolExecutor(max_workers=concurrency) as pool:
        list(pool.map(lambda _: session(), range(concurrency * 4)))  # sessions made up front
        start = time.perf_counter()
        list(pool.map(one, range(0, n, batch)))
        seconds = time.perf_counter() - start
    for http in sessions:
        http.client.close()
    return Result("pybit", _mode(concurrency, batch), n, seconds, latencies)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--orders", type=int, default=2000)
    parser.add_argument("--concurrency", type=int, default=32)
    args = parser.parse_args()
    port = free_port()
    base = f"http://127.0.0.1:{port}"
    stack = Stack(Path(tempfile.mkdtemp(prefix="mmx-bench-")))
    spec = ProcessSpec(
        name="venue-sim",
        argv=python_module("services.venue_sim", "--host", "127.0.0.1", "--port", str(port)),
        probe=http_probe(f"{base}/sim/health"),
        env={
            "MMX_SIM_KEYS": f"{KEY}:{SECRET}",
            "MMX_SIM_MARKET_FROZEN": "true",
        },
    )
    try:
        stack.start(spec)
        results: list[Result] = []
        c = args.concurrency
        runs = [(1, 1), (c, 1), (c, BATCH)]
        for number, (concurrency, batch) in enumerate(runs):
            for client in ("pybit", "adapter"):
                _reset(base)
                prefix = f"b{number}{client[0]}"
                if client == "pybit":
                    results.append(_pybit(base, args.orders, concurrency, prefix, batch))
                else:
                    job = _adapter(base, args.orders, concurrency, prefix, batch)
                    results.append(uvloop.run(job))  # the loop the router runs under
                _check(base, prefix, args.orders)
    finally:
        stack.stop()
    print(f"{args.orders} Limit orders per run against the simulator (one process, 2 cores)\n")
    print("| client         | mode                    | orders | orders/s | p50 ms  | p99 ms  |")
    print("|----------------|-------------------------|--------|----------|---------|---------|")
    for result in results:
        print(result.row())
    print("\n(latency is per request: one order, or one batch of orders)")
    by = {(r.client, r.mode): r.orders / r.seconds for r in results}
    for mode in dict.fromkeys(r.mode for r in results):
        ratio = by[("mmx adapter", mode)] / by[("pybit", mode)]
        print(f"adapter / pybit, {mode}: {ratio:.2f}x")


if __name__ == "__main__":
    main()
