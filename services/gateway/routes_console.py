"""`/v1/console`: what the operator console reads that no other route answers.

    GET /v1/console/me        the caller's role, actor and accounts (the page hides what it
                              may not do, and offers the accounts it may read)
    GET /v1/console/overview  edge per symbol, audit trail, rate-limit use and headroom,
                              reconciliation drift, stream health

Both are read-only and need a viewer key; the console's actions go through the ordinary
routes (`/v1/risk/freeze`, `/v1/orders`, ...), which enforce their own roles.
"""

from __future__ import annotations

from decimal import Decimal
from typing import Annotated

from fastapi import APIRouter, Depends

from services.gateway.auth import Principal, Role, require_role
from services.gateway.console import views
from services.gateway.context import GatewayDep
from services.gateway.schemas import ApiModel

router = APIRouter(prefix="/v1/console", tags=["console"])

Viewer = Annotated[Principal, Depends(require_role(Role.VIEWER))]


class Me(ApiModel):
    actor: str
    role: Role
    accounts: list[str]
    """The desk's accounts the key may read (`MMX_ACCOUNTS` it is bound to), in order."""


@router.get("/me")
async def me(principal: Viewer, gateway: GatewayDep) -> Me:
    """Who the key belongs to, its role and the accounts it may read."""
    accounts = [a for a in gateway.settings.accounts if principal.may_use(a)]
    return Me(actor=principal.actor, role=principal.role, accounts=accounts)


@router.get("/overview")
async def overview(gateway: GatewayDep, _: Viewer) -> views.Overview:
    """Edge per symbol, the newest audit entries, the venue rate-limit buckets' use, the
    venue's rate-limit headroom per endpoint, the latest reconciliation with the venue per
    symbol (position qty drift, order and execution drift), and every stream's length,
    consumer-group lag and pending, and dead letters (the venue circuits are in
    `GET /v1/risk`)."""
    cooldown = Decimal(str(gateway.settings.unfreeze_cooldown_s))
    return await views.read_overview(gateway.redis, cooldown, gateway.settings.accounts)
