"""A Bybit V5 simulator: REST + private/public WebSocket on one port, with real signing,
matching against a synthetic market, Bybit's error codes and rate limits, and fault injection.

`create_app(settings)` builds the aiohttp application; `run(settings)` serves it.
"""

from services.venue_sim.app import create_app, run
from services.venue_sim.settings import SimSettings

__all__ = ["SimSettings", "create_app", "run"]
