"""The venue port, its Bybit V5 adapter (REST, private and public WebSocket) and its
Binance USDⓈ-M adapter (`BinanceVenue`, `BinancePrivateStream`: `libs.common.venue.binance`).

async with BybitVenue(VenueConfig()) as venue:
    ack = await venue.place(PlaceOrder(...))
    async with PrivateStream(venue) as stream:
        async for event in stream: ...
"""

from libs.common.venue.barrier import SendBarrier, SendRefused
from libs.common.venue.batch import CANCEL_ALL_CAP
from libs.common.venue.binance import BinanceConfig, BinancePrivateStream, BinanceVenue
from libs.common.venue.bybit import BybitVenue
from libs.common.venue.config import VenueConfig
from libs.common.venue.errors import (
    AuthenticationFailed,
    ClockSkew,
    HttpRefused,
    InsufficientBalance,
    InvalidOrderRequest,
    IpBanned,
    OrderClosed,
    OrderNotFound,
    OutcomeUnknown,
    RateLimited,
    VenueError,
    VenueRejected,
    VenueUnavailable,
)
from libs.common.venue.http import OnRequest
from libs.common.venue.models import (
    AmendOrder,
    BatchErrorKind,
    BatchItemResult,
    CancelOrder,
    Execution,
    FeeRates,
    OrderAck,
    OrderBook,
    PlaceOrder,
    PrivateEvent,
    PrivateSnapshot,
    RateLimitStatus,
    Ticker,
    VenueOrder,
    VenuePosition,
)
from libs.common.venue.port import VenuePort
from libs.common.venue.private_ws import PrivateStream
from libs.common.venue.public_ws import PublicStream

LiveVenue = BybitVenue | BinanceVenue
"""A venue adapter the router and positions run: Bybit's or Binance's."""


def open_venue(
    config: VenueConfig | BinanceConfig, on_request: OnRequest | None = None
) -> LiveVenue:
    """The adapter of the venue `config` describes (not started)."""
    if isinstance(config, BinanceConfig):
        return BinanceVenue(config, on_request=on_request)
    return BybitVenue(config, on_request=on_request)


__all__ = [
    "CANCEL_ALL_CAP",
    "AmendOrder",
    "AuthenticationFailed",
    "BatchErrorKind",
    "BatchItemResult",
    "BinanceConfig",
    "BinancePrivateStream",
    "BinanceVenue",
    "BybitVenue",
    "CancelOrder",
    "ClockSkew",
    "Execution",
    "FeeRates",
    "HttpRefused",
    "InsufficientBalance",
    "InvalidOrderRequest",
    "IpBanned",
    "LiveVenue",
    "OnRequest",
    "OrderAck",
    "OrderBook",
    "OrderClosed",
    "OrderNotFound",
    "OutcomeUnknown",
    "PlaceOrder",
    "PrivateEvent",
    "PrivateSnapshot",
    "PrivateStream",
    "PublicStream",
    "RateLimitStatus",
    "RateLimited",
    "SendBarrier",
    "SendRefused",
    "Ticker",
    "VenueConfig",
    "VenueError",
    "VenueOrder",
    "VenuePort",
    "VenuePosition",
    "VenueRejected",
    "VenueUnavailable",
    "open_venue",
]
