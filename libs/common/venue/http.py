"""What both venues' REST transports share: one keep-alive `aiohttp` pool and its lifecycle,
the venue clock, the IP-ban bookkeeping, how a read-only call is retried, and how a
transport error becomes `VenueUnavailable`.

`RestClient` (Bybit) and `BinanceRest` extend `HttpClientBase`; each keeps its own
signing, answer parsing, send barrier gating and retry-once rules.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import ClassVar, Generic, TypeVar

import aiohttp
from tenacity import (
    AsyncRetrying,
    retry_if_exception_type,
    stop_after_attempt,
    wait_exponential,
    wait_random,
)

from libs.common.venue.barrier import SendBarrier
from libs.common.venue.config import AdapterSettings
from libs.common.venue.errors import IpBanned, VenueUnavailable
from libs.common.venue.models import RateLimitStatus
from libs.common.venue.signer import ServerClock, wall_ms

OnRequest = Callable[[str, int, float], None]
"""`on_request(path, ret_code, seconds)` after every HTTP exchange. `ret_code` is the
envelope's retCode, `-status` for an HTTP error without one, or `TRANSPORT_ERROR` (Bybit).
Binance (`libs.common.venue.binance.errors.hook_code`) reports its code as an absolute value,
-401 for refused credentials, -403 for an IP ban or the WAF, `-status` for 429 / 5xx, or
`TRANSPORT_ERROR`."""
TRANSPORT_ERROR = -1

C = TypeVar("C", bound=AdapterSettings)


@contextmanager
def transport_errors(path: str) -> Iterator[None]:
    """Around one exchange: a connection that could not be made raises
    `VenueUnavailable(sent=False)`; any other transport failure `VenueUnavailable` (the
    request may have reached the venue)."""
    try:
        yield
    except (aiohttp.ClientConnectorError, aiohttp.ConnectionTimeoutError) as exc:
        reason = f"{type(exc).__name__}: {exc}".rstrip(": ")
        raise VenueUnavailable(path, reason, sent=False) from exc
    except (aiohttp.ClientError, TimeoutError, ConnectionError) as exc:
        reason = f"{type(exc).__name__}: {exc}".rstrip(": ")
        raise VenueUnavailable(path, reason) from exc


class HttpClientBase(ABC, Generic[C]):
    """Signed HTTP to a venue over one `aiohttp.ClientSession` (a keep-alive pool)."""

    ban_error: ClassVar[type[IpBanned]] = IpBanned
    """What `check_ban` raises while a ban is in force."""

    def __init__(self, config: C, *, on_request: OnRequest | None = None) -> None:
        self.config = config
        self.clock = ServerClock()
        self.rate_limits: dict[str, RateLimitStatus] = {}
        """The rate-limit headroom the last answer on each path reported."""
        self.on_request = on_request
        self.barrier: SendBarrier | None = None
        """When set, every create and amend (and each resend) passes it right before it is
        written (`libs.common.venue.barrier`)."""
        self._session: aiohttp.ClientSession | None = None
        self._banned_until_ms = 0
        self._timeout = aiohttp.ClientTimeout(
            total=config.request_timeout_s, connect=config.connect_timeout_s
        )

    @property
    def session(self) -> aiohttp.ClientSession:
        if self._session is None or self._session.closed:
            raise RuntimeError("venue client is not started: use `async with` or start()")
        return self._session

    async def start(self) -> None:
        """Open the pool (once) and, when configured, sync the clock with the venue's."""
        if self._session is None or self._session.closed:
            connector = aiohttp.TCPConnector(
                limit=self.config.pool_size,
                ttl_dns_cache=self.config.dns_cache_ttl_s,
                keepalive_timeout=self.config.keepalive_timeout_s,
            )
            self._session = aiohttp.ClientSession(connector=connector, timeout=self._timeout)
        if self.config.sync_clock_on_start:
            await self.sync_clock()

    async def close(self) -> None:
        if self._session is not None and not self._session.closed:
            await self._session.close()
        self._session = None

    @abstractmethod
    async def sync_clock(self) -> int:
        """Set the clock offset from the venue's time endpoint; returns the offset in ms."""

    def check_ban(self) -> None:
        """Raise `ban_error` while a ban from the venue's ban answer is in force."""
        now = wall_ms()
        if now < self._banned_until_ms:
            raise self.ban_error(self._banned_until_ms, (self._banned_until_ms - now) / 1000)

    @property
    def banned_for_s(self) -> float:
        return max(0.0, (self._banned_until_ms - wall_ms()) / 1000)

    def _banned(self, ban_s: float) -> IpBanned:
        """Start a ban of `ban_s` seconds; returns the error that reports it first."""
        self._banned_until_ms = wall_ms() + int(ban_s * 1000)
        return self.ban_error(self._banned_until_ms, ban_s, first=True)

    def _read_retrying(self) -> AsyncRetrying:
        """How a read-only call is retried: on VenueUnavailable, `get_attempts` times in
        all, with exponential backoff and jitter; the last error is re-raised."""
        return AsyncRetrying(
            stop=stop_after_attempt(self.config.get_attempts),
            wait=wait_exponential(
                multiplier=self.config.retry_backoff_s, max=self.config.retry_backoff_max_s
            )
            + wait_random(0, self.config.retry_backoff_s),
            retry=retry_if_exception_type(VenueUnavailable),
            reraise=True,
        )
