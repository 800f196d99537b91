"""The venue credentials: read at start, refreshed once when the venue refuses them.

Each account has its own pair. With `MMX_SECRETS_ENV` set, it is the secret
`{env}/bybit/api` for the `default` account and `{env}/bybit/api-{account}` for any other
(libs.common.secrets; in mock mode `BYBIT_API_KEY` / `BYBIT_API_SECRET`, suffixed
`_{ACCOUNT}` for another account), read at start: a missing secret stops the router there.
Without it, the pair is `MMX_API_KEY` / `MMX_API_SECRET` (VenueConfig) for `default`, and
`MMX_API_KEY_{ACCOUNT}` / `MMX_API_SECRET_{ACCOUNT}` for another (upper case, `-` as `_`).

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
import os
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Protocol

from pydantic import AliasChoices, Field, SecretStr
from pydantic_settings import BaseSettings, SettingsConfigDict

from libs.common.domain.ids import DEFAULT_ACCOUNT, AccountId
from libs.common.secrets import ApiCredentials, SecretsClient, SecretsSettings, mask
from libs.common.tasks import cancel_and_wait
from libs.common.venue import AuthenticationFailed, BybitVenue, VenueConfig, VenueError

log = logging.getLogger(__name__)

EXCHANGE = "bybit"
MAX_DETAIL = 400
"""Longest failure detail passed on: `auth: <detail>` is the freeze reason (<= 500 chars)."""


class CredentialSettings(BaseSettings):
    """Where the venue credentials come from: `MMX_SECRETS_ENV` (unset: the environment),
    and `MMX_ROUTER_CREDENTIAL_REFRESH_COOLDOWN_S`."""

    model_config = SettingsConfigDict(
        env_prefix="MMX_ROUTER_", extra="ignore", frozen=True, populate_by_name=True
    )

    secrets_env: str | None = Field(
        default=None, validation_alias=AliasChoices("MMX_SECRETS_ENV", "MMX_ROUTER_SECRETS_ENV")
    )
    credential_refresh_cooldown_s: float = Field(default=300.0, ge=0)
    """A refusal within this long of a refresh freezes instead of refreshing again."""


@dataclass(frozen=True, slots=True, repr=False)
class Credentials:
    api_key: str
    api_secret: SecretStr
    origin: str
    """Where they came from, for logs: `staging/bybit/api version 4c1e…`, `MMX_API_KEY`."""

    def __repr__(self) -> str:
        return f"Credentials(api_key={mask(self.api_key)!r}, origin={self.origin!r})"

    __str__ = __repr__


class CredentialSource(Protocol):
    async def read(self) -> Credentials: ...

    async def refresh(self) -> Credentials: ...

    def close(self) -> None: ...


class SecretSource:
    """`{env}/bybit/api` (another account's: `api-{account}`) through a SecretsClient;
    `refresh` bypasses its cache."""

    def __init__(self, client: SecretsClient, env: str, account: AccountId = DEFAULT_ACCOUNT):
        self._client = client
        self._env = env
        self._account = None if account == DEFAULT_ACCOUNT else account

    async def read(self) -> Credentials:
        creds = await self._client.aget_api_credentials(self._env, EXCHANGE, self._account)
        return _from_secret(creds)

    async def refresh(self) -> Credentials:
        creds = await self._client.arefresh_api_credentials(self._env, EXCHANGE, self._account)
        return _from_secret(creds)

    def close(self) -> None:
        self._client.close()


def _from_secret(creds: ApiCredentials) -> Credentials:
    version = mask(creds.version_id) if creds.version_id else "mock"
    return Credentials(creds.api_key, creds.api_secret, f"{creds.secret_id} version {version}")


class EnvSource:
    """`MMX_API_KEY` / `MMX_API_SECRET` (another account's: suffixed `_{ACCOUNT}`), re-read
    from the environment."""

    def __init__(self, account: AccountId = DEFAULT_ACCOUNT) -> None:
        self._suffix = "" if account == DEFAULT_ACCOUNT else "_" + account.upper().replace("-", "_")

    async def read(self) -> Credentials:
        return self._read()

    async def refresh(self) -> Credentials:
        return self._read()

    def close(self) -> None:
        return None

    def _read(self) -> Credentials:
        if not self._suffix:
            config = VenueConfig()
            key, secret = config.key, config.secret
        else:
            key = os.environ.get(f"MMX_API_KEY{self._suffix}")
            secret = os.environ.get(f"MMX_API_SECRET{self._suffix}")
        if not key or not secret:
            raise AuthenticationFailed(
                f"no venue API key: expected MMX_API_KEY{self._suffix} and "
                f"MMX_API_SECRET{self._suffix}"
            )
        return Credentials(key, SecretStr(secret), f"MMX_API_KEY{self._suffix}")


def credential_source(
    settings: CredentialSettings, principal: str, account: AccountId = DEFAULT_ACCOUNT
) -> CredentialSource:
    """The account's secret when `MMX_SECRETS_ENV` is set, else the environment."""
    if not settings.secrets_env:
        return EnvSource(account)
    secrets = SecretsSettings()
    if not os.environ.get("SECRETS_PRINCIPAL"):
        secrets = secrets.model_copy(update={"principal": principal})
    return SecretSource(SecretsClient(secrets), settings.secrets_env, account)


def with_credentials(config: VenueConfig, creds: Credentials) -> VenueConfig:
    return config.model_copy(update={"api_key": creds.api_key, "api_secret": creds.api_secret})


def use_credentials(venue: BybitVenue, creds: Credentials) -> None:
    """Sign every later request of `venue` (REST and the next private-stream login) with
    `creds`; the connection pool and the clock offset stay."""
    config = with_credentials(venue.config, creds)
    venue.config = config
    venue.rest.config = config


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
        venue: BybitVenue,
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
