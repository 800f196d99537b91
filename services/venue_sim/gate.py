"""The door every `/v5` REST call goes through: IP limit, faults, auth, UID limit, envelope.

Handlers are plain synchronous functions of a `Call` returning a `Reply` (or raising
SimError); this module turns them into aiohttp handlers that answer with Bybit's envelope
`{"retCode","retMsg","result","retExtInfo","time"}`, HTTP 200 for business errors.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from typing import Any

import orjson
from aiohttp import web

from services.venue_sim.auth import AuthError
from services.venue_sim.engine import SimError, errors
from services.venue_sim.engine.validate import Params
from services.venue_sim.state import SimState

STATE = web.AppKey("state", SimState)
RATE_LIMIT_MSG = "Too many visits. Exceeded the API Rate Limit."
WebHandler = Callable[[web.Request], Awaitable[web.StreamResponse]]


@dataclass(frozen=True, slots=True)
class Call:
    """One authenticated request as a handler sees it."""

    state: SimState
    params: Params
    api_key: str = ""
    granted: int = 1
    """Units of rate limit granted (a batch may get fewer than it has orders)."""
    uid: str | None = None
    """The account the API key trades (None on public endpoints)."""


@dataclass(frozen=True, slots=True)
class Reply:
    """A handler's result: `result` and `retExtInfo` of the envelope."""

    result: Any
    ext: dict[str, Any] = field(default_factory=dict)
    msg: str = "OK"


Handler = Callable[[Call], Reply]


def envelope(code: int, msg: str, result: Any, ext: Any, now: int) -> bytes:
    return orjson.dumps(
        {"retCode": code, "retMsg": msg, "result": result, "retExtInfo": ext, "time": now}
    )


def respond(body: bytes, headers: dict[str, str] | None = None, status: int = 200) -> web.Response:
    return web.Response(body=body, status=status, content_type="application/json", headers=headers)


def forbidden() -> web.Response:
    return web.Response(status=403, text="access too frequent")


async def _injected(state: SimState, now: int) -> web.Response | None:
    """Apply the armed faults that answer instead of the venue (None: carry on)."""
    faults = state.faults
    if faults.latency_ms:
        await asyncio.sleep(faults.latency_ms / 1000)
    if faults.take("ip_ban_next"):
        return forbidden()
    if faults.take("http5xx_next"):
        return web.Response(status=503, text="Service Unavailable")
    if faults.take("rate_limit_next"):
        state.ret_codes[errors.RATE_LIMIT] += 1
        headers = {
            "X-Bapi-Limit": "0",
            "X-Bapi-Limit-Status": "0",
            "X-Bapi-Limit-Reset-Timestamp": str(now + 1000),
        }
        return respond(envelope(errors.RATE_LIMIT, RATE_LIMIT_MSG, {}, {}, now), headers)
    return None


async def drop(request: web.Request, state: SimState) -> None:
    """Close the connection without answering (after the request took effect)."""
    if state.faults.drop_mode == "hang":
        await asyncio.sleep(state.faults.hang_ms / 1000)
    if request.transport is not None:
        request.transport.close()


async def _params(request: web.Request) -> tuple[str, Params, str]:
    """(raw payload as signed, parsed params, parse error or "")."""
    if request.method == "GET":
        return request.raw_path.partition("?")[2], dict(request.query), ""
    body = await request.read()
    try:
        raw = body.decode()
        params = orjson.loads(body) if body else {}
    except (UnicodeDecodeError, orjson.JSONDecodeError):
        return body.decode(errors="replace"), {}, "params error: the body is not valid JSON"
    if not isinstance(params, dict):
        return raw, {}, "params error: the body must be a JSON object"
    return raw, params, ""


def private(
    handler: Handler, group: str, units: Callable[[Params], int] | None = None
) -> WebHandler:
    """A signed endpoint charged to the rate limit `group` of the key's account (`units` per
    request)."""

    async def endpoint(request: web.Request) -> web.StreamResponse:
        state = request.app[STATE]
        now = state.now()
        if not state.ip_guard.allow(request.remote or "", now):
            return forbidden()
        dropping = fail_after = False
        if state.faults.armed and state.faults.applies(request.path, private=True):
            early = await _injected(state, now)
            if early is not None:
                return early
            dropping = state.faults.take("drop_response_next")
            fail_after = state.faults.take("http5xx_after_next")
        raw, params, parse_error = await _params(request)
        try:
            api_key = state.auth.check_rest(request.headers, raw, now)
        except AuthError as exc:
            state.ret_codes[exc.code] += 1
            return respond(envelope(exc.code, exc.msg, {}, {}, now), status=exc.http_status)
        category = params.get("category")
        uid = state.auth.uid_of(api_key)
        quota = state.limiter.take(
            group,
            category if isinstance(category, str) else None,
            now,
            units(params) if units else 1,
            uid=uid,
        )
        headers = quota.headers()
        reply: Reply | None = None
        if not quota.granted:
            code, msg = errors.RATE_LIMIT, RATE_LIMIT_MSG
        elif parse_error:
            code, msg = errors.PARAMS, parse_error
        else:
            try:
                reply = handler(Call(state, params, api_key, quota.granted, uid))
                code, msg = errors.OK, reply.msg
            except SimError as exc:
                code, msg = exc.code, exc.msg
        state.ret_codes[code] += 1
        headers["Timenow"] = str(now)
        headers["Ret_code"] = str(code)
        result = {} if reply is None else reply.result
        ext = {} if reply is None else reply.ext
        response = respond(envelope(code, msg, result, ext, now), headers)
        if dropping:
            await drop(request, state)
        if fail_after:  # handled, but the client learns nothing of it
            return web.Response(status=503, text="Service Unavailable")
        return response

    return endpoint


def public(handler: Handler) -> WebHandler:
    """An unsigned market-data endpoint (IP limit applies; faults only when targeted)."""

    async def endpoint(request: web.Request) -> web.StreamResponse:
        state = request.app[STATE]
        now = state.now()
        if not state.ip_guard.allow(request.remote or "", now):
            return forbidden()
        dropping = fail_after = False
        if state.faults.armed and state.faults.applies(request.path, private=False):
            early = await _injected(state, now)
            if early is not None:
                return early
            dropping = state.faults.take("drop_response_next")
            fail_after = state.faults.take("http5xx_after_next")
        try:
            reply = handler(Call(state, dict(request.query)))
            code, msg, result = errors.OK, reply.msg, reply.result
        except SimError as exc:
            code, msg, result = exc.code, exc.msg, {}
        response = respond(envelope(code, msg, result, {}, now))
        if dropping:
            await drop(request, state)
        if fail_after:
            return web.Response(status=503, text="Service Unavailable")
        return response

    return endpoint
