"""Venue adapter settings, read from `MMX_*` environment variables."""

from __future__ import annotations

from typing import Literal

from pydantic import Field, SecretStr
from pydantic_settings import BaseSettings, SettingsConfigDict

from libs.common.domain.enums import Category

VenueName = Literal["sim", "bybit-testnet", "bybit-demo", "bybit-mainnet"]

SIM_API_KEY = "mmx-dev-key"
SIM_API_SECRET = "mmx-dev-secret"

# venue -> (REST base, private WS base, public WS base); fact sheet §8.
_URLS: dict[str, tuple[str, str, str]] = {
    "sim": ("http://127.0.0.1:8090", "ws://127.0.0.1:8090", "ws://127.0.0.1:8090"),
    "bybit-testnet": (
        "https://api-testnet.bybit.com",
        "wss://stream-testnet.bybit.com",
        "wss://stream-testnet.bybit.com",
    ),
    # Demo has a private stream only; its public market data is mainnet's.
    "bybit-demo": (
        "https://api-demo.bybit.com",
        "wss://stream-demo.bybit.com",
        "wss://stream.bybit.com",
    ),
    "bybit-mainnet": ("https://api.bybit.com", "wss://stream.bybit.com", "wss://stream.bybit.com"),
}


def ws_from_http(url: str) -> str:
    """`http://h:p` → `ws://h:p`, `https://h` → `wss://h` (no trailing slash)."""
    url = url.rstrip("/")
    if url.startswith("https://"):
        return "wss://" + url.removeprefix("https://")
    if url.startswith("http://"):
        return "ws://" + url.removeprefix("http://")
    return url


class AdapterSettings(BaseSettings):
    """The settings every venue adapter has: credentials, the HTTP pool and its retries,
    and the WebSocket knobs. Each adapter's class adds its own and its env prefix."""

    model_config = SettingsConfigDict(frozen=True, extra="ignore")

    venue: str = "sim"
    """Which deployment of the venue; `sim` is the simulator (narrowed by each adapter)."""
    api_key: str | None = None
    api_secret: SecretStr | None = None
    connect_timeout_s: float = Field(3.0, gt=0)
    request_timeout_s: float = Field(10.0, gt=0)
    """Total time for one HTTP exchange; past it a mutating call's outcome is unknown."""
    pool_size: int = Field(100, ge=1)
    dns_cache_ttl_s: int = 300
    keepalive_timeout_s: float = 30.0
    max_rate_limit_wait_s: float = Field(3.0, ge=0)
    """Longest sleep until the rate limit resets before raising RateLimited (Bybit's
    `X-Bapi-Limit-Reset-Timestamp`; after Binance's 429, Retry-After, else the window's end)."""
    rate_limit_retries: int = Field(3, ge=0)
    get_attempts: int = Field(3, ge=1)
    """Attempts of a read-only call on connection errors, timeouts and 5xx."""
    retry_backoff_s: float = 0.2
    retry_backoff_max_s: float = 2.0
    sync_clock_on_start: bool = True
    settle_coin: str = "USDT"
    """Scope of Bybit's linear queries and cancel-all when no symbol is given (Binance's
    account-wide calls cover every coin: kept there for parity)."""
    ws_ping_interval_s: float = Field(20.0, gt=0)
    ws_pong_timeout_s: float = Field(10.0, gt=0)
    ws_reconnect_min_s: float = 0.2
    ws_reconnect_max_s: float = 30.0
    ws_exec_overlap_ms: int = 5_000
    """How far before the last seen fill time (execTime) the reconnect snapshot starts."""
    ws_dedupe_size: int = Field(100_000, ge=1)

    @property
    def key(self) -> str | None:
        """The API key; the simulator's dev key when none is set and the venue is `sim`."""
        if self.api_key:
            return self.api_key
        return SIM_API_KEY if self.venue == "sim" else None

    @property
    def secret(self) -> str | None:
        if self.api_secret is not None and self.api_secret.get_secret_value():
            return self.api_secret.get_secret_value()
        return SIM_API_SECRET if self.venue == "sim" else None


class VenueConfig(AdapterSettings):
    """How to reach the venue. Environment: `MMX_VENUE`, `MMX_VENUE_URL`, `MMX_API_KEY`, ...

    `api_secret` is a SecretStr: it never appears in repr, str or logs. The fields every
    adapter has come from `AdapterSettings`.
    """

    model_config = SettingsConfigDict(env_prefix="MMX_", frozen=True, extra="ignore")

    venue: VenueName = "sim"
    venue_url: str | None = None
    """Overrides the REST base URL; the WebSocket base is derived from it (http → ws)."""
    recv_window: int = Field(5000, ge=1, le=60_000)
    ip_ban_s: float = Field(600.0, ge=0)
    """How long every call is refused after an HTTP 403 (Bybit bans for >= 10 min)."""
    ws_auth_headroom_ms: int = 10_000

    @property
    def rest_base(self) -> str:
        return (self.venue_url or _URLS[self.venue][0]).rstrip("/")

    @property
    def ws_base(self) -> str:
        """Base URL of the private stream."""
        return ws_from_http(self.venue_url) if self.venue_url else _URLS[self.venue][1]

    @property
    def ws_public_base(self) -> str:
        return ws_from_http(self.venue_url) if self.venue_url else _URLS[self.venue][2]

    @property
    def ws_private_url(self) -> str:
        return f"{self.ws_base}/v5/private"

    def ws_public_url(self, category: Category = Category.LINEAR) -> str:
        return f"{self.ws_public_base}/v5/public/{category.value}"
