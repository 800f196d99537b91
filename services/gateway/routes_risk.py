"""`/v1/risk`: limits and utilisation, freeze / unfreeze, edge reports, order simulation.

Freeze and unfreeze go through `libs.common.freeze` from here, not through the risk
service, so an operator can freeze even while risk is down. Every operator action that
changes something is appended to the `audit` stream as its command (FreezeTrading,
UnfreezeTrading, SetRiskLimits) with the actor.
"""

from __future__ import annotations

import asyncio
import logging
from decimal import Decimal
from typing import Annotated

from fastapi import APIRouter, Depends, Request

from libs.common import topology
from libs.common.domain.enums import OrderType, TimeInForce
from libs.common.domain.errors import UnknownVenue
from libs.common.domain.exposure import (
    FROZEN_REASON,
    Candidate,
    ExposureCheck,
    explain,
    to_units,
)
from libs.common.domain.ids import (
    AUTO_VENUE,
    DEFAULT_ACCOUNT,
    DEFAULT_VENUE,
    ClientOrderId,
    Symbol,
    new_client_order_id,
)
from libs.common.domain.risk_checks import TradingState, order_denial
from libs.common.domain.time import NS_PER_SECOND, seconds_to_ns
from libs.common.freeze import request_unfreeze, trigger_freeze
from libs.common.messages import (
    Envelope,
    FreezeTrading,
    Message,
    PlaceOrder,
    ReportEdge,
    SetRiskLimits,
    UnfreezeTrading,
)
from libs.common.metrics import ALL_SYMBOLS, FreezeReason
from libs.common.risk_view import RiskView, utilisation
from libs.common.stores import UnfreezeOutcome
from services.gateway import circuits
from services.gateway.auth import (
    AccountQuery,
    Principal,
    Role,
    authorize_account,
    authorize_desk,
    require_role,
)
from services.gateway.context import Gateway, GatewayDep
from services.gateway.errors import Conflict, Invalid, responses
from services.gateway.routed import check_routable
from services.gateway.routing import ExactJsonRoute
from services.gateway.schemas import CommandAccepted, OrderBody
from services.gateway.schemas_risk import (
    EdgeBody,
    EffectiveLimits,
    FreezeBody,
    Limits,
    RiskState,
    SimulateResult,
    StateChange,
    TradingChange,
    TradingView,
    UnfreezeBody,
    UnfreezeChange,
    Utilisation,
)
from services.gateway.schemas_route import RouteView
from services.gateway.smart_routing import plan_route, read_view

log = logging.getLogger(__name__)
router = APIRouter(prefix="/v1/risk", tags=["risk"], route_class=ExactJsonRoute)

Operator = Annotated[Principal, Depends(require_role(Role.OPERATOR))]
TRADER = Depends(require_role(Role.TRADER))
VIEWER = Depends(require_role(Role.VIEWER))
ERRORS = responses(422)
CIRCUIT_SETTLE_S = 2.0
"""How long an unfreeze waits for the routers' fresh venue probes before it answers."""


@router.get("", dependencies=[VIEWER])
async def get_risk(gateway: GatewayDep, account: AccountQuery = DEFAULT_ACCOUNT) -> RiskState:
    """Live limits, their utilisation and P&L today (of `account`), the trading state and the
    freeze history (the desk's and `account`'s own changes, newest first)."""
    limit = gateway.settings.freeze_history_limit
    book = gateway.book(account)
    view, desk_history, own_history, venue_circuits = await asyncio.gather(
        book.snapshots.read(gateway.clock_ns(), books=True),
        gateway.risk.freeze_history(limit),
        book.risk.freeze_history(limit),
        circuits.read_circuits(gateway.redis),
    )
    history = sorted([*desk_history, *own_history], key=lambda r: r.ts_ns, reverse=True)
    return RiskState(
        limits=Limits.of(view.configured_desk_limits, view.scale.rule),
        effective_limits=_effective(view),
        trading=TradingView.of(view.status),
        account=account,
        account_trading=TradingView.of(view.account_status),
        utilisation=_utilisation(view),
        pnl_today=view.pnl_today,
        net_pnl=view.net_pnl,
        freeze_history=[StateChange.of(record) for record in history[:limit]],
        venue_circuits=venue_circuits,
    )


