"""Binance USDⓈ-M adapter settings, read from `MMX_BINANCE_*` environment variables."""

from __future__ import annotations

from typing import Literal

from pydantic import Field, SecretStr
from pydantic_settings import BaseSettings, SettingsConfigDict

from libs.common.venue.config import SIM_API_KEY, SIM_API_SECRET, VenueConfig, ws_from_http

BinanceVenueName = Literal["sim", "binance-testnet", "binance-mainnet"]

LEGACY_USER_STREAM = "/ws/{listen_key}"
"""`<ws base>/ws/<listenKey>`: the simulator's and the testnet's user-data stream."""
ROUTED_USER_STREAM = (
    "/private/ws?listenKey={listen_key}&events=ORDER_TRADE_UPDATE/ACCOUNT_UPDATE/listenKeyExpired"
)
"""Mainnet's routed form since the 2026 WebSocket change (fact sheet §6; unconfirmed there)."""

# venue -> (REST base, WebSocket streams base, user-stream path template); fact sheet §1, §6.
_URLS: dict[str, tuple[str, str, str]] = {
    "sim": ("http://127.0.0.1:8091", "ws://127.0.0.1:8091", LEGACY_USER_STREAM),
    "binance-testnet": (
        "https://testnet.binancefuture.com",
        "wss://fstream.binancefuture.com",
        LEGACY_USER_STREAM,
    ),
    "binance-mainnet": (
        "https://fapi.binance.com",
        "wss://fstream.binance.com",
        ROUTED_USER_STREAM,
    ),
}


class BinanceConfig(BaseSettings):
    """How to reach Binance USDⓈ-M futures (or the simulator's Binance personality).

    Environment: `MMX_BINANCE_VENUE`, `MMX_BINANCE_URL`, `MMX_BINANCE_API_KEY`,
    `MMX_BINANCE_API_SECRET`, ... `api_secret` is a SecretStr: never in repr, str or logs.
    """

    model_config = SettingsConfigDict(env_prefix="MMX_BINANCE_", frozen=True, extra="ignore")

    venue: BinanceVenueName = "sim"
    url: str | None = None
    """Overrides the REST base URL; the WebSocket base is derived from it (http → ws)."""
    ws_url: str | None = None
    """Overrides the WebSocket base URL (default: the venue's, or derived from `url`)."""
    user_stream_path: str | None = None
    """Template of the user-data stream path, `{listen_key}` filled in (default per venue)."""
    api_key: str | None = None
    api_secret: SecretStr | None = None
    recv_window: int = Field(5000, ge=1, lt=60_000)
    """`recvWindow` of every signed request (ms): Binance's default, below its 60 s cap."""
    connect_timeout_s: float = Field(3.0, gt=0)
    request_timeout_s: float = Field(10.0, gt=0)
    """Total time for one HTTP exchange; past it a mutating call's outcome is unknown."""
    pool_size: int = Field(100, ge=1)
    dns_cache_ttl_s: int = 300
    keepalive_timeout_s: float = 30.0
    max_rate_limit_wait_s: float = Field(3.0, ge=0)
    """Longest sleep after a 429 (Retry-After, else the window's end) before RateLimited."""
    rate_limit_retries: int = Field(3, ge=0)
    ip_ban_s: float = Field(120.0, ge=0)
    """How long every call is refused after an HTTP 418 without Retry-After (Binance bans
    for 2 minutes at first, longer when 429s keep being ignored)."""
    get_attempts: int = Field(3, ge=1)
    """Attempts of a read-only call on connection errors, timeouts and 5xx."""
    retry_backoff_s: float = 0.2
    retry_backoff_max_s: float = 2.0
    sync_clock_on_start: bool = True
    resend_guard_ms: int = Field(1000, ge=0)
    """Margin past a create's recvWindow before a definitely-absent order is resent: until
    then the first request could still reach the matching engine (-5028 after it)."""
    settle_coin: str = "USDT"
    """Kept for parity with `VenueConfig`; USDⓈ-M account-wide calls cover every coin."""
    symbols: tuple[str, ...] = ()
    """Symbols that account-wide fill and history queries always cover, besides those with
    open orders, positions or orders placed through this adapter (Binance wants a symbol)."""
    weight_limit_1m: int = Field(2400, ge=1)
    """REQUEST_WEIGHT per minute (replaced by exchangeInfo's `rateLimits` when read)."""
    order_limit_10s: int = Field(300, ge=1)
    order_limit_1m: int = Field(1200, ge=1)
    listen_key_keepalive_s: float = Field(1800.0, gt=0)
    """How often the user-data listenKey is extended (PUT); it lapses after 60 minutes."""
    ws_ping_interval_s: float = Field(20.0, gt=0)
    ws_pong_timeout_s: float = Field(10.0, gt=0)
    ws_reconnect_min_s: float = 0.2
    ws_reconnect_max_s: float = 30.0
    ws_exec_overlap_ms: int = 5_000
    """How far before the last seen fill time the reconnect snapshot starts."""
    ws_dedupe_size: int = Field(100_000, ge=1)

    @property
    def rest_base(self) -> str:
        return (self.url or _URLS[self.venue][0]).rstrip("/")

    @property
    def ws_base(self) -> str:
        """Base URL of the WebSocket streams."""
        if self.ws_url:
            return self.ws_url.rstrip("/")
        return ws_from_http(self.url) if self.url else _URLS[self.venue][1]

    def user_stream_url(self, listen_key: str) -> str:
        """The user-data stream of `listen_key`: `<ws base>/ws/<listenKey>` by default."""
        template = self.user_stream_path or _URLS[self.venue][2]
        return self.ws_base + template.format(listen_key=listen_key)

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


def stream_knobs(config: BinanceConfig) -> VenueConfig:
    """The WebSocket knobs of `config` in the shape `ReconnectingStream` reads (its ping,
    silence and backoff settings only). Built without reading the environment."""
    return VenueConfig.model_construct(
        ws_ping_interval_s=config.ws_ping_interval_s,
        ws_pong_timeout_s=config.ws_pong_timeout_s,
        ws_reconnect_min_s=config.ws_reconnect_min_s,
        ws_reconnect_max_s=config.ws_reconnect_max_s,
        ws_exec_overlap_ms=config.ws_exec_overlap_ms,
        ws_dedupe_size=config.ws_dedupe_size,
    )
