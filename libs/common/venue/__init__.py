"""The venue port and its Bybit V5 adapter (REST, private and public WebSocket).

async with BybitVenue(VenueConfig()) as venue:
    ack = await venue.place(PlaceOrder(...))
    async with PrivateStream(venue) as stream:
        async for event in stream: ...
"""

from libs.common.venue.barrier import SendBarrier, SendRefused
from libs.common.venue.batch import CANCEL_ALL_CAP
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
from libs.common.venue.models import (
    AmendOrder,
    BatchErrorKind,
    BatchItemResult,
    CancelOrder,
    Execution,
    OrderAck,
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
from libs.common.venue.rest import OnRequest

__all__ = [
    "CANCEL_ALL_CAP",
    "AmendOrder",
    "AuthenticationFailed",
    "BatchErrorKind",
    "BatchItemResult",
    "BybitVenue",
    "CancelOrder",
    "ClockSkew",
    "Execution",
    "HttpRefused",
    "InsufficientBalance",
    "InvalidOrderRequest",
    "IpBanned",
    "OnRequest",
    "OrderAck",
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
]
