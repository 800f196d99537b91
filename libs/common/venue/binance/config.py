"""Binance USDⓈ-M adapter settings, read from `MMX_BINANCE_*` environment variables."""

from __future__ import annotations

from typing import Literal

from pydantic import Field
from pydantic_settings import SettingsConfigDict

from libs.common.venue.config import AdapterSettings, ws_from_http

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


class BinanceConfig(AdapterSettings):
    """How to reach Binance USDⓈ-M futures (or the simulator's Binance personality).

    Environment: `MMX_BINANCE_VENUE`, `MMX_BINANCE_URL`, `MMX_BINANCE_API_KEY`,
    `MMX_BINANCE_API_SECRET`, ... `api_secret` is a SecretStr: never in repr, str or logs.
    The fields every adapter has come from `AdapterSettings`.
    """

    model_config = SettingsConfigDict(env_prefix="MMX_BINANCE_", frozen=True, extra="ignore")

    venue: BinanceVenueName = "sim"
    url: str | None = None
    """Overrides the REST base URL; the WebSocket base is derived from it (http → ws)."""
    ws_url: str | None = None
    """Overrides the WebSocket base URL (default: the venue's, or derived from `url`)."""
    user_stream_path: str | None = None
    """Template of the user-data stream path, `{listen_key}` filled in (default per venue)."""
    recv_window: int = Field(5000, ge=1, lt=60_000)
    """`recvWindow` of every signed request (ms): Binance's default, below its 60 s cap."""
    ip_ban_s: float = Field(120.0, ge=0)
    """How long every call is refused after an HTTP 418 without Retry-After (Binance bans
    for 2 minutes at first, longer when 429s keep being ignored)."""
    resend_guard_ms: int = Field(1000, ge=0)
    """Margin past a create's recvWindow before a definitely-absent order is resent: until
    then the first request could still reach the matching engine (-5028 after it)."""
    symbols: tuple[str, ...] = ()
    """Symbols that account-wide fill and history queries always cover, besides those with
    open orders, positions or orders placed through this adapter (Binance wants a symbol)."""
    weight_limit_1m: int = Field(2400, ge=1)
    """REQUEST_WEIGHT per minute (replaced by exchangeInfo's `rateLimits` when read)."""
    order_limit_10s: int = Field(300, ge=1)
    order_limit_1m: int = Field(1200, ge=1)
    listen_key_keepalive_s: float = Field(1800.0, gt=0)
    """How often the user-data listenKey is extended (PUT); it lapses after 60 minutes."""

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
        """The user-data stream of `listen_key`. The default path is per venue: the routed
        `/private/ws?listenKey=<listenKey>&events=…` on mainnet, `/ws/<listenKey>` on the
        testnet and the simulator."""
        template = self.user_stream_path or _URLS[self.venue][2]
        return self.ws_base + template.format(listen_key=listen_key)
