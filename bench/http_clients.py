"""Measure async HTTP clients against a local keep-alive server, to choose the venue adapter's.

Starts a minimal aiohttp server in a child process (so client and server do not share a core),
then sends the same signed-size POST through httpx.AsyncClient and aiohttp.ClientSession,
sequentially and with 64 in flight, and prints requests/s and p50/p99 latency.

    python -m bench.http_clients [--requests 3000]
"""

from __future__ import annotations

import argparse
import asyncio
import multiprocessing
import socket
import statistics
import time
from collections.abc import Awaitable, Callable

import aiohttp
import httpx
from aiohttp import web

BODY = (
    b'{"category": "linear", "symbol": "BTCUSDT", "side": "Buy", "orderType": "Limit", '
    b'"qty": "0.001", "price": "60000", "orderLinkId": "bench-000000000000000000000000"}'
)
REPLY = b'{"retCode":0,"retMsg":"OK","result":{"orderId":"1","orderLinkId":"x"},"retExtInfo":{}}'


def _serve(port: int) -> None:
    async def handle(request: web.Request) -> web.Response:
        await request.read()
        return web.Response(body=REPLY, content_type="application/json")

    app = web.Application()
    app.router.add_post("/v5/order/create", handle)
    web.run_app(app, host="127.0.0.1", port=port, print=None, access_log=None)


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


Send = Callable[[], Awaitable[None]]


async def _run(send: Send, n: int, concurrency: int) -> tuple[float, list[float]]:
    latencies: list[float] = []
    queue = iter(range(n))

    async def worker() -> None:
        for _ in queue:
            t0 = time.perf_counter()
            await send()
            latencies.append(time.perf_counter() - t0)

    start = time.perf_counter()
    await asyncio.gather(*(worker() for _ in range(concurrency)))
    return n / (time.perf_counter() - start), latencies


def _row(name: str, rate: float, lat: list[float]) -> str:
    q = statistics.quantiles(lat, n=100)
    return f"{name:<28} {rate:>9.0f} {q[49] * 1e3:>9.2f} {q[98] * 1e3:>9.2f}"


async def _measure(url: str, n: int) -> None:
    headers = {"Content-Type": "application/json"}
    print(f"{'client / concurrency':<28} {'req/s':>9} {'p50 ms':>9} {'p99 ms':>9}")
    for concurrency in (1, 64):
        limits = httpx.Limits(max_connections=concurrency, max_keepalive_connections=concurrency)
        async with httpx.AsyncClient(limits=limits) as hx:

            async def hx_send() -> None:
                r = await hx.post(url, content=BODY, headers=headers)
                r.read()

            await _run(hx_send, 200, concurrency)
            rate, lat = await _run(hx_send, n, concurrency)
            print(_row(f"httpx {httpx.__version__} / {concurrency}", rate, lat))
        connector = aiohttp.TCPConnector(limit=concurrency)
        async with aiohttp.ClientSession(connector=connector) as ah:

            async def ah_send() -> None:
                async with ah.post(url, data=BODY, headers=headers) as r:
                    await r.read()

            await _run(ah_send, 200, concurrency)
            rate, lat = await _run(ah_send, n, concurrency)
            print(_row(f"aiohttp {aiohttp.__version__} / {concurrency}", rate, lat))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--requests", type=int, default=3000)
    args = parser.parse_args()
    port = _free_port()
    server = multiprocessing.Process(target=_serve, args=(port,), daemon=True)
    server.start()
    try:
        url = f"http://127.0.0.1:{port}/v5/order/create"
        for _ in range(100):
            try:
                socket.create_connection(("127.0.0.1", port), timeout=0.1).close()
                break
            except OSError:
                time.sleep(0.05)
        asyncio.run(_measure(url, args.requests))
    finally:
        server.terminate()
        server.join()


if __name__ == "__main__":
    main()
