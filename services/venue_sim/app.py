"""The aiohttp application: REST and WebSocket on one port, plus the periodic work
(`background`). `create_app` builds the Bybit personality's, or hands over to the
Binance personality's (`services.venue_sim.binance.app`)."""

from __future__ import annotations

import asyncio
import logging
import os
import socket
from collections.abc import Awaitable, Callable

from aiohttp import web

from libs.common.domain.enums import Category
from libs.common.logs import configure_logging
from services.venue_sim import (
    control,
    rest_account,
    rest_asset,
    rest_history,
    rest_market,
    rest_position,
    rest_trade,
)
from services.venue_sim.background import background
from services.venue_sim.binance.app import create_app as create_binance_app
from services.venue_sim.gate import STATE, Handler, private, public
from services.venue_sim.settings import SimSettings
from services.venue_sim.state import SimState
from services.venue_sim.ws_common import Callbacks, serve

log = logging.getLogger("services.venue_sim")

PUBLIC: list[tuple[str, Handler]] = [
    ("/v5/market/time", rest_market.server_time),
    ("/v5/market/instruments-info", rest_market.instruments),
    ("/v5/market/tickers", rest_market.tickers),
    ("/v5/market/orderbook", rest_market.orderbook),
    ("/v5/market/kline", rest_history.kline),
    ("/v5/market/mark-price-kline", rest_history.price_kline),
    ("/v5/market/index-price-kline", rest_history.price_kline),
    ("/v5/market/recent-trade", rest_history.recent_trades),
]
PRIVATE_POST: list[tuple[str, Handler, str]] = [
    ("/v5/order/create", rest_trade.create, "trade"),
    ("/v5/order/amend", rest_trade.amend, "trade"),
    ("/v5/order/cancel", rest_trade.cancel, "trade"),
    ("/v5/order/cancel-all", rest_trade.cancel_all, "cancel-all"),
    ("/v5/order/create-batch", rest_trade.create_batch, "batch"),
    ("/v5/order/amend-batch", rest_trade.amend_batch, "batch"),
    ("/v5/order/cancel-batch", rest_trade.cancel_batch, "batch"),
    ("/v5/order/disconnected-cancel-all", rest_trade.set_dcp, "dcp"),
    ("/v5/position/set-leverage", rest_position.set_leverage, "set-leverage"),
    ("/v5/position/switch-mode", rest_position.switch_mode, "switch-mode"),
]
PRIVATE_GET: list[tuple[str, Handler, str]] = [
    ("/v5/order/realtime", rest_account.open_orders, "realtime"),
    ("/v5/order/history", rest_account.order_history, "history"),
    ("/v5/execution/list", rest_account.executions, "execution"),
    ("/v5/position/list", rest_account.positions, "position"),
    ("/v5/account/wallet-balance", rest_account.wallet_balance, "wallet"),
    ("/v5/account/fee-rate", rest_account.fee_rate, "fee-rate"),
    ("/v5/account/info", rest_account.account_info, "account-info"),
    ("/v5/account/query-dcp-info", rest_account.dcp_info, "dcp-info"),
    ("/v5/user/query-api", rest_account.query_api, "query-api"),
    ("/v5/asset/coin/query-info", rest_asset.coin_info, "coin-info"),
]
"""(path, handler, rate-limit group): each query endpoint has its own quota."""


def _ws_handler(
    state: SimState, channel: str
) -> Callable[[web.Request], Awaitable[web.StreamResponse]]:
    callbacks: Callbacks
    if channel == "private":
        hub = state.private
        callbacks = (hub.on_open, hub.on_message, hub.on_close)
    else:
        callbacks = state.public.endpoint(Category(channel))

    ack_delay_s = state.settings.ws_ack_delay_ms / 1000

    async def handler(request: web.Request) -> web.StreamResponse:
        return await serve(request, *callbacks, ack_delay_s)

    return handler


def create_app(settings: SimSettings | None = None) -> web.Application:
    """The simulator as an aiohttp application of the settings' personality: Bybit V5
    (REST `/v5/...`, WS, control `/sim/...`) or Binance USDⓈ-M (`services.venue_sim.binance`)."""
    settings = settings or SimSettings()
    if settings.personality == "binance-usdm":
        return create_binance_app(settings)
    state = SimState(settings)
    if (loaded := state.load()) is not None:
        log.info("continuing from the venue state in %s: %s", settings.state_path, loaded)
    app = web.Application()
    app[STATE] = state
    router = app.router
    for path, handler in PUBLIC:
        router.add_get(path, public(handler))
    for path, handler, group in PRIVATE_POST:
        units = rest_trade.batch_units if group == "batch" else None
        router.add_post(path, private(handler, group, units))
    for path, handler, group in PRIVATE_GET:
        router.add_get(path, private(handler, group))
    router.add_get("/v5/private", _ws_handler(state, "private"))
    router.add_get("/v5/public/linear", _ws_handler(state, "linear"))
    router.add_get("/v5/public/spot", _ws_handler(state, "spot"))
    for method, path, control_handler in control.ROUTES:
        router.add_route(method, path, control_handler)
    app.cleanup_ctx.append(background)
    return app


def run(settings: SimSettings | None = None) -> None:
    """Serve the simulator of the settings' personality until SIGINT/SIGTERM (uvloop when
    available)."""
    settings = settings or SimSettings()
    instance = f"{socket.gethostname()}-{os.getpid()}"
    configure_logging("venue-sim", instance, level=settings.log_level)
    loop: asyncio.AbstractEventLoop | None = None
    try:
        import uvloop

        loop = uvloop.new_event_loop()
    except ImportError:  # pragma: no cover - uvloop is installed wherever it builds
        pass
    web.run_app(
        create_app(settings),
        host=settings.host,
        port=settings.port,
        access_log=None,
        loop=loop,
        print=lambda text: log.info("%s", text.replace("\n", " ")),
    )
