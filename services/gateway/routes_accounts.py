"""`/v1/risk/accounts/{account}/limits`: an account's own limits, overrides of the desk's.

An account trades within the stricter of the desk's limits and its own
(`libs.common.stores.account_limits`): its overrides default from the desk's, a symbol's from
the account's, and none can give an account more than the desk. A PUT replaces every override
of the account at once and is recorded in the audit trail (`OperatorAction`
`set_account_limits`) with the caller.
"""

from __future__ import annotations

from decimal import Decimal
from typing import Annotated, Any

from fastapi import APIRouter, Depends, Path, Request
from pydantic import Field, create_model

from libs.common import topology
from libs.common.domain.ids import AccountId, Symbol
from libs.common.domain.risk_checks import RiskLimits
from libs.common.messages import AccountField, Envelope, OperatorAction, SymbolField
from libs.common.stores.account_limits import AccountLimits, RedisAccountLimitStore
from services.gateway.auth import Principal, Role, authorize_account, require_role
from services.gateway.context import Gateway, GatewayDep
from services.gateway.errors import Invalid, responses
from services.gateway.routing import ExactJsonRoute
from services.gateway.schemas import ApiModel, RequestModel

router = APIRouter(prefix="/v1/risk/accounts", tags=["risk"], route_class=ExactJsonRoute)

Operator = Annotated[Principal, Depends(require_role(Role.OPERATOR))]
VIEWER = Depends(require_role(Role.VIEWER))
AccountPath = Annotated[AccountField, Path(description="one of MMX_ACCOUNTS")]


def _optional(annotation: Any) -> Any:
    return annotation | None


_OPTIONAL_LIMITS: dict[str, Any] = {
    name: (_optional(info.annotation), Field(default=None, description=info.description))
    for name, info in RiskLimits.model_fields.items()
}
LimitOverrides: Any = create_model(  # every limit, optional: the ones set are the overrides
    "LimitOverrides", __base__=RequestModel, **_OPTIONAL_LIMITS
)


class AccountLimitsBody(RequestModel):
    """Every override of an account, replacing those it had: `limits` for the account,
    `symbols` per symbol (a limit left out follows the layer below)."""

    limits: LimitOverrides = Field(default_factory=LimitOverrides)
    symbols: dict[SymbolField, LimitOverrides] = Field(default_factory=dict, max_length=500)


class AccountLimitsView(ApiModel):
    """An account's overrides as stored (camelCase limit names, exact decimal strings)."""

    account: AccountId
    limits: dict[str, str]
    symbols: dict[Symbol, dict[str, str]]

    @classmethod
    def of(cls, account: AccountId, stored: AccountLimits) -> AccountLimitsView:
        return cls(
            account=account,
            limits=_camel_keys(stored.limits),
            symbols={s: _camel_keys(o) for s, o in stored.symbols.items()},
        )


@router.get("/{account}/limits", dependencies=[VIEWER], responses=responses(422))
async def get_account_limits(
    account: AccountPath, request: Request, gateway: GatewayDep
) -> AccountLimitsView:
    """The account's overrides of the desk's limits (empty: it has the desk's)."""
    authorize_account(request, account)
    return AccountLimitsView.of(account, await _store(gateway, account).get())


@router.put("/{account}/limits", responses=responses(422))
async def put_account_limits(
    account: AccountPath,
    body: AccountLimitsBody,
    request: Request,
    gateway: GatewayDep,
    principal: Operator,
) -> AccountLimitsView:
    """Replace every override of the account (an empty body removes them); each is checked
    against the desk's limits (and a symbol's against the account's): 422 names what is
    wrong."""
    authorize_account(request, account)
    store = _store(gateway, account)
    try:
        stored = await store.set(
            await gateway.risk.get_limits(),
            _overrides(body.limits),
            {symbol: _overrides(o) for symbol, o in body.symbols.items()},
        )
    except ValueError as error:
        raise Invalid(f"account {account} limits: {error}") from None
    details = {"account": account} | {f"limits.{k}": v for k, v in stored.limits.items()}
    for symbol, overrides in stored.symbols.items():
        details |= {f"{symbol}.{k}": v for k, v in overrides.items()}
    action = OperatorAction(
        action="set_account_limits", actor=principal.actor, reason=account, details=details
    )
    await gateway.bus.publish(topology.AUDIT, Envelope.wrap(action))
    return AccountLimitsView.of(account, stored)


def _store(gateway: Gateway, account: AccountId) -> RedisAccountLimitStore:
    gateway.book(account)  # 422 for an account that is not configured
    return RedisAccountLimitStore(gateway.redis, account)


def _overrides(body: Any) -> dict[str, Decimal | int]:
    return {name: getattr(body, name) for name in body.model_fields_set}


def _camel_keys(overrides: dict[str, str]) -> dict[str, str]:
    return {LimitOverrides.model_fields[k].alias or k: v for k, v in overrides.items()}
