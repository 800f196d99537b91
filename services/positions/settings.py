"""Settings of the positions service, from `MMX_POSITIONS_*` (and `REDIS_URL`, `MMX_ACCOUNTS`,
`MMX_SECRETS_ENV`); the venue from `MMX_VENUE`, `MMX_VENUE_URL`, `MMX_API_KEY`, ...
(`VenueConfig`), each account's credentials as libs.common.venue.credentials says."""

from __future__ import annotations

from pydantic import AliasChoices, Field
from pydantic_settings import SettingsConfigDict

from libs.common.domain.ids import Symbol
from libs.common.service import ServiceSettings, SymbolList
from libs.common.venue import BinanceConfig, VenueConfig


class PositionsSettings(ServiceSettings):
    """How the positions service folds fills, marks to market and reconciles."""

    model_config = SettingsConfigDict(
        env_prefix="MMX_POSITIONS_", extra="ignore", frozen=True, populate_by_name=True
    )

    port: int = 9103
    symbols: SymbolList = (
        Symbol("BTCUSDT"),
        Symbol("ETHUSDT"),
        Symbol("SOLUSDT"),
    )
    """Symbols whose tickers are followed for marks; every traded symbol needs one."""
    venue: VenueConfig = Field(default_factory=VenueConfig)
    """Bybit; its key pair is the `default` account's unless `secrets_env` is set."""
    binance: BinanceConfig = Field(default_factory=BinanceConfig)
    """Binance USDⓈ-M (`MMX_BINANCE_*`), used when `MMX_VENUES` names binance-usdm."""
    secrets_env: str | None = Field(
        default=None,
        validation_alias=AliasChoices("MMX_SECRETS_ENV", "MMX_POSITIONS_SECRETS_ENV"),
    )
    """Read each account's key pair from the secret `{env}/bybit/api` (another account's:
    `api-{account}`) instead of `MMX_API_KEY` / `MMX_API_SECRET` (`_{ACCOUNT}`)."""
    batch_size: int = Field(50, ge=1, le=100)
    block_ms: int = Field(100, ge=1)
    claim_idle_ms: int = Field(30_000, ge=1_000)
    refresh_interval_s: float = Field(1.0, gt=0)
    """How often the position gauges are refreshed from Redis."""
    lease_ttl_ms: int = Field(5_000, ge=100)
    """TTL of the "marks" and "positions-reconcile" leases (and each other account's
    "positions-reconcile:{account}"); renewed every third of it."""
    marks_flush_interval_s: float = Field(0.1, gt=0)
    """How often the newest tickers are written to the mark store."""
    marks_touch_interval_s: float = Field(1.0, gt=0)
    """How often a connected ticker stream confirms the marks current."""
    mark_update_interval_s: float = Field(1.0, gt=0)
    """How often positions are re-marked: a PositionUpdated when unrealized P&L moved."""
    reconcile_interval_s: float = Field(30.0, gt=0)
    """How often positions are compared with the venue's."""
    book_interval_s: float = Field(0.25, gt=0, le=5)
    """How often each venue's book top of each symbol is read for the smart order router,
    while more than one venue is traded (`MMX_VENUES`)."""
    book_depth: int = Field(50, ge=1, le=200)
    """Levels per side read for the smart order router."""
    book_fees_interval_s: float = Field(300.0, gt=0)
    """How often each venue's fee rates and instrument rules are read again."""