@router.put("/limits", responses=ERRORS)
async def put_limits(
    body: Limits, request: Request, gateway: GatewayDep, principal: Operator
) -> Limits:
    """Set the desk-wide limits and the rule that scales them (`scaling`; null removes it).
    Fields left out keep their live value; the result is validated as a whole and returned,
    as configured (`GET /v1/risk` shows the limits in force). The desk's limits bind every
    account: only a key bound to every account may set them."""
    authorize_desk(request, "setting the desk's limits", gateway.settings.accounts)
    current, rule = await asyncio.gather(gateway.risk.get_limits(), gateway.risk.get_scaling())
    limits, scaling = body.merged_into(current), body.scaling_rule(rule)
    await gateway.risk.set_limits(limits, scaling=scaling)
    changed = ", ".join(sorted(body.model_fields_set)) or "nothing"
    command = SetRiskLimits(limits=limits, scaling=scaling, actor=principal.actor, reason=changed)
    await _audit(gateway, command)
    return Limits.of(limits, scaling)


@router.post("/freeze", responses=ERRORS)
async def freeze(
    body: FreezeBody, request: Request, gateway: GatewayDep, principal: Operator
) -> TradingChange:
    """Freeze trading now: no new orders, every router cancels everything; with `account`,
    only that account's (its own state: the desk and the other accounts trade on). Any
    operator may freeze the desk (the kill switch); an account, one bound to it."""
    if body.account is not None:
        authorize_account(request, body.account)
    store = gateway.risk if body.account is None else gateway.book(body.account).risk
    result = await trigger_freeze(
        store,
        gateway.metrics,
        reason=FreezeReason.MANUAL,
        detail=body.reason,
        actor=principal.actor,
        now_ns=gateway.clock_ns(),
    )
    await _audit(
        gateway, FreezeTrading(reason=body.reason, actor=principal.actor, account=body.account)
    )
    log.warning(
        "trading FROZEN (%s) by %s: %s (changed=%s)",
        body.account or "desk",
        principal.actor,
        body.reason,
        result.changed,
    )
    return TradingChange(state=TradingState.FROZEN, epoch=result.epoch, changed=result.changed)


@router.post("/unfreeze", responses=responses(409, 422))
async def unfreeze(
    body: UnfreezeBody, request: Request, gateway: GatewayDep, principal: Operator
) -> UnfreezeChange:
    """Resume trading; refused within the cooldown after the freeze unless `force`. The
    answer shows each router's venue circuit once it has probed the venue for this resume
    (at most `CIRCUIT_SETTLE_S`): a router whose circuit is not closed asks the venue once
    and closes it if the venue answers."""
    if body.account is None:
        authorize_desk(request, "unfreezing the desk", gateway.settings.accounts)
    else:
        authorize_account(request, body.account)
    now_ns = gateway.clock_ns()
    cooldown_ns = seconds_to_ns(_decimal(gateway.settings.unfreeze_cooldown_s))
    store = gateway.risk if body.account is None else gateway.book(body.account).risk
    result = await request_unfreeze(
        store,
        reason=body.reason,
        actor=principal.actor,
        now_ns=now_ns,
        cooldown_ns=cooldown_ns,
        force=body.force,
    )
    if result.outcome is UnfreezeOutcome.COOLDOWN:
        status = await store.trading_state()
        raise Conflict(
            f"cooldown: frozen {(now_ns - status.since_ns) // NS_PER_SECOND}s ago, cooldown "
            f"{cooldown_ns // NS_PER_SECOND}s; pass force=true to override"
        )
    await _audit(
        gateway,
        UnfreezeTrading(
            reason=body.reason, actor=principal.actor, force=body.force, account=body.account
        ),
    )
    log.warning("trading ACTIVE by %s: %s (%s)", principal.actor, body.reason, result.outcome)
    changed = result.outcome is UnfreezeOutcome.RESUMED
    venue_circuits = await circuits.settle(gateway.redis, result.epoch, CIRCUIT_SETTLE_S)
    return UnfreezeChange(
        state=TradingState.ACTIVE,
        epoch=result.epoch,
        changed=changed,
        venue_circuits=venue_circuits,
    )


@router.post("/edge", status_code=202, dependencies=[TRADER], responses=ERRORS)
async def report_edge(body: EdgeBody, gateway: GatewayDep) -> CommandAccepted:
    """Report a strategy's edge; risk freezes trading when it is below the threshold."""
    command = ReportEdge(symbol=body.symbol, edge_bps=body.edge_bps, source=body.source)
    await gateway.bus.publish(topology.ORDERS_REQUESTS.desk, Envelope.wrap(command))
    return CommandAccepted(command=command.TYPE, symbol=body.symbol)


