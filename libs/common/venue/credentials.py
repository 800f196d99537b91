"""Where an account's venue credentials come from, for every service that signs (the router,
positions).

Each account has its own pair at each venue. With `MMX_SECRETS_ENV` set, it is the secret
`{env}/{venue}/api` for the `default` account and `{env}/{venue}/api-{account}` for any
other (`{venue}` is `bybit` or `binance-usdm`; libs.common.secrets; in mock mode
`BYBIT_API_KEY` / `BYBIT_API_SECRET`, suffixed `_{ACCOUNT}` for another account). Without
it, the pair is `MMX_API_KEY` / `MMX_API_SECRET` (VenueConfig) for `default` at Bybit, and
`MMX_API_KEY_{ACCOUNT}` / `MMX_API_SECRET_{ACCOUNT}` for another (upper case, `-` as `_`);
at Binance the same with `MMX_BINANCE_` for `MMX_` (BinanceConfig).

A service reads them at start (`credential_source(...).read()`): a missing pair stops it
there. `refresh` reads them again, bypassing the secret's cache (the router's
`CredentialKeeper` does, once, when the venue refuses them). No key or secret is ever
logged: only `abcd…` and the secret version.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from typing import Protocol, TypeVar

from pydantic import AliasChoices, Field, SecretStr
from pydantic_settings import BaseSettings, SettingsConfigDict

from libs.common.domain.ids import DEFAULT_ACCOUNT, DEFAULT_VENUE, AccountId, VenueId
from libs.common.secrets import ApiCredentials, SecretsClient, SecretsSettings, mask
from libs.common.venue.binance import BinanceConfig, BinanceVenue
from libs.common.venue.bybit import BybitVenue
from libs.common.venue.config import VenueConfig
from libs.common.venue.errors import AuthenticationFailed

EXCHANGE = DEFAULT_VENUE
"""The secret's exchange segment for Bybit; every venue's is its name (`{env}/{venue}/api`)."""


class SecretsEnvSettings(Protocol):
    """Settings that say where venue credentials come from: `secrets_env`, the environment
    segment of the secret (`MMX_SECRETS_ENV`), None to read the environment variables."""

    @property
    def secrets_env(self) -> str | None: ...


class CredentialSettings(BaseSettings):
    """The router's: where the venue credentials come from, `MMX_SECRETS_ENV` (or
    `MMX_ROUTER_SECRETS_ENV`; unset: the environment), and
    `MMX_ROUTER_CREDENTIAL_REFRESH_COOLDOWN_S`."""

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
    """One account's venue key pair; its repr shows the key masked, never the secret."""

    api_key: str
    api_secret: SecretStr
    origin: str
    """Where they came from, for logs: `staging/bybit/api version 4c1e…`, `MMX_API_KEY`."""

    def __repr__(self) -> str:
        return f"Credentials(api_key={mask(self.api_key)!r}, origin={self.origin!r})"

    __str__ = __repr__


class CredentialSource(Protocol):
    """Where one account's credentials are read (`read`) and read again past any cache
    (`refresh`); `close` frees what reading holds."""

    async def read(self) -> Credentials: ...

    async def refresh(self) -> Credentials: ...

    def close(self) -> None: ...


class SecretSource:
    """`{env}/bybit/api` (another account's: `api-{account}`) through a SecretsClient;
    `refresh` bypasses its cache."""

    def __init__(
        self,
        client: SecretsClient,
        env: str,
        account: AccountId = DEFAULT_ACCOUNT,
        venue: VenueId = DEFAULT_VENUE,
    ):
        self._client = client
        self._env = env
        self._account = None if account == DEFAULT_ACCOUNT else account
        self._exchange = venue

    async def read(self) -> Credentials:
        creds = await self._client.aget_api_credentials(self._env, self._exchange, self._account)
        return _from_secret(creds)

    async def refresh(self) -> Credentials:
        client = self._client
        creds = await client.arefresh_api_credentials(self._env, self._exchange, self._account)
        return _from_secret(creds)

    def close(self) -> None:
        self._client.close()


def _from_secret(creds: ApiCredentials) -> Credentials:
    version = mask(creds.version_id) if creds.version_id else "mock"
    return Credentials(creds.api_key, creds.api_secret, f"{creds.secret_id} version {version}")


def env_suffix(account: AccountId) -> str:
    """The suffix of an account's variables: `` for `default`, `_ALPHA` for `alpha`,
    `_DESK_2` for `desk-2`."""
    return "" if account == DEFAULT_ACCOUNT else "_" + account.upper().replace("-", "_")


class EnvSource:
    """`MMX_API_KEY` / `MMX_API_SECRET` (another account's: suffixed `_{ACCOUNT}`; another
    venue's: its settings' prefix, `MMX_BINANCE_`), re-read from the environment."""

    def __init__(self, account: AccountId = DEFAULT_ACCOUNT, venue: VenueId = DEFAULT_VENUE):
        self._suffix = env_suffix(account)
        self._venue = venue
        self._prefix = str(_settings_of(venue).model_config["env_prefix"])

    async def read(self) -> Credentials:
        return self._read()

    async def refresh(self) -> Credentials:
        return self._read()

    def close(self) -> None:
        return None

    def _read(self) -> Credentials:
        prefix, suffix = self._prefix, self._suffix
        if not suffix:  # the default account: the venue's config (the sim's dev pair)
            config = default_config(self._venue)
            key, secret = config.key, config.secret
        else:
            key = os.environ.get(f"{prefix}API_KEY{suffix}")
            secret = os.environ.get(f"{prefix}API_SECRET{suffix}")
        if not key or not secret:
            raise AuthenticationFailed(
                f"no {self._venue} API key: expected {prefix}API_KEY{suffix} and "
                f"{prefix}API_SECRET{suffix}"
            )
        return Credentials(key, SecretStr(secret), f"{prefix}API_KEY{suffix}")


def _settings_of(venue: VenueId) -> type[VenueConfig] | type[BinanceConfig]:
    return VenueConfig if venue == DEFAULT_VENUE else BinanceConfig


def default_config(venue: VenueId) -> VenueConfig | BinanceConfig:
    """The venue's adapter settings from the environment (`VenueConfig`, `BinanceConfig`)."""
    return _settings_of(venue)()


def credential_source(
    settings: SecretsEnvSettings,
    principal: str,
    account: AccountId = DEFAULT_ACCOUNT,
    venue: VenueId = DEFAULT_VENUE,
) -> CredentialSource:
    """The account's secret at `venue` when `settings.secrets_env` (`MMX_SECRETS_ENV`) is set,
    read as `principal` unless `SECRETS_PRINCIPAL` says otherwise; else the environment."""
    if not settings.secrets_env:
        return EnvSource(account, venue)
    secrets = SecretsSettings()
    if not os.environ.get("SECRETS_PRINCIPAL"):
        secrets = secrets.model_copy(update={"principal": principal})
    return SecretSource(SecretsClient(secrets), settings.secrets_env, account, venue)


Config = TypeVar("Config", bound=BaseSettings)


def with_credentials(config: Config, creds: Credentials) -> Config:
    """`config` signing with `creds`."""
    return config.model_copy(update={"api_key": creds.api_key, "api_secret": creds.api_secret})


def use_credentials(venue: BybitVenue | BinanceVenue, creds: Credentials) -> None:
    """Sign every later request of `venue` (REST and the next private-stream login) with
    `creds`; the connection pool and the clock offset stay."""
    venue.use_credentials(creds)
