"""Load generator: how many signed `POST /v5/order/create` per second the simulator sustains.

    python -m services.venue_sim.loadgen [--url http://127.0.0.1:8090] [--orders 20000]
                                         [--concurrency 64]

Without `--url` it starts its own simulator subprocess on a free port (market frozen) and
stops it afterwards, so the client and the server are always separate processes. The run
resets the simulator, raises its limits, then places resting Limit orders spread over many
price levels with `--concurrency` requests in flight over one aiohttp session. With
`--subscribe` a private WebSocket subscribed to order/execution/position drains the pushes
meanwhile (the way a router listens), and the count of pushed orders is reported.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import socket
import statistics
import subprocess
import sys
import time
import urllib.request
from typing import Any

import aiohttp
import orjson

from libs.common.venue.signing import sign_rest, sign_ws_auth
from services.venue_sim.settings import DEV_KEY, DEV_SECRET

LIMITS = {
    "tradePerSecond": 10_000_000,
    "queryPerSecond": 10_000_000,
    "ipPer5s": 100_000_000,
    "maxActiveOrders": 10_000_000,
}


def _control(url: str, path: str, body: dict[str, Any]) -> None:
    request = urllib.request.Request(
        f"{url}/sim/{path}",
        data=orjson.dumps(body),
        method="POST",
        headers={"Content-Type": "application/json"},
    )
    with urllib.request.urlopen(request, timeout=10):
        pass


def _start_sim() -> tuple[subprocess.Popen[bytes], str]:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = int(sock.getsockname()[1])
    env = {**os.environ, "MMX_SIM_MARKET_FROZEN": "true", "MMX_SIM_LOG_LEVEL": "WARNING"}
    argv = [sys.executable, "-m", "services.venue_sim", "--port", str(port)]
    proc = subprocess.Popen(argv, env=env, stdout=subprocess.DEVNULL)
    url = f"http://127.0.0.1:{port}"
    deadline = time.monotonic() + 20
    while time.monotonic() < deadline:
        try:
            with urllib.request.urlopen(f"{url}/sim/health", timeout=1):
                return proc, url
        except OSError:
            time.sleep(0.05)
    proc.terminate()
    raise SystemExit("the simulator did not start")


async def _drain(ws: aiohttp.ClientWebSocketResponse, pushed: list[int]) -> None:
    async for message in ws:
        data = orjson.loads(message.data)
        if data.get("topic") == "order":
            pushed[0] += len(data["data"])


async def _run(
    url: str, orders: int, concurrency: int, key: str, secret: str, subscribe: bool
) -> None:
    latencies: list[float] = []
    errors: dict[int, int] = {}
    counter = iter(range(orders))
    connector = aiohttp.TCPConnector(limit=concurrency + 1)  # + the WebSocket
    pushed = [0]

    async with aiohttp.ClientSession(connector=connector) as session:
        drain = None
        if subscribe:
            ws = await session.ws_connect(f"{url.replace('http', 'ws', 1)}/v5/private")
            expires = int(time.time() * 1000) + 10_000
            await ws.send_json(
                {"op": "auth", "args": [key, expires, sign_ws_auth(secret, expires)]}
            )
            await ws.receive()
            await ws.send_json({"op": "subscribe", "args": ["order", "execution", "position"]})
            await ws.receive()
            drain = asyncio.create_task(_drain(ws, pushed))

        async def worker() -> None:
            for i in counter:
                body = orjson.dumps(
                    {
                        "category": "linear",
                        "symbol": "BTCUSDT",
                        "side": "Buy",
                        "orderType": "Limit",
                        "qty": "0.001",
                        "price": f"{20000 + (i % 500) / 10:.1f}",
                        "orderLinkId": f"lg-{i}",
                    }
                ).decode()
                ts = str(int(time.time() * 1000))
                headers = {
                    "X-BAPI-API-KEY": key,
                    "X-BAPI-TIMESTAMP": ts,
                    "X-BAPI-RECV-WINDOW": "5000",
                    "X-BAPI-SIGN": sign_rest(secret, ts, key, "5000", body),
                    "Content-Type": "application/json",
                }
                started = time.perf_counter()
                async with session.post(f"{url}/v5/order/create", data=body, headers=headers) as r:
                    code = orjson.loads(await r.read())["retCode"]
                latencies.append(time.perf_counter() - started)
                if code:
                    errors[code] = errors.get(code, 0) + 1

        started = time.perf_counter()
        await asyncio.gather(*(worker() for _ in range(concurrency)))
        elapsed = time.perf_counter() - started
        if drain is not None:
            await asyncio.sleep(0.5)
            drain.cancel()

    cuts = statistics.quantiles(latencies, n=100)
    print(
        f"{orders} orders, {concurrency} in flight: {elapsed:.2f} s, "
        f"{orders / elapsed:,.0f} orders/s, p50 {cuts[49] * 1e3:.2f} ms, "
        f"p99 {cuts[98] * 1e3:.2f} ms, errors {errors or 'none'}"
        + (f", order pushes received {pushed[0]}" if subscribe else "")
    )


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(prog="python -m services.venue_sim.loadgen")
    parser.add_argument("--url", help="a running simulator (default: start one)")
    parser.add_argument("--orders", type=int, default=20_000)
    parser.add_argument("--concurrency", type=int, default=64)
    parser.add_argument("--key", default=DEV_KEY)
    parser.add_argument("--secret", default=DEV_SECRET)
    parser.add_argument("--subscribe", action="store_true", help="drain a private WS meanwhile")
    args = parser.parse_args(argv)
    proc = None
    url = args.url
    if url is None:
        proc, url = _start_sim()
    try:
        _control(url, "reset", {"marketFrozen": True})
        _control(url, "limits", LIMITS)
        asyncio.run(_run(url, args.orders, args.concurrency, args.key, args.secret, args.subscribe))
    finally:
        if proc is not None:
            proc.terminate()
            proc.wait(timeout=10)


if __name__ == "__main__":
    main()
