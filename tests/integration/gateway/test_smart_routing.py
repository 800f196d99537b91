"""The gateway's smart order router over real Redis: previews, auto orders and their children.

Books are written as the positions service's book feed writes them (`write_books`), and a
circuit as a router lane writes it; the end-to-end routing against two simulators is
tests/e2e/test_smart_order_routing_across_two_venues.py.
"""

from __future__ import annotations

import time
from collections.abc import AsyncIterator
from decimal import Decimal
from typing import Any

import httpx
import pytest
import redis.asyncio as aioredis
from fastapi import FastAPI

from libs.common.bus import DATA_FIELD
from libs.common.domain.enums import Category
from libs.common.domain.ids import DEFAULT_ACCOUNT, ClientOrderId, VenueId
from libs.common.domain.instruments import InstrumentRules
from libs.common.messages import Envelope, PlaceOrder
from libs.common.route_books import write_books
from libs.common.stores.marks import Mark, RedisMarkStore
from libs.common.topology import ORDERS_REQUESTS, VENUE_CIRCUITS_KEY, keys_of, venue_circuit_key
from libs.common.venue.models import FeeRates, OrderBook
from services.gateway.app import create_app
from tests.integration.gateway.conftest import gateway_settings

BYBIT, BINANCE = VenueId("bybit"), VenueId("binance-usdm")
D = Decimal


def rules(symbol: str = "BTCUSDT") -> InstrumentRules:
    return InstrumentRules(
        symbol=symbol,
        category=Category.LINEAR,
        base_coin="BTC",
        tick_size=D("0.1"),
        min_price=D("0.1"),
        max_price=D("1000000"),
        qty_step=D("0.001"),
        min_qty=D("0.001"),
        max_qty=D("100"),
        max_mkt_qty=D("100"),
        min_notional=D("5"),
    )


async def put_book(
    redis: aioredis.Redis,
    venue: VenueId,
    asks: list[tuple[str, str]],
    *,
    taker: str,
    bids: list[tuple[str, str]] | None = None,
    age_s: float = 0.0,
) -> None:
    book = OrderBook(
        symbol="BTCUSDT",
        bids=tuple((D(p), D(q)) for p, q in bids or [("59990", "5")]),
        asks=tuple((D(p), D(q)) for p, q in asks),
        ts_ms=int(time.time() * 1000),
    )
    fees = FeeRates(symbol="BTCUSDT", maker=D("0.0002"), taker=D(taker))
    now_ns = time.time_ns() - int(age_s * 1e9)
    await write_books(redis, venue, [(book, fees, rules())], now_ns=now_ns)


@pytest.fixture
async def app(redis: aioredis.Redis, redis_url: str) -> AsyncIterator[FastAPI]:
    settings = gateway_settings(redis_url, venues="bybit,binance-usdm")
    app = create_app(settings)
    now = time.time_ns()
    await RedisMarkStore(redis).put_many(
        [Mark(symbol="BTCUSDT", mark=D("60000"), ts_ns=now, seen_ns=now)]
    )
    async with app.router.lifespan_context(app):
        yield app


@pytest.fixture
async def http(app: FastAPI) -> AsyncIterator[httpx.AsyncClient]:
    transport = httpx.ASGITransport(app=app)
    async with httpx.AsyncClient(transport=transport, base_url="http://gateway") as client:
        yield client


def auto(**overrides: Any) -> dict[str, Any]:
    body = {"symbol": "BTCUSDT", "side": "Buy", "orderType": "Market", "qty": "0.1"}
    return body | {"venue": "auto"} | overrides


