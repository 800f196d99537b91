"""The Binance USDⓈ-M futures adapter of `VenuePort` (REST and the user-data stream).

    async with BinanceVenue(BinanceConfig()) as venue:
        ack = await venue.place(PlaceOrder(...))
        async with BinancePrivateStream(venue) as stream:
            async for event in stream: ...

Same models, errors and outcome policy as the Bybit adapter (`libs.common.venue.bybit`).
"""

from libs.common.venue.binance.answer import Answer
from libs.common.venue.binance.config import BinanceConfig
from libs.common.venue.binance.errors import BinanceIpBanned, BinanceRateLimited
from libs.common.venue.binance.rest import BinanceRest
from libs.common.venue.binance.stream import BinancePrivateStream
from libs.common.venue.binance.venue import BinanceVenue

__all__ = [
    "Answer",
    "BinanceConfig",
    "BinanceIpBanned",
    "BinancePrivateStream",
    "BinanceRateLimited",
    "BinanceRest",
    "BinanceVenue",
]
