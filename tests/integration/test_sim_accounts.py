"""Several accounts over real HTTP and WebSocket: each key pair trades its own account (keys
with the same `key:secret:uid` share one), the accounts' orders meet in one book, and
nothing else of one account is visible to, or touched by, another."""

from __future__ import annotations

import asyncio
import shutil
import time
from collections.abc import AsyncIterator, Iterator
from contextlib import AsyncExitStack
from decimal import Decimal
from pathlib import Path
from typing import Any

import aiohttp
import pytest

from tests.integration.conftest import TEST_LIMITS
from tests.simulator import SimClient, SimProcess

pytestmark = pytest.mark.integration
UID_A, UID_B = "100100100", "100100101"
KEY_A, KEY_B, KEY_A2 = ("acct-a", "secret-a"), ("acct-b", "secret-b"), ("acct-a2", "secret-a2")
KEYS = f"{KEY_A[0]}:{KEY_A[1]},{KEY_B[0]}:{KEY_B[1]},{KEY_A2[0]}:{KEY_A2[1]}:{UID_A}"
"""A and B trade accounts of their own; A2 is a second key of A's account."""
LINEAR = {"category": "linear", "symbol": "BTCUSDT"}
OLD_STATE = Path(__file__).parents[1] / "unit" / "venue_sim" / "data" / "state_v1.json"
Ws = aiohttp.ClientWebSocketResponse


def limit(side: str, qty: str, price: str, **extra: Any) -> dict[str, Any]:
    return {**LINEAR, "side": side, "orderType": "Limit", "qty": qty, "price": price, **extra}


def market(side: str, qty: str, **extra: Any) -> dict[str, Any]:
    return {**LINEAR, "side": side, "orderType": "Market", "qty": qty, **extra}


@pytest.fixture(scope="module")
def accounts_sim() -> Iterator[SimProcess]:
    with SimProcess(api_key=KEY_A[0], api_secret=KEY_A[1], env={"MMX_SIM_KEYS": KEYS}) as sim:
        yield sim


@pytest.fixture
async def sim(accounts_sim: SimProcess) -> SimProcess:
    """Reset, frozen, BTCUSDT mid 60000 (bid 59999.9, ask 60000.1), limits out of the way."""
    await accounts_sim.control("reset", {"marketFrozen": True})
    await accounts_sim.control("limits", TEST_LIMITS)
    await accounts_sim.control("mid", {"symbol": "BTCUSDT", "price": "60000"})
    return accounts_sim


@pytest.fixture
async def session() -> AsyncIterator[aiohttp.ClientSession]:
    async with aiohttp.ClientSession() as http:
        yield http


@pytest.fixture
def a(sim: SimProcess, session: aiohttp.ClientSession) -> SimClient:
    return SimClient(sim, session, api_key=KEY_A[0], api_secret=KEY_A[1])


@pytest.fixture
def b(sim: SimProcess, session: aiohttp.ClientSession) -> SimClient:
    return SimClient(sim, session, api_key=KEY_B[0], api_secret=KEY_B[1])


@pytest.fixture
def a2(sim: SimProcess, session: aiohttp.ClientSession) -> SimClient:
    return SimClient(sim, session, api_key=KEY_A2[0], api_secret=KEY_A2[1])


async def ok(client: SimClient, path: str, body: dict[str, Any]) -> dict[str, Any]:
    """POST `path` and return its result, failing on any retCode but 0."""
    reply = await client.post(path, body)
    assert reply.body["retCode"] == 0, reply.body
    result: dict[str, Any] = reply.body["result"]
    return result


async def listed(client: SimClient, path: str, params: dict[str, Any]) -> list[dict[str, Any]]:
    reply = await client.get(path, params)
    assert reply.body["retCode"] == 0, reply.body
    items: list[dict[str, Any]] = reply.body["result"]["list"]
    return items


async def position(client: SimClient) -> tuple[str, str]:
    [row] = await listed(client, "/v5/position/list", LINEAR)
    return row["side"], row["size"]


async def usdt(client: SimClient) -> Decimal:
    [wallet] = await listed(client, "/v5/account/wallet-balance", {"accountType": "UNIFIED"})
    [coin] = [c for c in wallet["coin"] if c["coin"] == "USDT"]
    return Decimal(coin["walletBalance"])


async def user_id(client: SimClient) -> int:
    reply = await client.get("/v5/user/query-api")
    found: int = reply.body["result"]["userID"]
    return found


