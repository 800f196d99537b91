"""The router's venue credentials: read at start, refreshed once when the venue refuses them.

Where each account's pair comes from (`MMX_SECRETS_ENV`: the secret `{env}/bybit/api`, or
`api-{account}`; else `MMX_API_KEY` / `MMX_API_SECRET`, suffixed `_{ACCOUNT}` for another
account) is libs.common.venue.credentials, re-exported here. The router reads each lane's
pair at start: a missing one stops it there.

When the venue refuses the credentials (retCode 10003 / 10004 / 10005 / 10010, HTTP 401),
`VenueHealth` hands the refusal to the `CredentialKeeper`, which (docs/SECURITY.md, T9):

1. ignores it if the refused request was signed before the keeper last swapped credentials;
2. refreshes them ONCE from their source (the secret, bypassing its cache; else the
   environment) and swaps them into the live adapter, keeping its connection pool;
3. retries once: one signed read. Accepted: trading goes on and the failed orders are
   redelivered by the bus. Refused, or the refresh failed: trading freezes (`auth`).

A refusal of the credentials it swapped in less than `cooldown_s` ago
(`MMX_ROUTER_CREDENTIAL_REFRESH_COOLDOWN_S`, 300 s) freezes without a second refresh, so the
router never loops on refresh. Later (a rotation weeks on) it refreshes once more. No key
or secret is ever logged: only `abcd…` and the secret version.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass

from libs.common.tasks import cancel_and_wait
from libs.common.venue import AuthenticationFailed, LiveVenue, VenueError
from libs.common.venue.credentials import (
    EXCHANGE,
    Credentials,
    CredentialSettings,
    CredentialSource,
    EnvSource,
    SecretSource,
    credential_source,
    use_credentials,
    with_credentials,
)

__all__ = [
    "EXCHANGE",
    "MAX_DETAIL",
    "CredentialKeeper",
    "CredentialSettings",
    "CredentialSource",
    "Credentials",
    "EnvSource",
    "Refusal",
    "SecretSource",
    "credential_source",
    "use_credentials",
    "with_credentials",
]

log = logging.getLogger(__name__)

MAX_DETAIL = 400
"""Longest failure detail passed on: `auth: <detail>` is the freeze reason (<= 500 chars)."""


@dataclass(frozen=True, slots=True)
class Refusal:
    detail: str
    """What was refused, e.g. `/v5/order/create: venue refused the credentials (10003)`."""
    signed_at: float
    """`time.perf_counter()` when the refused request was signed."""


class CredentialKeeper:
    """Refreshes the venue credentials once per refusal episode (a Runner); reports a
    refusal it cannot cure to `on_failure`, which freezes trading with reason `auth`."""

    def __init__(
        self,
        venue: LiveVenue,
        source: CredentialSource,
        *,
        verify: Callable[[], Awaitable[object]],
        on_failure: Callable[[str], None],
        cooldown_s: float,
    ) -> None:
        self._venue = venue
        self._source = source
        self._verify = verify
        self._on_failure = on_failure
        self._cooldown_s = cooldown_s
        self._queue: asyncio.Queue[Refusal] = asyncio.Queue()
        self._swapped_at = -float("inf")
        self._task: asyncio.Task[None] | None = None
        self.refreshes = 0
        """Refreshes done (each one read of the source)."""

    def refused(self, detail: str, *, signed_at: float) -> None:
        """The venue refused a request signed at `signed_at` (perf_counter); never blocks."""
        self._queue.put_nowait(Refusal(detail, signed_at))

    async def start(self) -> None:
        self._task = asyncio.create_task(self._run(), name="router:credentials")

    async def stop(self) -> None:
        if self._task is not None:
            await cancel_and_wait(self._task)
            self._task = None
        self._source.close()

    async def _run(self) -> None:
        while True:
            failure = await self.handle(await self._queue.get())
            if failure is not None:
                self._on_failure(failure)

    async def handle(self, refusal: Refusal) -> str | None:
        """Judge one refusal: None when cured (or stale), else why trading must freeze
        (at most MAX_DETAIL characters: `auth: <detail>` is the freeze reason)."""
        try:
            failure = await self._judge(refusal)
        except Exception as error:  # never let one refusal stop the keeper: freeze
            log.exception("credentials: handling a refusal failed")
            failure = f"{refusal.detail}; handling it failed: {type(error).__name__}"
        return None if failure is None else failure[:MAX_DETAIL]

    async def _judge(self, refusal: Refusal) -> str | None:
        """None when cured (or stale); else why trading must freeze."""
        if refusal.signed_at < self._swapped_at:
            return None  # signed with credentials replaced since
        since = time.perf_counter() - self._swapped_at
        if since < self._cooldown_s:
            return f"{refusal.detail}; still refused {since:.0f} s after a credential refresh"
        log.warning("credentials: %s; refreshing them once", refusal.detail)
        try:
            creds = await self._source.refresh()
        except Exception as error:  # SecretsError or no key: nothing to retry with
            return f"{refusal.detail}; refreshing the credentials failed: {error}"
        self.refreshes += 1
        use_credentials(self._venue, creds)
        self._swapped_at = time.perf_counter()
        try:
            await self._verify()
        except AuthenticationFailed as error:
            return f"{refusal.detail}; refreshed credentials ({creds.origin}) refused too: {error}"
        except VenueError as error:
            log.warning("credentials: could not check the refreshed ones yet: %s", error)
            return None
        log.warning("credentials: venue accepts the refreshed ones (%r)", creds)
        return None
