"""Venue-facing enumerations, spelled exactly as Bybit V5 spells them on the wire."""

from __future__ import annotations

from enum import StrEnum


class Category(StrEnum):
    """Bybit product category. The venue adapter and the simulator speak both; the engine
    manages only `MANAGED_CATEGORIES` (see there)."""

    LINEAR = "linear"
    SPOT = "spot"


MANAGED_CATEGORIES = frozenset({Category.LINEAR})
"""Categories the engine takes orders in: the router reconciles, sweeps on a freeze and
books fills for these only, so an order in any other would rest at the venue unwatched."""


def check_managed(category: Category) -> Category:
    """`category` if the engine manages it; raises ValueError saying which ones it does."""
    if category not in MANAGED_CATEGORIES:
        managed = ", ".join(sorted(c.value for c in MANAGED_CATEGORIES))
        raise ValueError(
            f"category {category.value} is not managed by this engine: expected {managed} "
            "(the router reconciles, sweeps on a freeze and books fills for those only)"
        )
    return category


class Side(StrEnum):
    BUY = "Buy"
    SELL = "Sell"

    @property
    def sign(self) -> int:
        """+1 for Buy, -1 for Sell: the sign of the position change a fill causes."""
        return 1 if self is Side.BUY else -1

    @property
    def opposite(self) -> Side:
        return Side.SELL if self is Side.BUY else Side.BUY


class OrderType(StrEnum):
    LIMIT = "Limit"
    MARKET = "Market"


class TimeInForce(StrEnum):
    GTC = "GTC"
    IOC = "IOC"
    FOK = "FOK"
    POST_ONLY = "PostOnly"


class VenueOrderStatus(StrEnum):
    """`orderStatus` as the venue reports it (REST and the private `order` topic)."""

    NEW = "New"
    PARTIALLY_FILLED = "PartiallyFilled"
    UNTRIGGERED = "Untriggered"
    REJECTED = "Rejected"
    PARTIALLY_FILLED_CANCELED = "PartiallyFilledCanceled"  # spot only
    FILLED = "Filled"
    CANCELLED = "Cancelled"
    TRIGGERED = "Triggered"
    DEACTIVATED = "Deactivated"

    @property
    def is_open(self) -> bool:
        return self in _OPEN_VENUE_STATUSES


_OPEN_VENUE_STATUSES = frozenset(
    {VenueOrderStatus.NEW, VenueOrderStatus.PARTIALLY_FILLED, VenueOrderStatus.UNTRIGGERED}
)