async def test_two_keys_trade_two_accounts_with_their_own_wallets_positions_and_orders(
    sim: SimProcess, a: SimClient, b: SimClient, a2: SimClient
) -> None:
    await ok(a, "/v5/order/create", limit("Buy", "0.010", "59000", orderLinkId="a-bid"))
    await ok(b, "/v5/order/create", market("Buy", "0.010"))

    assert [o["orderLinkId"] for o in await listed(a, "/v5/order/realtime", LINEAR)] == ["a-bid"]
    assert await listed(b, "/v5/order/realtime", LINEAR) == []
    assert [o["orderLinkId"] for o in await listed(a2, "/v5/order/realtime", LINEAR)] == ["a-bid"]
    assert (await position(a), await position(b)) == (("", "0"), ("Buy", "0.010"))
    assert await usdt(a) == Decimal(100_000) > await usdt(b)  # only B paid a taker fee
    assert await listed(a, "/v5/execution/list", LINEAR) == []
    assert [await user_id(c) for c in (a, b, a2)] == [int(UID_A), int(UID_B), int(UID_A)]
    accounts = (await sim.control("accounts", method="GET"))["list"]
    assert [(x["uid"], x["apiKeys"], x["openOrders"]) for x in accounts] == [
        (UID_A, [KEY_A[0], KEY_A2[0]], 1),
        (UID_B, [KEY_B[0]], 0),
    ]


async def test_a_cross_account_match_fills_both_sides_in_their_own_accounts(
    sim: SimProcess, a: SimClient, b: SimClient
) -> None:
    ask = await ok(a, "/v5/order/create", limit("Sell", "0.010", "60000.0", orderLinkId="ask"))
    bid = await ok(b, "/v5/order/create", limit("Buy", "0.010", "60000.0", orderLinkId="bid"))

    [maker] = await listed(a, "/v5/execution/list", LINEAR)
    [taker] = await listed(b, "/v5/execution/list", LINEAR)
    assert (maker["orderId"], maker["side"], maker["isMaker"], maker["execPrice"]) == (
        ask["orderId"],
        "Sell",
        True,
        "60000.0",
    )
    assert (taker["orderId"], taker["side"], taker["isMaker"], taker["execPrice"]) == (
        bid["orderId"],
        "Buy",
        False,
        "60000.0",
    )
    assert (maker["feeRate"], taker["feeRate"]) == ("0.0002", "0.00055")
    assert (await position(a), await position(b)) == (("Sell", "0.010"), ("Buy", "0.010"))
    [a_order] = await listed(a, "/v5/order/history", LINEAR)
    assert (a_order["orderLinkId"], a_order["orderStatus"]) == ("ask", "Filled")
    [b_order] = await listed(b, "/v5/order/history", LINEAR)
    assert (b_order["orderLinkId"], b_order["orderStatus"]) == ("bid", "Filled")
    [trade] = await listed(a, "/v5/market/recent-trade", {**LINEAR, "limit": 1})
    assert (trade["price"], trade["size"], trade["side"]) == ("60000.0", "0.010", "Buy")


async def test_an_account_cannot_cancel_amend_or_query_another_accounts_order(
    sim: SimProcess, a: SimClient, b: SimClient, a2: SimClient
) -> None:
    ids = await ok(a, "/v5/order/create", limit("Buy", "0.010", "59000", orderLinkId="a-1"))
    by_id = {**LINEAR, "orderId": ids["orderId"]}

    cancel = await b.post("/v5/order/cancel", by_id)
    assert (cancel.body["retCode"], cancel.body["retMsg"]) == (
        110001,
        "order not exists or too late to cancel",
    )
    by_link = await b.post("/v5/order/cancel", {**LINEAR, "orderLinkId": "a-1"})
    assert by_link.body["retCode"] == 110001
    amend = await b.post("/v5/order/amend", {**by_id, "price": "59100"})
    assert (amend.body["retCode"], amend.body["retMsg"]) == (
        110001,
        "order not exists or too late to replace",
    )
    assert await listed(b, "/v5/order/realtime", by_id) == []
    assert await listed(b, "/v5/order/history", LINEAR) == []
    assert (await ok(b, "/v5/order/cancel-all", LINEAR))["list"] == []
    request = [{"symbol": "BTCUSDT", "orderLinkId": "a-1"}]
    batch = await ok(b, "/v5/order/cancel-batch", {"category": "linear", "request": request})
    assert batch["list"][0]["orderId"] == ""
    [still] = await listed(a, "/v5/order/realtime", by_id)
    assert (still["orderStatus"], still["price"]) == ("New", "59000.0")
    # another key of the same account may
    assert (await ok(a2, "/v5/order/cancel", by_id))["orderId"] == ids["orderId"]