async def test_preview_picks_the_venue_with_the_better_price_after_fees(
    http: httpx.AsyncClient, redis: aioredis.Redis
) -> None:
    # bybit asks 60000 at 5.5 bps (60033.0 after fees); binance 60010 at 2 bps (60022.0)
    await put_book(redis, BYBIT, [("60000", "5")], taker="0.00055")
    await put_book(redis, BINANCE, [("60010", "5")], taker="0.0002")

    answer = await http.post("/v1/route/preview", json=auto())

    assert answer.status_code == 200, answer.text
    plan = answer.json()
    assert [(c["venue"], D(c["qty"])) for c in plan["children"]] == [("binance-usdm", D("0.1"))]
    assert D(plan["children"][0]["effectivePrice"]) == D("60022.002")
    assert D(plan["unfilledQty"]) == 0
    verdicts = {v["venue"]: v for v in plan["verdicts"]}
    assert verdicts["binance-usdm"]["eligible"] and verdicts["bybit"]["eligible"]
    assert "binance-usdm" in plan["summary"]


async def test_preview_splits_when_the_best_book_runs_out(
    http: httpx.AsyncClient, redis: aioredis.Redis
) -> None:
    await put_book(redis, BYBIT, [("60000", "5")], taker="0.00055")
    await put_book(redis, BINANCE, [("60010", "0.04")], taker="0.0002")

    plan = (await http.post("/v1/route/preview", json=auto(qty="0.15"))).json()

    children = {c["venue"]: D(c["qty"]) for c in plan["children"]}
    assert children == {"binance-usdm": D("0.04"), "bybit": D("0.11")}
    assert sum(children.values()) == D("0.15")
    assert plan["children"][0]["venue"] == "binance-usdm"  # best first


async def test_preview_never_routes_more_than_the_risk_headroom(
    http: httpx.AsyncClient, redis: aioredis.Redis
) -> None:
    # the default inventory limit, 10000 USD, is 0.166 BTC at the 60000 mark
    await put_book(redis, BYBIT, [("60000", "5")], taker="0.00055")
    await put_book(redis, BINANCE, [("60010", "5")], taker="0.0002")

    plan = (await http.post("/v1/route/preview", json=auto(qty="1"))).json()

    assert {c["venue"]: D(c["qty"]) for c in plan["children"]} == {"binance-usdm": D("0.166")}
    assert D(plan["unfilledQty"]) == 1 - D("0.166")
    assert plan["summary"].startswith("risk admits 0.16666666 of 1 more BTCUSDT Buy")


async def test_preview_spares_a_venue_whose_circuit_is_open_or_book_is_stale(
    http: httpx.AsyncClient, redis: aioredis.Redis
) -> None:
    await put_book(redis, BYBIT, [("60000", "5")], taker="0.00055")
    await put_book(redis, BINANCE, [("59000", "5")], taker="0.0002")
    lane = "router-1@binance-usdm"
    await redis.hset(
        venue_circuit_key(lane),
        mapping={"state": "open", "account": DEFAULT_ACCOUNT, "venue": BINANCE, "failures": 5},
    )
    await redis.zadd(VENUE_CIRCUITS_KEY, {lane: int(time.time() * 1000)})

    plan = (await http.post("/v1/route/preview", json=auto())).json()

    assert [c["venue"] for c in plan["children"]] == ["bybit"]
    verdicts = {v["venue"]: v for v in plan["verdicts"]}
    assert not verdicts["binance-usdm"]["eligible"]
    assert "circuit open" in verdicts["binance-usdm"]["reason"]

    await redis.delete(venue_circuit_key(lane))
    await put_book(redis, BINANCE, [("59000", "5")], taker="0.0002", age_s=5)
    plan = (await http.post("/v1/route/preview", json=auto())).json()
    assert [c["venue"] for c in plan["children"]] == ["bybit"]
    assert "stale" in {v["venue"]: v for v in plan["verdicts"]}["binance-usdm"]["reason"]


