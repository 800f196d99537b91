"""The door every Binance REST call goes through: faults, request weight, authentication,
order counts, then the handler, whose result (or BinanceError) becomes the answer.

Parameters are read from the query string and from a form body (either or both; a name in
both takes the query string's value). Answers are JSON: 200 with the handler's data, or
the error's HTTP status (400 mostly, 401 for keys, 429 / 418 for limits) with
`{"code", "msg"}`. Every answer carries `X-MBX-USED-WEIGHT-1M`, order endpoints also the
order counts. Injected 5xx answer `{"timestamp", "path", "msg"}` as Binance's front does:
"Service Unavailable." before the request was handled (it failed), or "Unknown error,
please check your request or try again later." after it was (its outcome is unknown).
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Any, Literal
from urllib.parse import parse_qsl

import orjson
from aiohttp import web

from services.venue_sim.binance import auth, errors
from services.venue_sim.binance.errors import BinanceError
from services.venue_sim.binance.params import Params
from services.venue_sim.binance.state import BinanceState
from services.venue_sim.gate import drop as drop_connection

BINANCE = web.AppKey("binance", BinanceState)
Security = Literal["NONE", "USER_STREAM", "SIGNED"]
UNKNOWN_OUTCOME_MSG = "Unknown error, please check your request or try again later."
FAILED_MSG = "Service Unavailable."
BAN_SECONDS = 120
WebHandler = Callable[[web.Request], Awaitable[web.StreamResponse]]


@dataclass(frozen=True, slots=True)
class Call:
    """One admitted request as a handler sees it."""

    state: BinanceState
    params: Params
    now: int
    uid: str = ""
    """The account of the API key ("" on public endpoints)."""


Handler = Callable[[Call], Any]
"""A handler returns the JSON-ready answer, or raises BinanceError."""


@dataclass(frozen=True, slots=True)
class Route:
    """One REST endpoint: its handler, security type, weight and order counts."""

    method: str
    path: str
    handler: Handler
    security: Security = "SIGNED"
    weight: int | Callable[[Params], int] = 1
    orders: tuple[int, int] = (0, 0)
    """ORDERS charged to the 10-second and the 1-minute window (order endpoints)."""

    def weight_of(self, p: Params) -> int:
        """The request weight of a call with parameters `p`."""
        return self.weight(p) if callable(self.weight) else self.weight


class Throttled(BinanceError):
    """HTTP 429 with Retry-After."""

    def __init__(self, code: int, msg: str, retry_after_s: int) -> None:
        super().__init__(code, msg, 429)
        self.retry_after_s = retry_after_s


def _json(data: Any, status: int = 200, headers: dict[str, str] | None = None) -> web.Response:
    return web.Response(
        body=orjson.dumps(data), status=status, content_type="application/json", headers=headers
    )


def _front_5xx(request: web.Request, now: int, msg: str) -> web.Response:
    return _json({"timestamp": now, "path": request.path, "msg": msg}, 503)


async def _injected(request: web.Request, state: BinanceState, now: int) -> web.Response | None:
    """The armed faults that answer instead of the venue (None: carry on)."""
    faults = state.faults
    if faults.latency_ms:
        await asyncio.sleep(faults.latency_ms / 1000)
    ip = request.remote or ""
    if faults.take("ip_ban_next"):
        until = now + BAN_SECONDS * 1000
        msg = (
            f"Way too many requests; IP({ip}) banned until {until}. Please use the websocket "
            "for live updates to avoid bans."
        )
        headers = {"Retry-After": str(BAN_SECONDS), **state.weights.used(ip, now)}
        return _json({"code": errors.TOO_MANY_REQUESTS, "msg": msg}, 418, headers)
    if faults.take("http5xx_next"):
        return _front_5xx(request, now, FAILED_MSG)
    if faults.take("rate_limit_next"):
        limit = state.limits.weight_per_minute
        msg = (
            f"Too many requests; current limit of IP({ip}) request weight is {limit} per 1 MINUTE."
        )
        headers = {"Retry-After": "1", **state.weights.used(ip, now)}
        return _json({"code": errors.TOO_MANY_REQUESTS, "msg": msg}, 429, headers)
    return None


async def _read(request: web.Request) -> tuple[str, str, Params]:
    """(raw query, raw body, parameters); the query string wins over the body."""
    raw_query = request.raw_path.partition("?")[2]
    raw_body = ""
    if request.method != "GET" and request.can_read_body:
        raw_body = (await request.read()).decode(errors="replace")
    p = dict(parse_qsl(raw_body, keep_blank_values=True))
    p.update(parse_qsl(raw_query, keep_blank_values=True))
    return raw_query, raw_body, p


def _admit(
    route: Route,
    request: web.Request,
    state: BinanceState,
    raw: tuple[str, str, Params],
    now: int,
    headers: dict[str, str],
) -> Call:
    """Charge the weight, authenticate, charge the orders; the call, or BinanceError."""
    raw_query, raw_body, p = raw
    verdict = state.weights.weight(request.remote or "", now, route.weight_of(p))
    headers.update(verdict.headers)
    if not verdict.allowed:
        raise Throttled(errors.TOO_MANY_REQUESTS, verdict.message, verdict.retry_after_s)
    if route.security == "NONE":
        return Call(state, p, now)
    if route.security == "USER_STREAM":
        key = auth.api_key(state.auth, request.headers)
    else:
        key = auth.check_signed(state.auth, request.headers, raw_query, raw_body, p, now)
    uid = state.auth.uid_of(key)
    if route.orders != (0, 0):
        verdict = state.weights.orders(uid, now, *route.orders)
        headers.update(verdict.headers)
        if not verdict.allowed:
            raise Throttled(errors.TOO_MANY_ORDERS, verdict.message, verdict.retry_after_s)
    return Call(state, p, now, uid)


def endpoint(route: Route) -> WebHandler:
    """The aiohttp handler of a route."""

    async def handle(request: web.Request) -> web.StreamResponse:
        state = request.app[BINANCE]
        now = state.now()
        faults = state.faults
        drop = fail_after = False
        if faults.armed and faults.applies(request.path, private=route.security != "NONE"):
            early = await _injected(request, state, now)
            if early is not None:
                return early
            drop = faults.take("drop_response_next")
            fail_after = faults.take("http5xx_after_next")
        raw = await _read(request)
        headers: dict[str, str] = {}
        try:
            data = route.handler(_admit(route, request, state, raw, now, headers))
            status, body, code = 200, data, 0
        except BinanceError as exc:
            status, body, code = exc.http_status, exc.json(), exc.code
            if isinstance(exc, Throttled):
                headers["Retry-After"] = str(exc.retry_after_s)
        state.ret_codes[code] += 1
        response = _json(body, status, headers)
        if drop:
            await drop_connection(request, state)
        if fail_after:
            return _front_5xx(request, now, UNKNOWN_OUTCOME_MSG)
        return response

    return handle
