"""The pure core of the simulator: no I/O, no asyncio, time from an injected clock."""

from services.venue_sim.engine.errors import SimError
from services.venue_sim.engine.exchange import Exchange
from services.venue_sim.engine.ledger import Ledger
from services.venue_sim.engine.market import SyntheticMarket
from services.venue_sim.engine.model import (
    DEFAULT_UID,
    Changes,
    Execution,
    Position,
    PublicTrade,
    SimOrder,
)

__all__ = [
    "DEFAULT_UID",
    "Changes",
    "Exchange",
    "Execution",
    "Ledger",
    "Position",
    "PublicTrade",
    "SimError",
    "SimOrder",
    "SyntheticMarket",
]
