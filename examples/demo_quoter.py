"""A demo market-making strategy that trades only through the mmx gateway.

    python -m examples.demo_quoter --gateway http://127.0.0.1:8080 --venue http://127.0.0.1:8090

Every `--interval` seconds, for each symbol it:
1. reads the mid from the venue's public ticker (the venue adapter's REST `tickers`) and its
   position from `GET /v1/positions`;
2. quotes one bid and one ask around the mid, `--half-spread-bps` away, both shifted against
   its inventory (long: lower, to sell sooner and buy later) and not adding to a position past
   `--max-position-usd`;
3. keeps each quote with `PATCH /v1/orders/{id}` when the target price moves by
   `--requote-bps` or more, and places a new one when the old one is gone (filled, cancelled,
   rejected).
Every `--edge-every` seconds it reports its edge (`POST /v1/risk/edge`): the quantity-weighted
edge of its fills against the mid it quoted around, or the half spread before any fill.
On SIGINT / SIGTERM it cancels its open orders (`DELETE /v1/orders/{id}`) and exits.

The gateway API key (a trader key) is `MMX_API_KEY_GATEWAY`; none is needed when the
gateway runs with auth disabled, as under `mmx up`.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import logging
import os
import secrets
import signal
from collections import deque
from collections.abc import Sequence
from dataclasses import dataclass
from decimal import Decimal
from typing import Any

import aiohttp

from libs.common.domain.enums import Category
from libs.common.venue import BybitVenue, VenueConfig

log = logging.getLogger("demo_quoter")
BPS = Decimal(10_000)
OPEN = {"Pending", "Sending", "New", "PartiallyFilled", "PendingAmend", "PendingCancel"}


@dataclass
class Quote:
    """One resting quote: where it is and the mid it was priced from."""

    client_order_id: str
    price: Decimal
    mid: Decimal


class DemoQuoter:
    def __init__(self, args: argparse.Namespace, http: aiohttp.ClientSession, venue: BybitVenue):
        self.args = args
        self.http = http
        self.venue = venue
        self.sizes: dict[str, Decimal] = args.symbols
        self.quotes: dict[tuple[str, str], Quote] = {}
        self.fills: deque[tuple[Decimal, Decimal]] = deque(maxlen=50)  # (qty, edge bps)
        self.run_id = secrets.token_hex(3)
        self.seq = 0
        self.last_refusal: str | None = None

    async def call(self, method: str, path: str, body: Any = None, **params: str) -> Any:
        url = f"{self.args.gateway}{path}"
        async with self.http.request(method, url, json=body, params=params or None) as reply:
            data = await reply.json(content_type=None)
            if reply.status >= 400:
                log.warning("%s %s -> %s %s", method, path, reply.status, data)
                return None
            return data

    async def mid(self, symbol: str) -> Decimal | None:
        (ticker,) = await self.venue.tickers(Category.LINEAR, symbol)
        return ticker.mid

    async def positions(self) -> dict[str, Decimal]:
        data = await self.call("GET", "/v1/positions") or {"positions": []}
        return {p["symbol"]: Decimal(p["qty"]) for p in data["positions"]}

    def target(self, side: str, mid: Decimal, position: Decimal) -> Decimal | None:
        """The quote price of `side`, or None when it would add to a position at its cap."""
        exposure = position * mid
        if (side == "Buy" and exposure >= self.args.max_position_usd) or (
            side == "Sell" and exposure <= -self.args.max_position_usd
        ):
            return None
        half_spread: Decimal = self.args.half_spread_bps
        skew_bps = exposure / 1000 * self.args.skew_bps_per_1k
        offset_bps = -half_spread if side == "Buy" else half_spread
        price: Decimal = mid * (1 + (offset_bps - skew_bps) / BPS)
        step = Decimal(10) ** (mid.adjusted() - 4)  # 5 significant digits: a multiple of the tick
        return price.quantize(step)

    async def requote(self, symbol: str, position: Decimal) -> None:
        mid = await self.mid(symbol)
        if mid is None:
            return
        for side in ("Buy", "Sell"):
            price = self.target(side, mid, position)
            quote = self.quotes.get((symbol, side))
            order = quote and await self.call("GET", f"/v1/orders/{quote.client_order_id}")
            if quote and order and order["status"] in OPEN:
                if price is None:
                    await self.call("DELETE", f"/v1/orders/{quote.client_order_id}")
                elif abs(price - quote.price) / mid * BPS >= self.args.requote_bps:
                    path = f"/v1/orders/{quote.client_order_id}"
                    if await self.call("PATCH", path, {"price": str(price)}):
                        self.quotes[symbol, side] = Quote(quote.client_order_id, price, mid)
                continue
            if quote and order:
                self.record_fill(side, quote, order)
            self.quotes.pop((symbol, side), None)
            if price is not None:
                await self.place(symbol, side, price, mid)

    async def place(self, symbol: str, side: str, price: Decimal, mid: Decimal) -> None:
        self.seq += 1
        coid = f"demo-{self.run_id}-{symbol}-{side[0]}{self.seq}"
        body = {
            "symbol": symbol,
            "side": side,
            "orderType": "Limit",
            "qty": str(self.sizes[symbol]),
            "price": str(price),
            "timeInForce": "PostOnly",
            "clientOrderId": coid,
        }
        result = await self.call("POST", "/v1/orders", body, wait="true")
        if result is None:
            return
        if result["outcome"] in ("denied", "rejected"):
            if result.get("reason") != self.last_refusal:  # say it once, not every cycle
                log.info("%s %s %s refused: %s", symbol, side, price, result.get("reason"))
            self.last_refusal = result.get("reason")
            return
        self.last_refusal = None
        self.quotes[symbol, side] = Quote(coid, price, mid)
        log.info("%s %s %s @ %s (mid %s)", symbol, side, body["qty"], price, mid)

    def record_fill(self, side: str, quote: Quote, order: dict[str, Any]) -> None:
        filled = Decimal(order["filledQty"])
        if filled > 0 and order.get("avgFillPrice"):
            sign = 1 if side == "Buy" else -1
            edge = (quote.mid - Decimal(order["avgFillPrice"])) * sign / quote.mid * BPS
            self.fills.append((filled, edge))
            log.info("%s filled %s, edge %.2f bps", quote.client_order_id, filled, edge)

    def edge_bps(self) -> Decimal:
        qty = sum((q for q, _ in self.fills), Decimal(0))
        if qty == 0:
            half_spread: Decimal = self.args.half_spread_bps
            return half_spread
        return sum((q * e for q, e in self.fills), Decimal(0)) / qty

    async def report_edge(self) -> None:
        edge = self.edge_bps().quantize(Decimal("0.01"))
        for symbol in self.sizes:
            body = {"symbol": symbol, "edgeBps": str(edge), "source": "demo_quoter"}
            await self.call("POST", "/v1/risk/edge", body)
        log.info("reported edge %s bps", edge)

    async def open_orders(self) -> list[str]:
        """clientOrderIds of this run's open orders (its prefix), tracked or not."""
        prefix, ids = f"demo-{self.run_id}-", []
        for symbol in self.sizes:
            listed = await self.call("GET", "/v1/orders", symbol=symbol) or {"orders": []}
            ids += [o["clientOrderId"] for o in listed["orders"]]
        return [i for i in ids if i.startswith(prefix)]

    async def cancel_all(self, timeout_s: float = 5.0) -> None:
        """Cancel this run's open orders and wait (a bounded time) until they are closed."""
        for client_order_id in await self.open_orders():
            await self.call("DELETE", f"/v1/orders/{client_order_id}")
        left = await self.open_orders()
        for _ in range(int(timeout_s / 0.2)):
            if not left:
                break
            await asyncio.sleep(0.2)
            left = await self.open_orders()
        log.info("cancelled this run's orders; %d still open", len(left))

    async def run(self, stop: asyncio.Event) -> None:
        loop = asyncio.get_running_loop()
        next_edge = loop.time() + self.args.edge_every
        while not stop.is_set():
            try:
                positions = await self.positions()
                for symbol in self.sizes:
                    await self.requote(symbol, positions.get(symbol, Decimal(0)))
                if self.args.edge_every > 0 and loop.time() >= next_edge:
                    await self.report_edge()
                    next_edge = loop.time() + self.args.edge_every
            except (aiohttp.ClientError, OSError) as error:
                log.warning("gateway or venue unreachable: %s", error)
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(stop.wait(), self.args.interval)