async def test_auto_order_places_one_ioc_child_per_venue_and_a_retry_places_nothing(
    http: httpx.AsyncClient, redis: aioredis.Redis
) -> None:
    await put_book(redis, BYBIT, [("60000", "5")], taker="0.00055")
    await put_book(redis, BINANCE, [("60010", "0.04"), ("60100", "5")], taker="0.0002")
    stream = ORDERS_REQUESTS.of(DEFAULT_ACCOUNT).name

    first = await http.post("/v1/orders", json=auto(qty="0.15", clientOrderId="hedge-7"))

    assert first.status_code == 202, first.text
    routed = first.json()
    assert routed["parentId"] == "hedge-7" and routed["created"] is True
    orders = [r["order"] for r in routed["children"]]
    assert [(o["clientOrderId"], o["venue"], D(o["qty"])) for o in orders] == [
        ("hedge-7-1", "binance-usdm", D("0.04")),
        ("hedge-7-2", "bybit", D("0.11")),
    ]
    for o in orders:
        assert (o["parentId"], o["orderType"], o["timeInForce"]) == ("hedge-7", "Limit", "IOC")
    assert [D(o["price"]) for o in orders] == [D("60010"), D("60000")]
    entries = await redis.xrange(stream)
    commands = [Envelope.from_json(fields[DATA_FIELD]).open() for _, fields in entries]
    assert [(c.client_order_id, c.venue) for c in commands if isinstance(c, PlaceOrder)] == [
        ("hedge-7-1", "binance-usdm"),
        ("hedge-7-2", "bybit"),
    ]

    # the books move; a retry answers the same children and places nothing
    await put_book(redis, BINANCE, [("59000", "9")], taker="0.0002")
    again = await http.post("/v1/orders", json=auto(qty="0.15", clientOrderId="hedge-7"))
    assert again.status_code == 200, again.text
    assert again.json()["created"] is False
    assert [r["order"]["clientOrderId"] for r in again.json()["children"]] == [
        "hedge-7-1",
        "hedge-7-2",
    ]
    assert await redis.xlen(stream) == len(entries)

    other = await http.post("/v1/orders", json=auto(qty="0.2", clientOrderId="hedge-7"))
    assert other.status_code == 409, other.text
    assert "qty" in other.json()["error"]


@pytest.mark.parametrize(
    ("overrides", "says"),
    [
        ({"orderType": "Limit", "price": "60000", "timeInForce": "GTC"}, "would rest"),
        ({"reduceOnly": True}, "reduce-only"),
        ({"clientOrderId": "x" * 35}, "at most 34"),
    ],
)
async def test_an_auto_order_the_router_may_not_split_is_refused_with_the_reason(
    http: httpx.AsyncClient, redis: aioredis.Redis, overrides: dict[str, Any], says: str
) -> None:
    answer = await http.post("/v1/orders", json=auto(**overrides))

    assert answer.status_code == 422, answer.text
    assert says in answer.json()["error"]
    assert await redis.xlen(ORDERS_REQUESTS.of(DEFAULT_ACCOUNT).name) == 0


async def test_an_auto_order_no_venue_can_take_is_refused_with_each_venues_verdict(
    http: httpx.AsyncClient, redis: aioredis.Redis
) -> None:
    await put_book(redis, BYBIT, [("61000", "5")], taker="0.00055")

    answer = await http.post(
        "/v1/orders", json=auto(orderType="Limit", price="60000", timeInForce="IOC")
    )

    assert answer.status_code == 422, answer.text
    details = {d["venue"]: d["reason"] for d in answer.json()["details"]}
    assert "no book" in details["binance-usdm"]
    assert "60000" in details["bybit"]


async def test_simulate_of_an_auto_order_says_where_it_would_go(
    http: httpx.AsyncClient, redis: aioredis.Redis
) -> None:
    await put_book(redis, BYBIT, [("60000", "5")], taker="0.00055")
    await put_book(redis, BINANCE, [("60010", "5")], taker="0.0002")

    answer = await http.post("/v1/risk/simulate", json=auto(qty="0.01"))

    assert answer.status_code == 200, answer.text
    result = answer.json()
    assert result["approved"] is True
    assert [c["venue"] for c in result["route"]["children"]] == ["binance-usdm"]


