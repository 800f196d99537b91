"""Bybit V5 REST transport: one keep-alive pool, exact signing, clock sync, rate limits, bans.

`RestClient.get` retries connection errors, timeouts and 5xx with backoff (read-only calls
are safe to repeat). `RestClient.post` never repeats a request whose outcome is unknown: it
raises `VenueUnavailable` and leaves the decision to the caller's outcome policy. Both
re-send, re-signed, only when the venue certainly did not act: once after a 10002 (clock
re-synced first), and after a 10006 once the limit has reset (bounded wait).
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

import orjson
import yarl

from libs.common.venue.barrier import GATED_PATHS
from libs.common.venue.config import VenueConfig
from libs.common.venue.errors import (
    AUTH_CODES,
    RATE_LIMIT_CODE,
    TIMESTAMP_CODE,
    AuthenticationFailed,
    ClockSkew,
    HttpRefused,
    Outcome,
    RateLimited,
    VenueUnavailable,
    classify,
)
from libs.common.venue.http import TRANSPORT_ERROR, HttpClientBase, transport_errors
from libs.common.venue.models import RateLimitStatus
from libs.common.venue.signer import Params, Prepared, prepare, wall_ms

log = logging.getLogger(__name__)

# Read-only calls treat these retCodes like a 5xx: transient, retried.
_SERVER_BUSY = frozenset({10000, 10016})


@dataclass(frozen=True, slots=True)
class Envelope:
    """`{"retCode","retMsg","result","retExtInfo","time"}`."""

    ret_code: int
    ret_msg: str
    result: dict[str, Any] = field(default_factory=dict)
    ext_info: dict[str, Any] = field(default_factory=dict)
    time_ms: int | None = None

    @classmethod
    def parse(cls, data: Any) -> Envelope:
        if not isinstance(data, dict) or "retCode" not in data:
            raise ValueError("expected a Bybit envelope with retCode")
        result = data.get("result")
        ext = data.get("retExtInfo")
        raw_time = data.get("time")
        return cls(
            ret_code=int(data["retCode"]),
            ret_msg=str(data.get("retMsg", "")),
            result=result if isinstance(result, dict) else {},
            ext_info=ext if isinstance(ext, dict) else {},
            time_ms=int(raw_time) if raw_time not in (None, "") else None,
        )


def _int_header(headers: Mapping[str, str], name: str) -> int | None:
    value = headers.get(name)
    try:
        return int(value) if value else None
    except ValueError:
        return None


def limit_status(headers: Mapping[str, str]) -> RateLimitStatus | None:
    """The `X-Bapi-Limit*` headers, or None when the answer carries none."""
    status = RateLimitStatus(
        limit=_int_header(headers, "X-Bapi-Limit"),
        remaining=_int_header(headers, "X-Bapi-Limit-Status"),
        reset_ms=_int_header(headers, "X-Bapi-Limit-Reset-Timestamp"),
    )
    return None if status == RateLimitStatus(limit=None, remaining=None, reset_ms=None) else status


class RestClient(HttpClientBase[VenueConfig]):
    """Signed HTTP to the venue over one `aiohttp.ClientSession` (a keep-alive pool).

    The pool, the clock and the ban bookkeeping come from `HttpClientBase`;
    `rate_limits[path]` holds the last `X-Bapi-Limit*` headers seen on `path`.
    """

    async def sync_clock(self) -> int:
        """Set the clock offset from `/v5/market/time`; returns the offset in ms."""
        env = await self.get("/v5/market/time", signed=False)
        nano = env.result.get("timeNano")
        server_ms = int(nano) // 1_000_000 if nano else int(env.result["timeSecond"]) * 1000
        self.clock.reset(server_ms - wall_ms())
        return self.clock.offset_ms

    # -- public interface -----------------------------------------------------------------

    async def get(
        self, path: str, params: Params | None = None, *, signed: bool = True
    ) -> Envelope:
        """A read-only call; transient failures are retried, then raise VenueUnavailable."""
        async for attempt in self._read_retrying():
            with attempt:
                env = await self._send("GET", path, params=params, signed=signed)
                if env.ret_code in _SERVER_BUSY:
                    raise VenueUnavailable(path, f"retCode {env.ret_code}: {env.ret_msg}")
                return env
        raise AssertionError("unreachable: tenacity re-raises the last error")

    async def post(self, path: str, body: Mapping[str, Any]) -> Envelope:
        """A mutating call, sent at most once unless the venue certainly did not act.

        Raises VenueUnavailable when the outcome is unknown (timeout, dropped connection,
        5xx) or, with `sent=False`, when it never left; returns the envelope for any
        business retCode.
        """
        return await self._send("POST", path, body=body, signed=True)

    # -- one request, with the retries that are always safe ---------------------------------

    async def _send(
        self,
        method: str,
        path: str,
        *,
        params: Params | None = None,
        body: Mapping[str, Any] | None = None,
        signed: bool,
    ) -> Envelope:
        resynced = False
        rate_retries = 0
        while True:
            env, reset_ms = await self._exchange_through_barrier(method, path, params, body, signed)
            if env.ret_code == TIMESTAMP_CODE:
                if resynced:
                    raise ClockSkew(
                        f"{path}: timestamp rejected (10002) after a clock re-sync: "
                        f"{env.ret_msg}; expected the host clock to be steady (check NTP)"
                    )
                log.warning("%s: 10002 (%s); re-syncing the clock and retrying", path, env.ret_msg)
                try:
                    await self.sync_clock()
                except VenueUnavailable as exc:  # the refused request certainly did nothing
                    raise VenueUnavailable(path, f"10002, then {exc.reason}", sent=False) from exc
                resynced = True
                continue
            if env.ret_code == RATE_LIMIT_CODE:
                now = self.clock.now_ms()
                wait_s = max(0.0, ((reset_ms or now + 1000) - now) / 1000) + 0.01
                if wait_s > self.config.max_rate_limit_wait_s or (
                    rate_retries >= self.config.rate_limit_retries
                ):
                    raise RateLimited(path, reset_ms, wait_s)
                rate_retries += 1
                await asyncio.sleep(wait_s)
                continue
            if env.ret_code in AUTH_CODES:
                raise AuthenticationFailed(
                    f"{path}: venue refused the credentials (retCode {env.ret_code}: "
                    f"{env.ret_msg}); expected a valid API key and secret for {self.config.venue}"
                )
            return env

    async def _exchange_through_barrier(
        self,
        method: str,
        path: str,
        params: Params | None,
        body: Mapping[str, Any] | None,
        signed: bool,
    ) -> tuple[Envelope, int | None]:
        """`_exchange`, through the send barrier when one is set: refused when closed,
        counted in flight, and doubted when the answer does not settle the outcome."""
        barrier = self.barrier
        if barrier is None or method != "POST":
            return await self._exchange(method, path, params, body, signed)
        started_ms = wall_ms()
        with barrier.sending(path):
            env, reset_ms = await self._exchange(method, path, params, body, signed)
        if path in GATED_PATHS and classify(env.ret_code) is Outcome.AMBIGUOUS:
            barrier.doubt(started_ms)
        return env, reset_ms

    def _credentials(self) -> tuple[str, str]:
        key, secret = self.config.key, self.config.secret
        if not key or not secret:
            raise AuthenticationFailed(
                f"no API key configured for {self.config.venue}: "
                "expected MMX_API_KEY and MMX_API_SECRET"
            )
        return key, secret

    async def _exchange(
        self,
        method: str,
        path: str,
        params: Params | None,
        body: Mapping[str, Any] | None,
        signed: bool,
    ) -> tuple[Envelope, int | None]:
        self.check_ban()
        req: Prepared = prepare(
            method,
            self.config.rest_base,
            path,
            params=params,
            body=body,
            credentials=self._credentials() if signed else None,
            timestamp_ms=self.clock.now_ms(),
            recv_window=self.config.recv_window,
        )
        started = time.perf_counter()
        code = TRANSPORT_ERROR
        try:
            with transport_errors(path):
                async with self.session.request(
                    method, yarl.URL(req.url, encoded=True), data=req.body, headers=req.headers
                ) as resp:
                    raw = await resp.read()
                    received = wall_ms()
                    status = limit_status(resp.headers)
                    if status is not None:
                        self.rate_limits[path] = status
                    code = -resp.status
                    if resp.status == 403:
                        raise self._banned(self.config.ip_ban_s)
                    if resp.status == 401:
                        raise AuthenticationFailed(
                            f"{path}: HTTP 401; expected a valid API key and signing headers"
                        )
                    if resp.status >= 500 or resp.status == 429:
                        raise VenueUnavailable(path, f"HTTP {resp.status}")
                    if resp.status != 200:
                        raise HttpRefused(
                            resp.status, raw[:200].decode(errors="replace"), context=path
                        )
                    try:
                        env = Envelope.parse(orjson.loads(raw))
                    except ValueError as exc:
                        raise VenueUnavailable(path, f"malformed answer: {exc}") from exc
                    code = env.ret_code
                    if env.time_ms is not None:
                        self.clock.observe(env.time_ms, received)
                    return env, status.reset_ms if status else None
        finally:
            if self.on_request is not None:
                self.on_request(path, code, time.perf_counter() - started)