async def test_an_order_link_id_is_unique_within_an_account_not_across_accounts(
    sim: SimProcess, a: SimClient, b: SimClient, a2: SimClient
) -> None:
    await ok(a, "/v5/order/create", limit("Buy", "0.010", "59000", orderLinkId="dup"))
    await ok(b, "/v5/order/create", limit("Buy", "0.010", "59000", orderLinkId="dup"))
    for same_account in (a, a2):
        again = await same_account.post(
            "/v5/order/create", limit("Buy", "0.010", "59000", orderLinkId="dup")
        )
        assert (again.body["retCode"], again.body["retMsg"]) == (
            110072,
            "OrderLinkedID is duplicate",
        )
    [mine] = await listed(b, "/v5/order/realtime", {**LINEAR, "orderLinkId": "dup"})
    assert mine["orderLinkId"] == "dup"
    assert len(await sim.orders()) == 2


async def subscribed(client: SimClient, sim: SimProcess, stack: AsyncExitStack) -> Ws:
    """A private connection of `client`'s key, subscribed to every account topic."""
    ws: Ws = await stack.enter_async_context(client.session.ws_connect(sim.ws_private_url))
    await ws.send_json(client.ws_auth())
    assert (await ws.receive_json(timeout=3))["success"] is True
    await ws.send_json({"op": "subscribe", "args": ["order", "execution", "position", "wallet"]})
    assert (await ws.receive_json(timeout=3))["success"] is True
    return ws


async def drain(ws: Ws, quiet_s: float = 0.5) -> list[dict[str, Any]]:
    """Every message that arrives until none has for `quiet_s`."""
    messages = []
    while True:
        try:
            messages.append(await ws.receive_json(timeout=quiet_s))
        except TimeoutError:
            return messages


def order_ids(messages: list[dict[str, Any]], topic: str) -> set[str]:
    return {item["orderId"] for m in messages if m["topic"] == topic for item in m["data"]}


async def test_a_private_connection_gets_its_own_accounts_updates_only(
    sim: SimProcess, a: SimClient, b: SimClient
) -> None:
    async with AsyncExitStack() as stack:
        ws_a, ws_b = await subscribed(a, sim, stack), await subscribed(b, sim, stack)
        ask = await ok(a, "/v5/order/create", limit("Sell", "0.010", "60000.0"))
        assert await drain(ws_b) == []
        bid = await ok(b, "/v5/order/create", limit("Buy", "0.010", "60000.0"))
        seen_a, seen_b = await drain(ws_a), await drain(ws_b)

    assert order_ids(seen_a, "order") == order_ids(seen_a, "execution") == {ask["orderId"]}
    assert order_ids(seen_b, "order") == order_ids(seen_b, "execution") == {bid["orderId"]}
    positions = {
        name: [(p["side"], p["size"]) for m in seen if m["topic"] == "position" for p in m["data"]]
        for name, seen in (("a", seen_a), ("b", seen_b))
    }
    assert positions["a"][-1] == ("Sell", "0.010") and positions["b"][-1] == ("Buy", "0.010")
    assert ("Buy", "0.010") not in positions["a"] and ("Sell", "0.010") not in positions["b"]
    wallets = {
        name: [m["data"][0]["coin"][0]["walletBalance"] for m in seen if m["topic"] == "wallet"]
        for name, seen in (("a", seen_a), ("b", seen_b))
    }
    assert wallets == {"a": ["99999.88"], "b": ["99999.67"]}  # maker fee 0.12, taker 0.33


async def test_the_order_rate_limit_is_counted_per_account(
    sim: SimProcess, a: SimClient, b: SimClient, a2: SimClient
) -> None:
    await sim.control("limits", {"tradePerSecond": 2})
    codes = [
        (await a.post("/v5/order/create", limit("Buy", "0.001", "50000"))).body["retCode"]
        for _ in range(3)
    ]
    assert codes == [0, 0, 10006]
    other = await b.post("/v5/order/create", limit("Buy", "0.001", "50000"))
    assert other.body["retCode"] == 0 and other.headers["X-Bapi-Limit-Status"] == "1"
    same_account = await a2.post("/v5/order/create", limit("Buy", "0.001", "50000"))
    assert same_account.body["retCode"] == 10006


