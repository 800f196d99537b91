"""Request signing over real HTTP: Bybit's exact rules and error messages."""

from __future__ import annotations

import time

import aiohttp

from libs.common.venue.signing import sign_rest
from tests.simulator import SimClient, SimProcess

WALLET = "/v5/account/wallet-balance"


async def test_signed_get_and_post_succeed(sim_client: SimClient) -> None:
    reply = await sim_client.get(WALLET, {"accountType": "UNIFIED"})
    assert reply.status == 200 and reply.body["retCode"] == 0
    assert reply.body["result"]["list"][0]["accountType"] == "UNIFIED"
    reply = await sim_client.post(
        "/v5/order/create",
        {
            "category": "linear",
            "symbol": "BTCUSDT",
            "side": "Buy",
            "orderType": "Limit",
            "qty": "0.001",
            "price": "50000",
        },
    )
    assert reply.body["retCode"] == 0 and reply.body["retMsg"] == "OK"
    assert set(reply.body) == {"retCode", "retMsg", "result", "retExtInfo", "time"}


async def test_get_signs_the_raw_query_string_in_the_order_sent(
    venue_sim: SimProcess, sim_client: SimClient
) -> None:
    query = "symbol=BTCUSDT&category=linear"  # not sorted, as ccxt sends it
    url = f"{venue_sim.base_url}/v5/position/list?{query}"
    async with sim_client.session.get(url, headers=sim_client.headers(query)) as resp:
        body = await resp.json()
    assert body["retCode"] == 0, body
    sorted_query = "category=linear&symbol=BTCUSDT"
    async with sim_client.session.get(url, headers=sim_client.headers(sorted_query)) as resp:
        body = await resp.json()
    assert body["retCode"] == 10004


async def test_wrong_secret_is_10004_with_the_origin_string(
    venue_sim: SimProcess, sim_client: SimClient
) -> None:
    bad = SimClient(venue_sim, sim_client.session, api_secret="not-the-secret")
    reply = await bad.get(WALLET, {"accountType": "UNIFIED"})
    assert reply.status == 200
    assert reply.body["retCode"] == 10004
    msg = reply.body["retMsg"]
    assert msg.startswith("error sign! origin_string[")
    assert msg.endswith(f"{venue_sim.api_key}5000accountType=UNIFIED]")


async def test_unknown_key_is_10003(venue_sim: SimProcess, sim_client: SimClient) -> None:
    stranger = SimClient(venue_sim, sim_client.session, api_key="who-is-this")
    reply = await stranger.post("/v5/order/cancel-all", {"category": "spot"})
    assert (reply.status, reply.body["retCode"]) == (200, 10003)


async def test_stale_and_future_timestamps_are_10002(sim_client: SimClient) -> None:
    now = int(time.time() * 1000)
    stale = await sim_client.get(WALLET, {"accountType": "UNIFIED"}, timestamp=now - 6000)
    assert stale.body["retCode"] == 10002
    assert stale.body["retMsg"].startswith(
        "invalid request, please check your server timestamp or recv_window param. "
        f"req_timestamp[{now - 6000}],server_timestamp["
    )
    assert stale.body["retMsg"].endswith(",recv_window[5000]")
    wide = await sim_client.get(
        WALLET, {"accountType": "UNIFIED"}, timestamp=now - 6000, recv_window=20_000
    )
    assert wide.body["retCode"] == 0
    future = await sim_client.get(WALLET, {"accountType": "UNIFIED"}, timestamp=now + 5000)
    assert future.body["retCode"] == 10002


async def test_missing_auth_headers_is_http_401(venue_sim: SimProcess) -> None:
    async with aiohttp.ClientSession() as session:
        url = f"{venue_sim.base_url}{WALLET}?accountType=UNIFIED"
        async with session.get(url) as resp:
            assert resp.status == 401
            assert (await resp.json())["retCode"] == 10003


async def test_sign_type_header_and_recv_window_are_optional(venue_sim: SimProcess) -> None:
    ts = str(int(time.time() * 1000))
    key, secret = venue_sim.api_key, venue_sim.api_secret
    query = "accountType=UNIFIED"
    headers = {
        "X-BAPI-API-KEY": key,
        "X-BAPI-TIMESTAMP": ts,
        "X-BAPI-SIGN": sign_rest(secret, ts, key, 5000, query),
        "X-BAPI-SIGN-TYPE": "2",
    }
    url = f"{venue_sim.base_url}{WALLET}?{query}"
    async with aiohttp.ClientSession() as session, session.get(url, headers=headers) as resp:
        assert (await resp.json())["retCode"] == 0


async def test_post_signs_the_raw_body_bytes(venue_sim: SimProcess, sim_client: SimClient) -> None:
    body = '{"category":"linear",  "symbol":"BTCUSDT"}'  # odd spacing, signed as sent
    url = f"{venue_sim.base_url}/v5/order/cancel-all"
    async with sim_client.session.post(url, data=body, headers=sim_client.headers(body)) as resp:
        assert (await resp.json())["retCode"] == 0
    compact = '{"category":"linear","symbol":"BTCUSDT"}'
    async with sim_client.session.post(url, data=body, headers=sim_client.headers(compact)) as resp:
        assert (await resp.json())["retCode"] == 10004


async def test_malformed_body_after_a_valid_signature_is_10001(
    venue_sim: SimProcess, sim_client: SimClient
) -> None:
    body = "{not json"
    url = f"{venue_sim.base_url}/v5/order/create"
    async with sim_client.session.post(url, data=body, headers=sim_client.headers(body)) as resp:
        reply = await resp.json()
    assert reply["retCode"] == 10001
