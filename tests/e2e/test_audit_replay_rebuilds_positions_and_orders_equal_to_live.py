"""The audit archive, whole: a real flow through every service (fills, a partial fill, a
cancel, a risk denial, funding, a freeze and unfreeze, a limit change) is archived to S3 (moto
over HTTP) by the archive service; `mmx audit replay` into a fresh redis-server rebuilds
positions equal to the live ones (qty, entry, realized, fees, funding) and every order's
final status and fills equal to the live order records; `mmx audit query` finds an order's
whole trail."""

from __future__ import annotations

import asyncio
import json
import os
from collections.abc import AsyncIterator, Iterator
from decimal import Decimal as D
from pathlib import Path

import pytest
import redis.asyncio as aioredis

from libs.common import topology
from libs.common.domain.ids import DEFAULT_ACCOUNT, ClientOrderId
from libs.common.redis_connect import redis_from_url
from libs.common.redis_server import start_redis_server
from libs.common.stores import RedisOrderStore, RedisPositionStore
from services.archive.replay import archived_order
from services.cli import main
from tests.e2e.conftest import StackFactory
from tests.e2e.harness import E2EStack, wait_for
from tests.moto_server import REGION, Moto, aws_test_env, moto_server

pytestmark = pytest.mark.e2e

BUCKET = "mmx-audit-e2e"
PREFIX = "desk/audit"
ORDERS = ("e2e-a-buy", "e2e-a-sell", "e2e-a-close", "e2e-a-rest", "e2e-a-huge")


@pytest.fixture(scope="module")
def moto(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Moto]:
    with moto_server(tmp_path_factory.mktemp("moto")) as server:
        yield server


