"""Control endpoints under `/sim/` (unsigned, camelCase JSON) that tests use to drive the venue.

The read-only ones, and the account selector (`?uid=` or `?apiKey=`) of the endpoints
about one account, are in `control_read`.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from decimal import Decimal
from typing import Any, Literal, TypeVar

import orjson
from aiohttp import web
from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator

from libs.common.domain.enums import Category, Side
from services.venue_sim import control_read
from services.venue_sim.control_read import (
    account_uid,
    faults_json,
    json_response,
    limits_json,
    to_camel,
)
from services.venue_sim.engine import SimError
from services.venue_sim.engine.funding import MAX_FUNDING_RATE
from services.venue_sim.faults import Faults
from services.venue_sim.gate import STATE
from services.venue_sim.wire import execution_item

B = TypeVar("B", bound="_Body")


class _Body(BaseModel):
    model_config = ConfigDict(extra="forbid", alias_generator=to_camel, populate_by_name=True)


class ResetBody(_Body):
    """POST /sim/reset: start over (optionally with another seed / frozen market)."""

    seed: int | None = None
    market_frozen: bool | None = None


class MidBody(_Body):
    """POST /sim/mid: set a mid; orders it moved through fill at their limit price."""

    symbol: str
    price: Decimal = Field(gt=0)
    category: Category = Category.LINEAR


class TradeBody(_Body):
    """POST /sim/trade: print a public trade of `qty` at `price`."""

    symbol: str
    price: Decimal = Field(gt=0)
    qty: Decimal = Field(gt=0)
    category: Category = Category.LINEAR
    side: Side | None = None
    """The aggressor; absent: both sides of our book at or through the price may fill."""


class FundingBody(_Body):
    """POST /sim/funding[?uid=|apiKey=]: settle one funding interval of a linear symbol at
    once, on the selected account's position (the first account's by default)."""

    symbol: str
    rate: Decimal = Field(ge=-MAX_FUNDING_RATE, le=MAX_FUNDING_RATE)
    """A decimal string; positive: longs pay, shorts receive."""
    category: Category = Category.LINEAR

    @field_validator("rate", mode="before")
    @classmethod
    def _rate_is_a_string(cls, value: Any) -> Any:
        if not isinstance(value, str):
            raise ValueError('rate must be a decimal string, e.g. "0.0001"')
        return value


class MarketBody(_Body):
    """POST /sim/market: freeze/unfreeze the random walk, change its tick and volatility."""

    frozen: bool | None = None
    tick_ms: int | None = Field(default=None, ge=10)
    volatility_bps: float | None = Field(default=None, ge=0)


class FaultsBody(_Body):
    """POST /sim/faults: given fields replace the current ones; `clear` resets all first."""

    latency_ms: int | None = Field(default=None, ge=0)
    http5xx_next: int | None = Field(default=None, ge=0)
    http5xx_after_next: int | None = Field(default=None, ge=0)
    rate_limit_next: int | None = Field(default=None, ge=0)
    ip_ban_next: int | None = Field(default=None, ge=0)
    drop_response_next: int | None = Field(default=None, ge=0)
    drop_mode: Literal["close", "hang"] | None = None
    hang_ms: int | None = Field(default=None, ge=0)
    drop_private_next: int | None = Field(default=None, ge=0)
    paths: list[str] | None = None
    clock_offset_ms: int | None = None
    clear: bool = False


class LimitsBody(_Body):
    """`tradePerSecond` also sets the spot trade limit unless `spotTradePerSecond` is given.
    `weightPerMinute`, `ordersPerMinute` and `ordersPer10s` are the Binance personality's."""

    trade_per_second: int | None = Field(default=None, ge=1)
    spot_trade_per_second: int | None = Field(default=None, ge=1)
    query_per_second: int | None = Field(default=None, ge=1)
    dcp_per_second: int | None = Field(default=None, ge=1)
    ip_per_5s: int | None = Field(default=None, ge=1)
    ip_ban_seconds: int | None = Field(default=None, ge=0)
    max_active_orders: int | None = Field(default=None, ge=1)
    weight_per_minute: int | None = Field(default=None, ge=1)
    orders_per_minute: int | None = Field(default=None, ge=1)
    orders_per_10s: int | None = Field(default=None, ge=1)


class DropBody(_Body):
    """POST /sim/ws/drop: close WebSocket connections server-side."""

    channel: Literal["private", "public", "all"] = "all"


async def _body(request: web.Request, model: type[B]) -> B:
    raw = await request.read()
    try:
        return model.model_validate(orjson.loads(raw) if raw.strip() else {})
    except (orjson.JSONDecodeError, ValidationError) as exc:
        raise web.HTTPBadRequest(
            body=orjson.dumps({"error": str(exc)}), content_type="application/json"
        ) from None


async def reset(request: web.Request) -> web.Response:
    """Drop orders, fills, positions, faults and limit overrides; wallet back to start."""
    state = request.app[STATE]
    body = await _body(request, ResetBody)
    state.reset(seed=body.seed, market_frozen=body.market_frozen)
    return json_response({"ok": True, "seed": state.seed, "marketFrozen": state.market_frozen})


