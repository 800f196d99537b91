"""Control endpoints under `/sim/` (unsigned, camelCase JSON) that tests use to drive the venue."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from dataclasses import fields
from decimal import Decimal
from typing import Any, Literal, TypeVar

import orjson
from aiohttp import web
from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator

from libs.common.domain.enums import Category, Side
from services.venue_sim.engine import SimError
from services.venue_sim.engine.funding import MAX_FUNDING_RATE
from services.venue_sim.faults import Faults
from services.venue_sim.gate import STATE
from services.venue_sim.ratelimit import Limits
from services.venue_sim.state import SimState
from services.venue_sim.wire import execution_item, order_item, position_item

B = TypeVar("B", bound="_Body")


def to_camel(name: str) -> str:
    """snake_case -> camelCase, leaving digits alone (ip_per_5s -> ipPer5s)."""
    head, *rest = name.split("_")
    return head + "".join(part[:1].upper() + part[1:] for part in rest)


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
    """POST /sim/funding: settle one funding interval of a linear symbol at once."""

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
    rate_limit_next: int | None = Field(default=None, ge=0)
    ip_ban_next: int | None = Field(default=None, ge=0)
    drop_response_next: int | None = Field(default=None, ge=0)
    drop_mode: Literal["close", "hang"] | None = None
    hang_ms: int | None = Field(default=None, ge=0)
    paths: list[str] | None = None
    clock_offset_ms: int | None = None
    clear: bool = False


class LimitsBody(_Body):
    """`tradePerSecond` also sets the spot trade limit unless `spotTradePerSecond` is given."""

    trade_per_second: int | None = Field(default=None, ge=1)
    spot_trade_per_second: int | None = Field(default=None, ge=1)
    query_per_second: int | None = Field(default=None, ge=1)
    dcp_per_second: int | None = Field(default=None, ge=1)
    ip_per_5s: int | None = Field(default=None, ge=1)
    ip_ban_seconds: int | None = Field(default=None, ge=0)
    max_active_orders: int | None = Field(default=None, ge=1)


class DropBody(_Body):
    """POST /sim/ws/drop: close WebSocket connections server-side."""

    channel: Literal["private", "public", "all"] = "all"


def _json(data: Any, status: int = 200) -> web.Response:
    return web.Response(body=orjson.dumps(data), status=status, content_type="application/json")


async def _body(request: web.Request, model: type[B]) -> B:
    raw = await request.read()
    try:
        return model.model_validate(orjson.loads(raw) if raw.strip() else {})
    except (orjson.JSONDecodeError, ValidationError) as exc:
        raise web.HTTPBadRequest(
            body=orjson.dumps({"error": str(exc)}), content_type="application/json"
        ) from None


def _faults_json(faults: Faults) -> dict[str, Any]:
    data = {to_camel(f.name): getattr(faults, f.name) for f in fields(Faults)}
    data["paths"] = sorted(faults.paths) if faults.paths is not None else None
    data["fired"] = {to_camel(name): n for name, n in faults.fired.items()}
    return data


def _limits_json(state: SimState) -> dict[str, Any]:
    data = {to_camel(f.name): getattr(state.limits, f.name) for f in fields(Limits)}
    data["maxActiveOrders"] = state.exchange.max_active_orders
    return data


async def reset(request: web.Request) -> web.Response:
    """Drop orders, fills, positions, faults and limit overrides; wallet back to start."""
    state = request.app[STATE]
    body = await _body(request, ResetBody)
    state.reset(seed=body.seed, market_frozen=body.market_frozen)
    return _json({"ok": True, "seed": state.seed, "marketFrozen": state.market_frozen})


async def mid(request: web.Request) -> web.Response:
    """Set a mid; answers the new touch and the fills it caused."""
    state = request.app[STATE]
    body = await _body(request, MidBody)
    try:
        changes = state.exchange.set_mid(body.category, body.symbol, body.price)
    except SimError as exc:
        return _json({"error": exc.msg}, 400)
    state.publish(changes)
    market = state.exchange.markets[(body.category, body.symbol)]
    return _json(
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
        return _json({"error": exc.msg}, 400)
    state.publish(changes)
    return _json({"fills": [execution_item(e, ws=True) for e in changes.executions]})


async def funding(request: web.Request) -> web.Response:
    """Settle funding on the symbol's linear position now; answers its executions (none
    when the position is flat), pushed on the private stream like fills."""
    state = request.app[STATE]
    body = await _body(request, FundingBody)
    if body.category is not Category.LINEAR:
        return _json({"error": f"funding settles linear positions only, not {body.category}"}, 400)
    if (Category.LINEAR, body.symbol) not in state.exchange.markets:
        listed = sorted(s for c, s in state.exchange.markets if c is Category.LINEAR)
        return _json(
            {"error": f"{body.symbol!r} is not a linear symbol this simulator lists: {listed}"},
            400,
        )
    changes = state.exchange.settle_funding(body.symbol, body.rate)
    state.publish(changes)
    return _json({"executions": [execution_item(e, ws=True) for e in changes.executions]})


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
    return _json(
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
    return _json(_faults_json(state.faults))


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
    return _json(_limits_json(state))


async def ws_drop(request: web.Request) -> web.Response:
    """Close private, public or all WebSocket connections; answers how many."""
    state = request.app[STATE]
    body = await _body(request, DropBody)
    closed = 0
    if body.channel in ("private", "all"):
        closed += state.private.drop_all()
    if body.channel in ("public", "all"):
        closed += state.public.drop_all()
    return _json({"closed": closed})


async def orders(request: web.Request) -> web.Response:
    """GET /sim/orders: every order ever held, oldest first, Bybit fields plus category."""
    state = request.app[STATE]
    return _json({"list": [order_item(o, ws=True) for o in state.exchange.orders.values()]})


async def executions(request: web.Request) -> web.Response:
    """GET /sim/executions: every execution (fills, funding), oldest first per category."""
    ex = request.app[STATE].exchange
    items = [execution_item(e, ws=True) for cat in Category for e in ex.executions[cat]]
    return _json({"list": items})


async def receipts(request: web.Request) -> web.Response:
    """GET /sim/receipts[?sinceNs=N]: when each order the venue took was received and when
    each fill was made, in wall-clock ns (`time.time_ns()`), at or after `sinceNs`:
    `{"orders": [{orderId, orderLinkId, symbol, category, receivedNs}],
    "executions": [{execId, orderId, orderLinkId, symbol, category, execNs}]}`."""
    state = request.app[STATE]
    try:
        since = int(request.query.get("sinceNs", "0"))
    except ValueError:
        return _json({"error": "sinceNs must be an integer (ns)"}, 400)
    ex, kept = state.exchange, state.receipts
    orders = []
    for order_id, received_ns in kept.received_ns.items():
        order = ex.orders.get(order_id)
        if order is not None and received_ns >= since:
            orders.append(
                {
                    "orderId": order_id,
                    "orderLinkId": order.link_id,
                    "symbol": order.symbol,
                    "category": order.category.value,
                    "receivedNs": received_ns,
                }
            )
    fills = []
    for execution in (e for cat in Category for e in ex.executions[cat]):
        exec_ns = kept.executed_ns.get(execution.exec_id)
        if exec_ns is not None and exec_ns >= since:
            fills.append(
                {
                    "execId": execution.exec_id,
                    "orderId": execution.order_id,
                    "orderLinkId": execution.link_id,
                    "symbol": execution.symbol,
                    "category": execution.category.value,
                    "execNs": exec_ns,
                }
            )
    return _json({"orders": orders, "executions": fills})


async def positions(request: web.Request) -> web.Response:
    """GET /sim/positions: the linear position of every listed symbol, flat ones too."""
    ex = request.app[STATE].exchange
    rows = []
    for category, symbol in ex.markets:
        if category is Category.LINEAR:
            rows.append({**position_item(ex, ex.account.position(symbol)), "category": "linear"})
    return _json({"list": rows})


async def health(request: web.Request) -> web.Response:
    """GET /sim/health: liveness plus counters (orders, retCodes answered, failed batch
    items' retCodes, faults fired)."""
    state = request.app[STATE]
    ex = state.exchange
    return _json(
        {
            "status": "ok",
            "time": state.now(),
            "seed": state.seed,
            "marketFrozen": state.market_frozen,
            "orders": len(ex.orders),
            "openOrders": len(ex.open_orders),
            "executions": sum(len(v) for v in ex.executions.values()),
            "retCodes": {str(code): n for code, n in sorted(state.ret_codes.items())},
            "batchItemRetCodes": {str(c): n for c, n in sorted(state.item_codes.items())},
            "faults": _faults_json(state.faults),
            "limits": _limits_json(state),
            "dcpFired": list(state.dcp.fired),
            "connections": {"private": len(state.private.conns), "public": len(state.public.conns)},
        }
    )


async def metrics(request: web.Request) -> web.Response:
    """GET /metrics: the simulator's own counters in Prometheus text format, so the stack's
    Prometheus scrapes it like every service (names prefixed `venue_sim_`)."""
    state = request.app[STATE]
    ex = state.exchange
    lines = [
        "# HELP venue_sim_orders Orders the simulator holds, any status.",
        "# TYPE venue_sim_orders gauge",
        f"venue_sim_orders {len(ex.orders)}",
        "# HELP venue_sim_open_orders Orders resting on the simulator's books.",
        "# TYPE venue_sim_open_orders gauge",
        f"venue_sim_open_orders {len(ex.open_orders)}",
        "# HELP venue_sim_executions Fills the simulator has made.",
        "# TYPE venue_sim_executions gauge",
        f"venue_sim_executions {sum(len(v) for v in ex.executions.values())}",
        "# HELP venue_sim_responses_total Private REST answers by retCode.",
        "# TYPE venue_sim_responses_total counter",
    ]
    lines += [
        f'venue_sim_responses_total{{ret_code="{code}"}} {n}'
        for code, n in sorted(state.ret_codes.items())
    ]
    return web.Response(text="\n".join(lines) + "\n", content_type="text/plain", charset="utf-8")


ROUTES: list[tuple[str, str, Callable[[web.Request], Awaitable[web.Response]]]] = [
    ("POST", "/sim/reset", reset),
    ("POST", "/sim/mid", mid),
    ("POST", "/sim/trade", trade),
    ("POST", "/sim/market", market),
    ("POST", "/sim/funding", funding),
    ("POST", "/sim/faults", faults),
    ("POST", "/sim/limits", limits),
    ("POST", "/sim/ws/drop", ws_drop),
    ("GET", "/sim/orders", orders),
    ("GET", "/sim/executions", executions),
    ("GET", "/sim/receipts", receipts),
    ("GET", "/sim/positions", positions),
    ("GET", "/sim/health", health),
    ("GET", "/metrics", metrics),
]
