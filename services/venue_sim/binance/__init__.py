"""The venue simulator's Binance USDⓈ-M futures personality (`MMX_SIM_PERSONALITY=binance-usdm`).

REST `/fapi/...` with Binance's signing, errors, weights and order counts, and the
WebSocket streams (market and user data) on the same port, over the same matching engine
as the Bybit personality (`services.venue_sim.engine`) in a process of its own. The
`/sim/...` control endpoints are the Bybit personality's. `app.create_app(settings)`
builds the aiohttp application.
"""