async def test_an_order_for_a_venue_not_traded_is_refused(redis_url: str) -> None:
    app = create_app(gateway_settings(redis_url))  # MMX_VENUES: bybit only
    async with app.router.lifespan_context(app):
        transport = httpx.ASGITransport(app=app)
        async with httpx.AsyncClient(transport=transport, base_url="http://gw") as client:
            body = {"symbol": "BTCUSDT", "side": "Buy", "orderType": "Market", "qty": "1"}
            answer = await client.post("/v1/orders", json=body | {"venue": "binance-usdm"})
    assert answer.status_code == 422, answer.text
    assert "MMX_VENUES" in answer.json()["error"]


async def test_a_failure_between_the_route_claim_and_the_children_is_completed_by_the_retry(
    http: httpx.AsyncClient, redis: aioredis.Redis
) -> None:
    await put_book(redis, BYBIT, [("60000", "5")], taker="0.00055")
    await put_book(redis, BINANCE, [("60010", "0.04"), ("60100", "5")], taker="0.0002")
    stream = ORDERS_REQUESTS.of(DEFAULT_ACCOUNT).name
    await redis.set(stream, "not a stream")  # every XADD fails: the children cannot be written

    failed = await http.post("/v1/orders", json=auto(qty="0.15", clientOrderId="hedge-9"))

    assert failed.status_code == 503, failed.text
    claim = keys_of(DEFAULT_ACCOUNT).route(ClientOrderId("hedge-9"))
    assert await redis.exists(claim)  # the route was claimed before the children failed
    await redis.delete(stream)
    await put_book(redis, BINANCE, [("59000", "9")], taker="0.0002")  # the books move meanwhile

    retried = await http.post("/v1/orders", json=auto(qty="0.15", clientOrderId="hedge-9"))

    assert retried.status_code == 202, retried.text
    orders = [r["order"] for r in retried.json()["children"]]
    assert [(o["clientOrderId"], o["venue"], D(o["qty"])) for o in orders] == [
        ("hedge-9-1", "binance-usdm", D("0.04")),  # the claimed route, not a new one
        ("hedge-9-2", "bybit", D("0.11")),
    ]
    assert await redis.xlen(stream) == 2


async def test_a_venues_own_inventory_limit_denies_there_and_routing_goes_elsewhere(
    http: httpx.AsyncClient, redis: aioredis.Redis
) -> None:
    limits = {"maxInventoryUsdBinanceUsdm": "2000"}
    assert (await http.put("/v1/risk/limits", json=limits)).status_code == 200
    order = {"symbol": "BTCUSDT", "side": "Buy", "orderType": "Market", "qty": "0.05"}

    there = (await http.post("/v1/risk/simulate", json=order | {"venue": "binance-usdm"})).json()
    here = (await http.post("/v1/risk/simulate", json=order | {"venue": "bybit"})).json()

    assert there["approved"] is False
    assert there["reason"] == (
        "inventory BTCUSDT Buy at binance-usdm would be 3000 USD, limit 2000 USD at binance-usdm"
    )
    assert here["approved"] is True


async def test_a_venues_own_inventory_limit_caps_its_share_of_an_auto_order(
    http: httpx.AsyncClient, redis: aioredis.Redis
) -> None:
    await put_book(redis, BYBIT, [("60000", "5")], taker="0.00055")
    await put_book(redis, BINANCE, [("60010", "5")], taker="0.0002")  # the better venue
    assert (
        await http.put("/v1/risk/limits", json={"maxInventoryUsdBinanceUsdm": "3000"})
    ).is_success

    plan = (await http.post("/v1/route/preview", json=auto(qty="0.1"))).json()

    # 3000 USD at the 60000 mark is 0.05 BTC at Binance; the rest goes to Bybit
    assert {c["venue"]: D(c["qty"]) for c in plan["children"]} == {
        "binance-usdm": D("0.05"),
        "bybit": D("0.05"),
    }
