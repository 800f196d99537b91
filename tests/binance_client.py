"""A raw HTTP client for the simulator's Binance USDⓈ-M personality, signing as Binance
specifies (every knob of the signature can be overridden, for tests of the refusals).

    async with aiohttp.ClientSession() as session:
        client = BinanceClient(sim, session)        # sim = SimProcess(personality="binance-usdm")
        reply = await client.signed("POST", "/fapi/v1/order", {"symbol": "BTCUSDT", ...})
        reply.status, reply.body, reply.headers

Parameters go in the query string unless `in_body=True` (form body); `signature` is
HMAC-SHA256(secret, query + body) in hex, appended last.
"""

from __future__ import annotations

import time
from typing import Any
from urllib.parse import urlencode

from libs.common.venue.binance.signer import API_KEY_HEADER
from libs.common.venue.binance.signer import sign as sign
from tests.simulator import KeyedClient, Reply, read_reply


class BinanceClient(KeyedClient):
    """Public, USER_STREAM and SIGNED requests to a Binance-personality simulator."""

    async def public(self, method: str, path: str, params: dict[str, Any] | None = None) -> Reply:
        """An unsigned request (market data), parameters in the query string."""
        query = urlencode(params or {})
        url = f"{self.sim.base_url}{path}" + (f"?{query}" if query else "")
        async with self.session.request(method, url) as resp:
            return await read_reply(resp)

    async def keyed(self, method: str, path: str, params: dict[str, Any] | None = None) -> Reply:
        """A USER_STREAM request: the API key header, no signature."""
        query = urlencode(params or {})
        url = f"{self.sim.base_url}{path}" + (f"?{query}" if query else "")
        async with self.session.request(
            method, url, headers={API_KEY_HEADER: self.api_key}
        ) as resp:
            return await read_reply(resp)

    async def signed(
        self,
        method: str,
        path: str,
        params: dict[str, Any] | None = None,
        *,
        in_body: bool = False,
        timestamp: int | None = None,
        recv_window: int | None = None,
        signature: str | None = None,
    ) -> Reply:
        """A SIGNED (TRADE / USER_DATA) request; `signature` replaces the computed one."""
        values = dict(params or {})
        if recv_window is not None:
            values["recvWindow"] = recv_window
        values["timestamp"] = timestamp if timestamp is not None else int(time.time() * 1000)
        payload = urlencode(values)
        signed = f"{payload}&signature={signature or sign(self.api_secret, payload)}"
        headers = {API_KEY_HEADER: self.api_key}
        url = f"{self.sim.base_url}{path}"
        if in_body:
            headers["Content-Type"] = "application/x-www-form-urlencoded"
            request = self.session.request(method, url, data=signed, headers=headers)
        else:
            request = self.session.request(method, f"{url}?{signed}", headers=headers)
        async with request as resp:
            return await read_reply(resp)
