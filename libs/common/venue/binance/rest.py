"""Binance USDⓈ-M REST transport: one keep-alive pool, exact signing, clock, limits, bans.

`BinanceRest.get` retries connection errors, timeouts, 5xx and Binance's "failed / unknown"
codes with backoff (read-only calls are safe to repeat). `BinanceRest.send` never repeats a
mutating request whose outcome is unknown: it raises `VenueUnavailable` (`sent=True`) and
leaves the decision to the venue's outcome policy. Both send again, re-signed, only when
the venue certainly did not act: once after a -1021 (clock re-synced first), and after a
429 once the window has reset (bounded wait).

`on_request(path, ret_code, seconds)` runs after every exchange, with `ret_code` in the
router's vocabulary (`errors.hook_code`); `rate_limits[path]` then holds the headroom the
answer's `X-MBX-*` headers leave (`limits.headroom`), as Bybit's adapter keeps its
`X-Bapi-Limit*`.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Mapping
from typing import Literal

import yarl

from libs.common.venue.barrier import SendRefused
from libs.common.venue.binance import errors as codes
from libs.common.venue.binance.answer import Answer, error_of, parse_json
from libs.common.venue.binance.config import BinanceConfig
from libs.common.venue.binance.errors import BinanceIpBanned, BinanceRateLimited
from libs.common.venue.binance.limits import (
    Limits,
    Window,
    headroom,
    spent,
    usage_of,
    window_end_ms,
)
from libs.common.venue.binance.signer import Params, prepare
from libs.common.venue.binance.wire import BATCH_ORDERS, ORDER, TIME
from libs.common.venue.errors import AuthenticationFailed, ClockSkew, HttpRefused, VenueUnavailable
from libs.common.venue.http import TRANSPORT_ERROR, HttpClientBase, OnRequest, transport_errors
from libs.common.venue.signer import wall_ms

log = logging.getLogger(__name__)

Security = Literal["none", "key", "signed"]
"""NONE (market data), USER_STREAM (API key only), TRADE / USER_DATA (key + signature)."""

# The send barrier knows the gated calls by Bybit's paths; these are Binance's equivalents.
_GATED: dict[tuple[str, str], str] = {
    ("POST", ORDER): "/v5/order/create",
    ("PUT", ORDER): "/v5/order/amend",
    ("POST", BATCH_ORDERS): "/v5/order/create-batch",
    ("PUT", BATCH_ORDERS): "/v5/order/amend-batch",
}


def _retry_after_s(headers: Mapping[str, str]) -> float | None:
    try:
        value = headers.get("Retry-After")
        return float(value) if value else None
    except ValueError:
        return None


class BinanceRest(HttpClientBase[BinanceConfig]):
    """Signed HTTP to Binance over one `aiohttp.ClientSession` (a keep-alive pool).

    The pool, the clock and the ban bookkeeping (an HTTP 418) come from `HttpClientBase`;
    `rate_limits[path]` holds the headroom of the last answer on `path` (see `limits`).
    """

    ban_error = BinanceIpBanned

    def __init__(self, config: BinanceConfig, *, on_request: OnRequest | None = None) -> None:
        super().__init__(config, on_request=on_request)
        self.limits = Limits.defaults(
            config.weight_limit_1m, config.order_limit_10s, config.order_limit_1m
        )
        self.usage: dict[Window, int] = {}
        """The latest `X-MBX-*` usage of each window, whichever path reported it."""

    async def sync_clock(self) -> int:
        """Set the clock offset from `/fapi/v1/time`; returns the offset in ms."""
        answer = await self.get(TIME, security="none")
        self.clock.reset(int(answer.obj["serverTime"]) - wall_ms())
        return self.clock.offset_ms

    # -- public interface -------------------------------------------------------------------

    async def get(
        self, path: str, params: Params | None = None, *, security: Security = "signed"
    ) -> Answer:
        """A read-only call; transient failures are retried, then raise VenueUnavailable."""
        async for attempt in self._read_retrying():
            with attempt:
                return await self.request("GET", path, params, security=security)
        raise AssertionError("unreachable: tenacity re-raises the last error")

    async def send(
        self, method: str, path: str, params: Params | None = None, *, security: Security = "signed"
    ) -> Answer:
        """A mutating call, sent at most once unless the venue certainly did not act.

        Raises VenueUnavailable when the outcome is unknown (no answer, 5xx "Unknown
        error", -1006 / -1007) or, with `sent=False`, when the venue did not act (no
        connection, -1000 / -1001 / -1008, 503 "Service Unavailable"); returns the answer
        for success and any business code.
        """
        return await self.request(method, path, params, security=security)

    # -- one request, with the retries that are always safe ---------------------------------

    async def request(
        self, method: str, path: str, params: Params | None, *, security: Security
    ) -> Answer:
        """One call: re-sent only after a -1021 (once) or a 429 (bounded wait)."""
        resynced = False
        rate_retries = 0
        while True:
            answer, retry_after_s = await self._through_barrier(method, path, params, security)
            if answer.code == codes.TIMESTAMP_CODE:
                if resynced:
                    raise ClockSkew(
                        f"{path}: timestamp rejected (-1021) after a clock re-sync: "
                        f"{answer.msg}; expected the host clock to be steady (check NTP)"
                    )
                log.warning("%s: -1021 (%s); re-syncing the clock and retrying", path, answer.msg)
                try:
                    await self.sync_clock()
                except VenueUnavailable as exc:  # the refused request certainly did nothing
                    raise VenueUnavailable(path, f"-1021, then {exc.reason}", sent=False) from exc
                resynced = True
                continue
            if answer.status == 429 or answer.code in codes.RATE_LIMIT_CODES:
                status = self.rate_limits.get(path)
                now = self.clock.now_ms()
                reset_ms = status.reset_ms if status is not None else None
                wait_s = retry_after_s
                if wait_s is None:
                    wait_s = max(0.0, ((reset_ms or now + 1000) - now) / 1000) + 0.01
                if wait_s > self.config.max_rate_limit_wait_s or (
                    rate_retries >= self.config.rate_limit_retries
                ):
                    raise BinanceRateLimited(path, reset_ms, wait_s, code=answer.code or -1003)
                rate_retries += 1
                await asyncio.sleep(wait_s)
                continue
            return answer

    async def _through_barrier(
        self, method: str, path: str, params: Params | None, security: Security
    ) -> tuple[Answer, float | None]:
        """`_exchange`, through the send barrier for creates and amends: refused when
        closed, counted in flight, and doubted when the answer does not settle the outcome."""
        gated = _GATED.get((method, path))
        barrier = self.barrier
        if barrier is None or gated is None:
            return await self._exchange(method, path, params, security)
        started_ms = wall_ms()
        try:
            with barrier.sending(gated):
                answer, retry_after_s = await self._exchange(method, path, params, security)
        except SendRefused as exc:
            if exc.path != gated:
                raise
            raise SendRefused(f"{method} {path}") from exc
        if answer.code in codes.AMBIGUOUS_CODES:
            barrier.doubt(started_ms)
        return answer, retry_after_s

    def _credentials(self, security: Security) -> tuple[str | None, str | None]:
        if security == "none":
            return None, None
        key, secret = self.config.key, self.config.secret
        if not key or (security == "signed" and not secret):
            raise AuthenticationFailed(
                f"no API key configured for {self.config.venue}: "
                "expected MMX_BINANCE_API_KEY and MMX_BINANCE_API_SECRET"
            )
        return key, secret if security == "signed" else None

    def _note_limits(self, path: str, status: int, headers: Mapping[str, str]) -> float | None:
        """Keep the answer's headroom; after a 429 / 418 nothing is left until the reset."""
        now = self.clock.now_ms()
        used = usage_of(headers)
        self.usage.update(used)
        noted = headroom(used, self.limits, now)
        if noted is not None:
            self.rate_limits[path] = noted
        retry_after_s = _retry_after_s(headers)
        if status in (418, 429):
            if retry_after_s:
                reset_ms = now + int(retry_after_s * 1000)
            elif noted is not None and noted.reset_ms is not None:
                reset_ms = noted.reset_ms
            else:
                reset_ms = window_end_ms(now, 60_000)
            self.rate_limits[path] = spent(noted or self.rate_limits.get(path), reset_ms)
        return retry_after_s

    def _refuse(
        self, path: str, status: int, code: int, msg: str, retry_after_s: float | None
    ) -> None:
        """Raise what an answer means when it is not for the caller to judge."""
        if status == 418:
            raise self._banned(retry_after_s or self.config.ip_ban_s)
        if status == 401 or code in codes.AUTH_CODES:
            raise AuthenticationFailed(
                f"{path}: Binance refused the credentials (HTTP {status}, code {code}: {msg}); "
                f"expected a valid API key and secret for {self.config.venue}, with the "
                "permission and IP whitelist this call needs"
            )
        failed = code in codes.FAILED_CODES or msg.startswith(codes.FAILED_MESSAGES)
        if code in codes.AMBIGUOUS_CODES or status >= 500 or status == 408 or failed:
            what = (
                f"HTTP {status}" + (f" code {code}" if code else "") + (f": {msg}" if msg else "")
            )
            unknown = msg.startswith(codes.UNKNOWN_MESSAGE) or code in codes.AMBIGUOUS_CODES
            raise VenueUnavailable(path, what, sent=unknown or not failed)
        if status >= 400 and code == 0:
            raise HttpRefused(status, msg or "no Binance error body", context=path)

    async def _exchange(
        self, method: str, path: str, params: Params | None, security: Security
    ) -> tuple[Answer, float | None]:
        self.check_ban()
        key, secret = self._credentials(security)
        req = prepare(
            method,
            self.config.rest_base,
            path,
            params,
            api_key=key,
            secret=secret,
            timestamp_ms=self.clock.now_ms(),
            recv_window=self.config.recv_window,
        )
        started = time.perf_counter()
        hook = TRANSPORT_ERROR
        try:
            with transport_errors(path):
                async with self.session.request(
                    method, yarl.URL(req.url, encoded=True), headers=req.headers
                ) as resp:
                    raw = await resp.read()
                    data = parse_json(raw)
                    code, msg = error_of(resp.status, data)
                    if not msg and resp.status >= 400:  # e.g. the front's 5xx: `{"msg"}` only
                        msg = str(data.get("msg", "")) if isinstance(data, dict) else ""
                        msg = msg or raw[:200].decode(errors="replace")
                    hook = codes.hook_code(resp.status, code)
                    retry_after_s = self._note_limits(path, resp.status, resp.headers)
                    self._refuse(path, resp.status, code, msg, retry_after_s)
                    if data is None and resp.status < 300:
                        raise VenueUnavailable(path, f"HTTP {resp.status}: not JSON")
                    return Answer(resp.status, data, code, msg), retry_after_s
        finally:
            if self.on_request is not None:
                self.on_request(path, hook, time.perf_counter() - started)