def parse_symbols(text: str) -> dict[str, Decimal]:
    """`BTCUSDT:0.001,ETHUSDT:0.01` -> {symbol: order qty}."""
    pairs = (item.split(":") for item in text.split(",") if item)
    return {symbol.strip().upper(): Decimal(qty) for symbol, qty in pairs}


def parse_args(argv: Sequence[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(prog="python -m examples.demo_quoter", description=__doc__)
    parser.add_argument("--gateway", default="http://127.0.0.1:8080")
    parser.add_argument("--venue", default="http://127.0.0.1:8090", help="for the public ticker")
    parser.add_argument("--symbols", type=parse_symbols, default="BTCUSDT:0.001,ETHUSDT:0.01")
    parser.add_argument("--half-spread-bps", type=Decimal, default=Decimal(5))
    parser.add_argument("--requote-bps", type=Decimal, default=Decimal(2))
    parser.add_argument("--skew-bps-per-1k", type=Decimal, default=Decimal(2))
    parser.add_argument("--max-position-usd", type=Decimal, default=Decimal(2000))
    parser.add_argument("--interval", type=float, default=1.0, help="seconds between requotes")
    parser.add_argument("--edge-every", type=float, default=10.0, help="seconds; 0: never")
    return parser.parse_args(argv)


async def amain(args: argparse.Namespace) -> None:
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(sig, stop.set)
    headers = {"X-MMX-Actor": "demo_quoter"}
    if api_key := os.environ.get("MMX_API_KEY_GATEWAY"):
        headers["X-API-Key"] = api_key
    config = VenueConfig(venue_url=args.venue, sync_clock_on_start=False)
    async with aiohttp.ClientSession(headers=headers) as http, BybitVenue(config) as venue:
        quoter = DemoQuoter(args, http, venue)
        try:
            await quoter.run(stop)
        finally:
            await quoter.cancel_all()


def main(argv: Sequence[str] | None = None) -> None:
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(name)s %(message)s")
    asyncio.run(amain(parse_args(argv)))


if __name__ == "__main__":
    main()
