"""The Binance personality as an aiohttp application: REST `/fapi/...`, the WebSocket
streams, the shared `/sim/...` control endpoints, and the periodic work."""

from __future__ import annotations

import logging

import orjson
from aiohttp import web

from services.venue_sim import control
from services.venue_sim.background import background
from services.venue_sim.binance import rest_account as account
from services.venue_sim.binance import rest_market as market
from services.venue_sim.binance import rest_queries as queries
from services.venue_sim.binance import rest_trade as trade
from services.venue_sim.binance.gate import BINANCE, Route, endpoint
from services.venue_sim.binance.state import BinanceState
from services.venue_sim.binance.ws import BASES
from services.venue_sim.gate import STATE
from services.venue_sim.settings import SimSettings

log = logging.getLogger("services.venue_sim")
V1, V2, V3 = "/fapi/v1", "/fapi/v2", "/fapi/v3"
ROUTES = [
    Route("GET", f"{V1}/ping", market.ping, "NONE"),
    Route("GET", f"{V1}/time", market.server_time, "NONE"),
    Route("GET", f"{V1}/exchangeInfo", market.exchange_info, "NONE"),
    Route("GET", f"{V1}/depth", market.depth, "NONE", market.depth_weight),
    Route("GET", f"{V1}/klines", market.klines, "NONE", market.kline_weight),
    Route("GET", f"{V1}/ticker/price", market.ticker_price, "NONE", market.per_symbol(1, 2)),
    Route("GET", f"{V2}/ticker/price", market.ticker_price, "NONE", market.per_symbol(1, 2)),
    Route("GET", f"{V1}/ticker/bookTicker", market.book_ticker, "NONE", market.per_symbol(2, 5)),
    Route("GET", f"{V1}/premiumIndex", market.premium_index, "NONE", market.per_symbol(1, 10)),
    Route("GET", f"{V1}/ticker/24hr", market.ticker_24hr, "NONE", market.per_symbol(1, 40)),
    Route("GET", f"{V1}/trades", market.recent_trades, "NONE", 5),
    Route("POST", f"{V1}/order", trade.new_order, weight=0, orders=(1, 1)),
    Route("PUT", f"{V1}/order", trade.modify_order, weight=0, orders=(1, 1)),
    Route("GET", f"{V1}/order", queries.query_order),
    Route("DELETE", f"{V1}/order", trade.cancel_order),
    Route("POST", f"{V1}/batchOrders", trade.place_batch, weight=5, orders=(5, 1)),
    Route("PUT", f"{V1}/batchOrders", trade.modify_batch, weight=5, orders=(5, 1)),
    Route("DELETE", f"{V1}/batchOrders", trade.cancel_batch),
    Route("DELETE", f"{V1}/allOpenOrders", trade.cancel_all),
    Route("POST", f"{V1}/countdownCancelAll", trade.countdown_cancel_all, weight=10),
    Route("GET", f"{V1}/openOrders", queries.open_orders, weight=market.per_symbol(1, 40)),
    Route("GET", f"{V1}/openOrder", queries.query_open_order),
    Route("GET", f"{V1}/allOrders", queries.all_orders, weight=5),
    Route("GET", f"{V1}/userTrades", queries.user_trades, weight=5),
    Route("GET", f"{V2}/positionRisk", account.position_risk_v2, weight=5),
    Route("GET", f"{V3}/positionRisk", account.position_risk_v3, weight=5),
    Route("GET", f"{V2}/account", account.account_v2, weight=5),
    Route("GET", f"{V3}/account", account.account_v3, weight=5),
    Route("GET", f"{V2}/balance", account.balance, weight=5),
    Route("GET", f"{V3}/balance", account.balance, weight=5),
    Route("GET", f"{V1}/commissionRate", account.commission_rate, weight=20),
    Route("POST", f"{V1}/leverage", account.change_leverage),
    Route("POST", f"{V1}/marginType", account.change_margin_type),
    Route("POST", f"{V1}/positionSide/dual", account.change_position_mode),
    Route("GET", f"{V1}/positionSide/dual", account.position_mode, weight=30),
    Route("POST", f"{V1}/listenKey", account.start_user_stream, "USER_STREAM"),
    Route("PUT", f"{V1}/listenKey", account.keepalive_user_stream, "USER_STREAM"),
    Route("DELETE", f"{V1}/listenKey", account.close_user_stream, "USER_STREAM"),
]
"""Every REST endpoint: method, path, handler, security type, weight, order counts."""
STREAM_PATHS = [
    path
    for base in ("", *(f"/{{base:{'|'.join(BASES)}}}",))
    for path in (f"{base}/ws", f"{base}/ws/{{streams:.+}}", f"{base}/stream")
]
"""`/ws`, `/ws/<streams>`, `/stream`, and the same under `/market`, `/public`, `/private`."""


async def expire_listen_keys(request: web.Request) -> web.Response:
    """POST /sim/listen-keys/expire[?listenKey=K]: expire the key K (every key without
    it) now, as 60 minutes without a keepalive would; answers the keys expired."""
    state = request.app[BINANCE]
    key = request.query.get("listenKey")
    expired = state.expire_all_listen_keys() if key is None else state.expire_listen_keys(key)
    return web.Response(body=orjson.dumps({"expired": expired}), content_type="application/json")


def create_app(settings: SimSettings) -> web.Application:
    """The Binance personality's application (its own state, built from `settings`)."""
    state = BinanceState(settings)
    if (loaded := state.load()) is not None:
        log.info("continuing from the venue state in %s: %s", settings.state_path, loaded)
    app = web.Application()
    app[STATE] = state
    app[BINANCE] = state
    router = app.router
    for route in ROUTES:
        router.add_route(route.method, route.path, endpoint(route))
    for path in STREAM_PATHS:
        router.add_get(path, state.streams.handle)
    for method, path, handler in control.ROUTES:
        router.add_route(method, path, handler)
    router.add_post("/sim/listen-keys/expire", expire_listen_keys)
    app.cleanup_ctx.append(background)
    return app
