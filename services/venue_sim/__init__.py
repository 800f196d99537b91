"""A venue simulator: REST + private/public WebSocket on one port, with real signing,
matching against a synthetic market, the venue's error codes and rate limits, and fault
injection. Two personalities share the matching core (`engine`): Bybit V5 (the default) and
Binance USDⓈ-M futures (`binance`, `MMX_SIM_PERSONALITY=binance-usdm`), each a process of
its own.

`create_app(settings)` builds the aiohttp application of the settings' personality;
`run(settings)` serves it.
"""

from services.venue_sim.app import create_app, run
from services.venue_sim.settings import SimSettings

__all__ = ["SimSettings", "create_app", "run"]
