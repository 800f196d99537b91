"""`/v1/route/preview`: where the smart order router would send an order, and why."""

from __future__ import annotations

from fastapi import APIRouter, Depends, Request

from services.gateway.auth import Role, authorize_account, require_role
from services.gateway.context import GatewayDep
from services.gateway.errors import responses
from services.gateway.routing import ExactJsonRoute
from services.gateway.schemas import OrderBody
from services.gateway.schemas_route import RouteView
from services.gateway.smart_routing import plan_route

router = APIRouter(prefix="/v1/route", tags=["orders"], route_class=ExactJsonRoute)


@router.post(
    "/preview", dependencies=[Depends(require_role(Role.TRADER))], responses=responses(422)
)
async def preview(body: OrderBody, request: Request, gateway: GatewayDep) -> RouteView:
    """How the smart order router would split this order across the venues now, with a
    verdict per venue (its effective price after fees, or why it is spared: open circuit,
    stale book, rate or risk headroom, no depth within the limit). Nothing is placed; the
    order's own `venue` is ignored (the plan is the one `venue: "auto"` would follow)."""
    authorize_account(request, body.account)
    gateway.book(body.account)
    routing = await plan_route(gateway, body.account, body.symbol, body.side, body.qty, body.price)
    return RouteView.of(routing)