async def mid(request: web.Request) -> web.Response:
    """Set a mid; answers the new touch and the fills it caused."""
    state = request.app[STATE]
    body = await _body(request, MidBody)
    try:
        changes = state.exchange.set_mid(body.category, body.symbol, body.price)
    except SimError as exc:
        return json_response({"error": exc.msg}, 400)
    state.publish(changes)
    market = state.exchange.markets[(body.category, body.symbol)]
    return json_response(
        {
            "symbol": body.symbol,
            "category": body.category.value,
            "mid": str(market.mid),
            "bid": str(market.bid),
            "ask": str(market.ask),
            "fills": [execution_item(e, ws=True) for e in changes.executions],
        }
    )


async def trade(request: web.Request) -> web.Response:
    """Print a public trade; answers the fills it caused."""
    state = request.app[STATE]
    body = await _body(request, TradeBody)
    try:
        changes = state.exchange.public_trade(
            body.category, body.symbol, body.price, body.qty, body.side
        )
    except SimError as exc:
        return json_response({"error": exc.msg}, 400)
    state.publish(changes)
    return json_response({"fills": [execution_item(e, ws=True) for e in changes.executions]})


async def funding(request: web.Request) -> web.Response:
    """Settle funding on the selected account's linear position of the symbol now; answers
    its executions (none when the position is flat), pushed on the private stream like
    fills."""
    state = request.app[STATE]
    uid = account_uid(request)
    body = await _body(request, FundingBody)
    if body.category is not Category.LINEAR:
        return json_response(
            {"error": f"funding settles linear positions only, not {body.category}"}, 400
        )
    if (Category.LINEAR, body.symbol) not in state.exchange.markets:
        listed = sorted(s for c, s in state.exchange.markets if c is Category.LINEAR)
        return json_response(
            {"error": f"{body.symbol!r} is not a linear symbol this simulator lists: {listed}"},
            400,
        )
    changes = state.exchange.settle_funding(body.symbol, body.rate, uid)
    state.publish(changes)
    return json_response({"executions": [execution_item(e, ws=True) for e in changes.executions]})


async def market(request: web.Request) -> web.Response:
    """Change the synthetic market; answers its settings."""
    state = request.app[STATE]
    body = await _body(request, MarketBody)
    if body.frozen is not None:
        state.market_frozen = body.frozen
    if body.tick_ms is not None:
        state.tick_ms = body.tick_ms
    if body.volatility_bps is not None:
        state.volatility_bps = state.market.volatility_bps = body.volatility_bps
    return json_response(
        {
            "frozen": state.market_frozen,
            "tickMs": state.tick_ms,
            "volatilityBps": state.volatility_bps,
        }
    )


async def faults(request: web.Request) -> web.Response:
    """Arm or clear faults; answers the faults in force and how often each fired."""
    state = request.app[STATE]
    body = await _body(request, FaultsBody)
    if body.clear:
        state.faults = Faults()
    for name, value in body.model_dump(exclude={"clear", "paths"}, exclude_none=True).items():
        setattr(state.faults, name, value)
    if body.paths is not None:
        state.faults.paths = frozenset(body.paths)
    return json_response(faults_json(state.faults))


async def limits(request: web.Request) -> web.Response:
    """Change rate limits (and the active-order cap); answers the limits in force."""
    state = request.app[STATE]
    body = await _body(request, LimitsBody)
    for name, value in body.model_dump(exclude={"max_active_orders"}, exclude_none=True).items():
        setattr(state.limits, name, value)
    if body.trade_per_second is not None and body.spot_trade_per_second is None:
        state.limits.spot_trade_per_second = body.trade_per_second
    if body.max_active_orders is not None:
        state.exchange.max_active_orders = body.max_active_orders
    return json_response(limits_json(state))


async def ws_drop(request: web.Request) -> web.Response:
    """Close private, public or all WebSocket connections; answers how many."""
    state = request.app[STATE]
    body = await _body(request, DropBody)
    return json_response({"closed": state.drop_connections(body.channel)})


ROUTES: list[tuple[str, str, Callable[[web.Request], Awaitable[web.Response]]]] = [
    ("POST", "/sim/reset", reset),
    ("POST", "/sim/mid", mid),
    ("POST", "/sim/trade", trade),
    ("POST", "/sim/market", market),
    ("POST", "/sim/funding", funding),
    ("POST", "/sim/faults", faults),
    ("POST", "/sim/limits", limits),
    ("POST", "/sim/ws/drop", ws_drop),
    ("GET", "/sim/orders", control_read.orders),
    ("GET", "/sim/executions", control_read.executions),
    ("GET", "/sim/receipts", control_read.receipts),
    ("GET", "/sim/positions", control_read.positions),
    ("GET", "/sim/accounts", control_read.accounts),
    ("GET", "/sim/health", control_read.health),
    ("GET", "/metrics", control_read.metrics),
]