@router.post("/simulate", dependencies=[TRADER], responses=ERRORS)
async def simulate(body: OrderBody, request: Request, gateway: GatewayDep) -> SimulateResult:
    """Run every pre-trade check on an order against the live risk view and exposure
    ledger, without placing it. Orders admitted meanwhile may still change the answer.
    With `venue: "auto"` the answer also says where the smart order router would send it,
    and why (`route`, as `POST /v1/route/preview`), and the checks are those of its children,
    each at its venue, in turn (as risk would admit them)."""
    authorize_account(request, body.account)
    gateway.book(body.account)
    route = None
    orders = [body]
    if body.venue not in (AUTO_VENUE, *gateway.settings.venues):
        raise Invalid(str(UnknownVenue(body.venue, gateway.settings.venues)))
    if body.venue == AUTO_VENUE:
        check_routable(body)
    view = await read_view(gateway, body.account, body.symbol)  # one read for route and checks
    if body.venue == AUTO_VENUE:
        routing = await plan_route(
            gateway, body.account, body.symbol, body.side, body.qty, body.price, view
        )
        route = RouteView.of(routing)
        orders = [  # each child as the IOC limit it would be sent as
            body.model_copy(update={"venue": c.venue, "qty": c.qty, "price": c.worst_price} | IOC)
            for c in routing.plan.children
        ] or [body.model_copy(update={"venue": DEFAULT_VENUE})]
    cid = body.client_order_id or _placeholder_id()
    commands = [order.to_command(cid) for order in orders]
    reason = _check(view, commands)
    return SimulateResult(approved=reason is None, reason=reason, route=route)


def _check(view: RiskView, commands: list[PlaceOrder]) -> str | None:
    """What risk would answer to `commands` (one symbol and account) in `view`, admitted in
    turn: the checks without exposure, then the ledger's rule."""
    first = commands[0]
    if view.state is TradingState.FROZEN:
        return FROZEN_REASON
    mark = view.fresh.get(first.symbol)
    for command in commands:
        if denial := order_denial(command.to_intent(), mark, view.limits(first.symbol)):
            return denial[1]
    terms = {s: t for s in view.symbols if (t := view.terms(s)) is not None}
    if len(terms) < len(view.symbols):
        return "no fresh mark price for a symbol with a position: total exposure cannot be counted"
    assert mark is not None
    check = ExposureCheck(view.state, view.desk_terms(), terms, dict(view.books), dict(view.rates))
    for command in commands:
        units = to_units(command.qty * (command.price or mark), round_up=True)
        candidate = Candidate(
            command.symbol,
            command.side,
            units,
            place=True,
            must_reduce=view.daily_loss_reached,
            venue=command.venue,
        )
        if (denied := check.decide(candidate, 0)) is not None:
            return explain(denied, candidate, view.state)
    return None


IOC = {"order_type": OrderType.LIMIT, "time_in_force": TimeInForce.IOC}
"""The terms of a smart-routed child (`services.gateway.routed`)."""


def _effective(view: RiskView) -> list[EffectiveLimits]:
    rows = []
    for scope in view.limit_scopes():
        entry = view.volatility.get(scope.symbol) if scope.symbol is not None else None
        rows.append(
            EffectiveLimits(
                symbol=scope.label,
                limits={n: Decimal(getattr(scope.limits, n)) for n in sorted(scope.scalable)},
                factors=view.scale.factors(scope.symbol),
                reasons=view.scale.reasons(scope.symbol),
                volatility_bps=None if entry is None else entry.estimate.per_minute_bps,
            )
        )
    return rows


def _utilisation(view: RiskView) -> list[Utilisation]:
    rows = []
    for (limit, symbol), ratio in sorted(utilisation(view).items()):
        limits = view.desk_limits if symbol == ALL_SYMBOLS else view.limits(Symbol(symbol))
        value = Decimal(getattr(limits, limit))
        exact = Decimal(repr(ratio))  # the float's shortest form; the schema rounds it
        rows.append(Utilisation(limit=limit, symbol=symbol, limit_value=value, ratio=exact))
    return rows


async def _audit(gateway: Gateway, command: Message) -> None:
    await gateway.bus.publish(topology.AUDIT, Envelope.wrap(command))


def _placeholder_id() -> ClientOrderId:
    return new_client_order_id("simulate")


def _decimal(seconds: float) -> Decimal:
    return Decimal(str(seconds))