@pytest.fixture
def aws(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> dict[str, str]:
    env = aws_test_env(tmp_path)
    for name in [n for n in os.environ if n.startswith("AWS_")]:
        monkeypatch.delenv(name)
    for name, value in env.items():
        monkeypatch.setenv(name, value)
    return env


@pytest.fixture
async def fresh_redis() -> AsyncIterator[aioredis.Redis]:
    server = start_redis_server()
    client = redis_from_url(server.url)
    try:
        yield client
    finally:
        await client.aclose()
        server.stop()


async def _status(stack: E2EStack, cid: str, status: str) -> None:
    async def reached() -> bool:
        order = await stack.gateway.order(cid)
        return bool(order and order["status"] == status)

    await wait_for(reached, what=f"{cid} {status}", timeout_s=15)


async def _trade(stack: E2EStack, symbol: str, price: str, qty: str) -> None:
    await stack.sim.control("trade", {"symbol": symbol, "price": price, "qty": qty})


async def _flow(stack: E2EStack) -> None:
    await stack.set_mid("BTCUSDT", "60000")
    await stack.set_mid("ETHUSDT", "3000")
    await stack.set_limits(edgeFreezeThresholdBps="-100")  # a limit change, archived too
    place = stack.gateway.place
    await place(symbol="BTCUSDT", side="Buy", qty="0.002", price="59990", clientOrderId=ORDERS[0])
    await place(symbol="ETHUSDT", side="Sell", qty="0.05", price="3001", clientOrderId=ORDERS[1])
    await _trade(stack, "BTCUSDT", "59990", "0.001")
    await _status(stack, ORDERS[0], "PartiallyFilled")
    await _trade(stack, "BTCUSDT", "59990", "0.001")
    await _trade(stack, "ETHUSDT", "3001", "0.05")
    await _status(stack, ORDERS[0], "Filled")
    await _status(stack, ORDERS[1], "Filled")
    await place(symbol="BTCUSDT", side="Sell", qty="0.001", price="60010", clientOrderId=ORDERS[2])
    await _trade(stack, "BTCUSDT", "60010", "0.001")
    await _status(stack, ORDERS[2], "Filled")
    await place(symbol="BTCUSDT", side="Buy", qty="0.001", price="59000", clientOrderId=ORDERS[3])
    await _status(stack, ORDERS[3], "New")
    response = await stack.gateway.call("DELETE", f"/v1/orders/{ORDERS[3]}")
    assert response.status_code in (200, 202), response.text
    await _status(stack, ORDERS[3], "Canceled")
    denied = await place(
        symbol="BTCUSDT", side="Buy", qty="1", price="60000", clientOrderId=ORDERS[4]
    )
    assert denied["outcome"] == "denied", denied
    settled = await stack.sim.control("funding", {"symbol": "ETHUSDT", "rate": "0.0001"})
    assert settled["executions"], settled

    async def funded() -> bool:
        positions = {p["symbol"]: p for p in (await stack.gateway.positions())["positions"]}
        eth = positions.get("ETHUSDT")
        return bool(eth and D(eth["fundingPaid"]) != 0)

    await wait_for(funded, what="the ETH funding in the position", timeout_s=15)
    frozen = await stack.gateway.post("/v1/risk/freeze", {"reason": "e2e: archive check"})
    assert frozen.status_code in (200, 201, 202), frozen.text
    thawed = await stack.gateway.post("/v1/risk/unfreeze", {"reason": "e2e: done"})
    assert thawed.status_code in (200, 201, 202), thawed.text


async def _archived_everything(live: aioredis.Redis) -> bool:
    for stream in topology.consumed([DEFAULT_ACCOUNT])[topology.Group.ARCHIVE]:
        for info in await live.xinfo_groups(stream.name):
            if info["name"] == b"archive" and (int(info["lag"] or 0) or int(info["pending"])):
                return False
    return True


async def test_replay_of_the_archive_equals_the_live_positions_and_orders(
    make_stack: StackFactory,
    moto: Moto,
    aws: dict[str, str],
    fresh_redis: aioredis.Redis,
    capsys: pytest.CaptureFixture[str],
) -> None:
    moto.reset()
    moto.client("s3").create_bucket(Bucket=BUCKET)
    archive_env = {
        **aws,
        "MMX_ARCHIVE_DIR": "",
        "MMX_ARCHIVE_BUCKET": BUCKET,
        "MMX_ARCHIVE_PREFIX": PREFIX,
        "MMX_ARCHIVE_REGION": REGION,
        "MMX_ARCHIVE_ENDPOINT_URL": moto.url,
    }
    stack = await make_stack(env={"archive": archive_env})
    await _flow(stack)
    live = redis_from_url(stack.redis_url)
    try:
        await wait_for(lambda: _archived_everything(live), what="the trail archived", timeout_s=15)
        live_positions = await RedisPositionStore(live).all()
        live_orders = {cid: await RedisOrderStore(live).get(ClientOrderId(cid)) for cid in ORDERS}
    finally:
        await live.aclose()
    fresh_url = fresh_redis.connection_pool.connection_kwargs
    target = f"redis://{fresh_url['host']}:{fresh_url['port']}/0"
    source = ["--from", f"s3://{BUCKET}/{PREFIX}", "--endpoint-url", moto.url, "--region", REGION]

    code = await asyncio.to_thread(main, ["audit", "replay", "--redis-url", target, *source])
    replayed = capsys.readouterr()

    assert code == 0, replayed.err
    rebuilt = await RedisPositionStore(fresh_redis).all()
    assert (
        [p.symbol for p in rebuilt]
        == [p.symbol for p in live_positions]
        == [
            "BTCUSDT",
            "ETHUSDT",
        ]
    )
    for mine, theirs in zip(rebuilt, live_positions, strict=True):
        assert mine == theirs  # qty, entry, realized, fees, funding, time: all of it
    assert rebuilt[0].qty == D("0.001") and rebuilt[1].funding_paid == D("-0.015")
    for cid, order in live_orders.items():
        assert order is not None, cid
        history = await archived_order(fresh_redis, cid)
        assert history is not None, cid
        assert history["status"] == order.status.value, cid
        assert D(history["filled_qty"]) == order.filled_qty, cid
        avg = history["avg_fill_price"]
        assert (D(avg) if avg else None) == order.avg_fill_price, cid
        if order.venue_order_id:
            assert history["venue_order_id"] == order.venue_order_id, cid
    assert len((await archived_order(fresh_redis, ORDERS[0]) or {})["fills"]) == 2
    assert "replayed" in replayed.out and "BTCUSDT" in replayed.out

    again = await asyncio.to_thread(main, ["audit", "replay", "--redis-url", target, *source])
    assert again == 1, "a Redis that is not empty is refused"
    assert "not" in capsys.readouterr().err

    code = await asyncio.to_thread(
        main, ["audit", "query", "--since", "10m", "--order", ORDERS[0], *source]
    )
    trail = [json.loads(line) for line in capsys.readouterr().out.splitlines()]
    types = [t["envelope"]["type"] for t in trail]
    assert code == 0
    assert types[0] == "PlaceOrder" and types.count("OrderFilled") == 2
    assert {"OrderApproved", "OrderSubmitted", "OrderAcknowledged"} <= set(types)
    code = await asyncio.to_thread(
        main, ["audit", "query", "--since", "10m", "--type", "TradingStateChanged", *source]
    )
    out = capsys.readouterr().out
    states = [json.loads(line)["envelope"]["payload"] for line in out.splitlines()]
    assert [s["state"] for s in states][-2:] == ["FROZEN", "ACTIVE"]
