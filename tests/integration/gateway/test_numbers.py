"""Computed numbers through the real gateway and Redis: P&L to 8 places, ratios to 4, the
same places on every row, whatever digits the exact figures in the stores carry."""

from __future__ import annotations

import re
import time
from decimal import ROUND_HALF_EVEN, Decimal

import httpx
import pytest
import redis.asyncio as aioredis

from libs.common.domain.enums import Side
from libs.common.domain.ids import DEFAULT_ACCOUNT, ExecId, Symbol
from libs.common.domain.positions import Fill, Position, net_pnl, unrealized_pnl
from libs.common.risk_view import ensure_pnl_baseline
from libs.common.stores import RedisPositionStore
from libs.common.stores.marks import Mark, RedisMarkStore
from services.operator import GatewayClient, status_text
from tests.integration.gateway.conftest import LiveGateway

pytestmark = pytest.mark.integration

BTC, ETH = Symbol("BTCUSDT"), Symbol("ETHUSDT")
EIGHT = re.compile(r"^-?\d+\.\d{8}$")


def eight(value: Decimal) -> str:
    return f"{value.quantize(Decimal('1e-8'), rounding=ROUND_HALF_EVEN):f}"


async def vwap_positions(redis: aioredis.Redis) -> Position:
    """BTC bought at three prices (an entry of 28 digits), ETH sold once; both marked."""
    store = RedisPositionStore(redis)
    fills = [
        (BTC, Side.BUY, "0.003", "60000.1"),
        (BTC, Side.BUY, "0.003", "60000.2"),
        (BTC, Side.BUY, "0.001", "60000.4"),
        (ETH, Side.SELL, "1.5", "3000"),
    ]
    for n, (symbol, side, qty, price) in enumerate(fills, start=1):
        fill = Fill(exec_id=ExecId(f"e{n}"), symbol=symbol, side=side, qty=Decimal(qty),
                    price=Decimal(price), fee=Decimal("0.0012"), ts_ns=n)  # fmt: skip
        await store.apply_fill(fill)
    now = time.time_ns()
    marks = [Mark(symbol=BTC, mark=Decimal("59925.3"), ts_ns=now, seen_ns=now),
             Mark(symbol=ETH, mark=Decimal("3000.25"), ts_ns=now, seen_ns=now)]  # fmt: skip
    await RedisMarkStore(redis).put_many(marks)
    btc = await store.get(BTC)
    assert btc is not None and btc.avg_entry_price is not None
    assert len(str(btc.avg_entry_price).split(".")[1]) > 8  # the stored entry stays exact
    return btc


async def test_positions_show_every_field_with_8_places_on_every_row(
    client: httpx.AsyncClient, redis: aioredis.Redis
) -> None:
    btc = await vwap_positions(redis)

    answer = (await client.get("/v1/positions")).json()

    rows = {p["symbol"]: p for p in answer["positions"]}
    for row in rows.values():
        for field in ("qty", "avgEntryPrice", "mark", "realizedPnl", "unrealizedPnl",
                      "feesPaid", "netPnl"):  # fmt: skip
            assert EIGHT.match(row[field]), (field, row[field])
    assert rows["BTCUSDT"]["avgEntryPrice"] == eight(btc.avg_entry_price or Decimal(0))
    assert rows["BTCUSDT"]["unrealizedPnl"] == eight(unrealized_pnl(btc, Decimal("59925.3")))
    assert rows["ETHUSDT"]["qty"] == "-1.50000000"
    assert EIGHT.match(answer["netPnl"])


async def test_risk_and_mmx_status_show_pnl_with_8_places_and_ratios_with_4(
    live_gateway: LiveGateway, redis: aioredis.Redis
) -> None:
    btc = await vwap_positions(redis)
    await ensure_pnl_baseline(redis, DEFAULT_ACCOUNT, time.time_ns(), Decimal("0.1"))
    eth = Decimal("-0.0012") + Decimal("-1.5") * (Decimal("3000.25") - 3000)  # fees, short
    net = net_pnl(btc, Decimal("59925.3")) + eth

    async with httpx.AsyncClient(base_url=live_gateway.url) as http:
        risk = (await http.get("/v1/risk")).json()
    status = status_text(GatewayClient(live_gateway.url))

    assert risk["netPnl"] == eight(net)
    assert risk["pnlToday"] == eight(net - Decimal("0.1"))
    assert all(re.match(r"^\d+\.\d{4}$", row["ratio"]) for row in risk["utilisation"])
    assert f"P&L today {eight(net - Decimal('0.1'))}  net P&L {eight(net)}" in status