async def test_dcp_cancels_only_the_orders_of_the_account_whose_connection_dropped(
    sim: SimProcess, a: SimClient, b: SimClient
) -> None:
    await ok(a, "/v5/order/disconnected-cancel-all", {"product": "DERIVATIVES", "timeWindow": 3})
    [b_window] = [
        i
        for i in (await b.get("/v5/account/query-dcp-info")).body["result"]["dcpInfos"]
        if i["product"] == "DERIVATIVES"
    ]
    assert b_window["timeWindow"] == "10"  # A's setting is A's
    await ok(b, "/v5/order/create", limit("Buy", "0.010", "59000", orderLinkId="b-keep"))
    async with a.session.ws_connect(sim.ws_private_url) as guard:
        await guard.send_json(a.ws_auth())
        await guard.receive_json(timeout=3)
        await guard.send_json({"op": "subscribe", "args": ["dcp"]})
        assert (await guard.receive_json(timeout=3))["success"] is True
        await ok(a, "/v5/order/create", limit("Buy", "0.010", "59000", orderLinkId="a-go"))
    deadline = time.monotonic() + 8
    while time.monotonic() < deadline:
        held = await sim.orders()
        statuses = {o["orderLinkId"]: (o["orderStatus"], o["cancelType"]) for o in held}
        if statuses["a-go"][0] == "Cancelled":
            break
        await asyncio.sleep(0.2)
    assert statuses == {"a-go": ("Cancelled", "CancelByDCP"), "b-keep": ("New", "UNKNOWN")}


async def test_control_endpoints_select_an_account_by_uid_or_api_key(
    sim: SimProcess, a: SimClient, b: SimClient
) -> None:
    await ok(b, "/v5/order/create", market("Buy", "0.010", orderLinkId="b-long"))

    def sizes(reply: dict[str, Any]) -> list[str]:
        return [p["size"] for p in reply["list"] if p["symbol"] == "BTCUSDT"]

    assert sizes(await sim.control("positions", method="GET")) == ["0"]  # the first account
    assert sizes(await sim.control(f"positions?uid={UID_B}", method="GET")) == ["0.010"]
    assert sizes(await sim.control(f"positions?apiKey={KEY_B[0]}", method="GET")) == ["0.010"]
    with pytest.raises(RuntimeError, match=r"400.*no account has uid '42'.*100100101"):
        await sim.control("positions?uid=42", method="GET")
    with pytest.raises(RuntimeError, match=r"400.*apiKey 'nope' is not a key"):
        await sim.control("positions?apiKey=nope", method="GET")
    with pytest.raises(RuntimeError, match=r"400.*trades uid 100100101, not the uid 100100100"):
        await sim.control(f"positions?uid={UID_A}&apiKey={KEY_B[0]}", method="GET")

    rate = {"symbol": "BTCUSDT", "rate": "0.0001"}
    assert (await sim.control("funding", rate))["executions"] == []  # A is flat
    [paid] = (await sim.control(f"funding?uid={UID_B}", rate))["executions"]
    assert (paid["execType"], paid["execFee"]) == ("Funding", "0.06")
    assert [e["execType"] for e in await listed(b, "/v5/execution/list", LINEAR)] == [
        "Funding",
        "Trade",
    ]
    assert [o["orderLinkId"] for o in await sim.orders()] == ["b-long"]  # every account's
    assert (await sim.control(f"orders?uid={UID_A}", method="GET"))["list"] == []
    executions = await sim.control(f"executions?apiKey={KEY_A[0]}", method="GET")
    assert executions["list"] == []


async def test_a_state_file_of_the_single_account_simulator_loads_as_the_first_account(
    tmp_path: Path, session: aiohttp.ClientSession
) -> None:
    state_file = tmp_path / "state.json"
    shutil.copy(OLD_STATE, state_file)
    env = {"MMX_SIM_KEYS": KEYS, "MMX_SIM_STATE_PATH": str(state_file)}
    with SimProcess(api_key=KEY_A[0], api_secret=KEY_A[1], env=env) as sim:
        a = SimClient(sim, session, api_key=KEY_A[0], api_secret=KEY_A[1])
        b = SimClient(sim, session, api_key=KEY_B[0], api_secret=KEY_B[1])
        open_orders = await listed(a, "/v5/order/realtime", LINEAR)
        assert [o["orderLinkId"] for o in open_orders] == ["v1-bid"]
        assert await position(a) == ("Buy", "0.003")
        assert [e["execType"] for e in await listed(a, "/v5/execution/list", LINEAR)] == [
            "Funding",
            "Trade",
        ]
        assert await listed(b, "/v5/order/realtime", LINEAR) == []
        assert await position(b) == ("", "0")
        assert await usdt(b) == Decimal(100_000)
    assert b'"version":2' in state_file.read_bytes()  # written back in the new format
