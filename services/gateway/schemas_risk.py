"""The `/v1/risk` JSON shapes (camelCase)."""

from __future__ import annotations

from decimal import Decimal

from pydantic import Field, StrictBool, ValidationError, ValidationInfo, field_validator

from libs.common.display import Money, Ratio
from libs.common.domain.ids import AccountId
from libs.common.domain.limit_scaling import ScalingRule, VolatilityRule, Window
from libs.common.domain.risk_checks import RiskLimits, TradingState
from libs.common.domain.time import ns_to_ms
from libs.common.messages import AccountField, SymbolField
from libs.common.stores import StateChangeRecord, TradingStatus
from services.gateway.errors import Invalid, readable
from services.gateway.schemas import REQUEST_CONFIG, ApiModel, ExactDecimal, Reason, RequestModel
from services.gateway.schemas_route import RouteView


class VolatilityBody(VolatilityRule):
    """`VolatilityRule` in camelCase."""

    model_config = REQUEST_CONFIG


class WindowBody(Window):
    """`Window` in camelCase."""

    model_config = REQUEST_CONFIG


class ScalingBody(ScalingRule):
    """The scaling rule (`libs.common.domain.limit_scaling`) in camelCase. Limits are named
    as `risk_utilisation_ratio{limit}` spells them (`max_inventory_usd`) or in camelCase."""

    model_config = REQUEST_CONFIG

    volatility: VolatilityBody | None = None
    schedule: tuple[WindowBody, ...] = Field(default=(), max_length=32)

    @classmethod
    def of(cls, rule: ScalingRule) -> ScalingBody:
        return cls.model_validate(rule.model_dump(), by_name=True)

    def to_rule(self) -> ScalingRule:
        return ScalingRule.model_validate(self.model_dump())


class Limits(RiskLimits):
    """The risk limits in camelCase (USD amounts, counts, bps), as configured, and the rule
    that scales them (null: none)."""

    model_config = REQUEST_CONFIG

    scaling: ScalingBody | None = None

    @classmethod
    def of(cls, limits: RiskLimits, scaling: ScalingRule | None) -> Limits:
        rule = None if scaling is None else ScalingBody.of(scaling)
        return cls.model_validate(limits.model_dump() | {"scaling": rule}, by_name=True)

    def scaling_rule(self, current: ScalingRule | None) -> ScalingRule | None:
        """The rule this body sets: `current` unless it names `scaling`."""
        if "scaling" not in self.model_fields_set:
            return current
        return None if self.scaling is None else self.scaling.to_rule()

    @field_validator("daily_loss_soft_limit")
    @classmethod
    def _soft_below_hard(cls, value: Decimal | None, info: ValidationInfo) -> Decimal | None:
        """Not against this body's defaults: against the live limits, in `merged_into`."""
        return value

    def merged_into(self, current: RiskLimits) -> RiskLimits:
        """`current` with the fields this body set replaced, validated as a whole: a limit
        that does not fit the others (a soft daily loss limit not below the daily loss limit)
        is refused as `Invalid` (422), naming the field in camelCase."""
        changes = {name: getattr(self, name) for name in self.model_fields_set - {"scaling"}}
        try:
            return RiskLimits.model_validate(current.model_dump() | changes)
        except ValidationError as error:
            details = [d | {"field": _camel(d["field"])} for d in readable(error.errors())]
            summary = "; ".join(f"{d['field']}: {d['message']}" for d in details)
            raise Invalid(f"invalid request: {summary}", details=details) from error


def _camel(name: str) -> str:
    field = Limits.model_fields.get(name)
    return name if field is None or field.alias is None else field.alias


class TradingView(ApiModel):
    state: TradingState
    epoch: int
    reason: str
    actor: str
    since: int
    """Unix ms of the last change (0 if never changed)."""

    @classmethod
    def of(cls, status: TradingStatus) -> TradingView:
        return cls(
            state=status.state,
            epoch=status.epoch,
            reason=status.reason,
            actor=status.actor,
            since=ns_to_ms(status.since_ns),
        )


class StateChange(ApiModel):
    state: TradingState
    previous: TradingState
    reason: str
    actor: str
    epoch: int
    time: int
    account: str | None
    """The account whose own state changed; null for the desk's."""

    @classmethod
    def of(cls, record: StateChangeRecord) -> StateChange:
        return cls(
            state=record.state,
            previous=record.previous,
            reason=record.reason,
            actor=record.actor,
            epoch=record.epoch,
            time=ns_to_ms(record.ts_ns),
            account=record.account or None,
        )


class Utilisation(ApiModel):
    """Used fraction of one limit, as `risk_utilisation_ratio{limit, symbol}` reports it."""

    limit: str
    """The RiskLimits field (snake_case, as the metric label)."""
    symbol: str
    """A symbol, or ALL for a desk-wide limit."""
    limit_value: Decimal
    ratio: Ratio
    """1 is at the limit (exactly 4 decimal places, rounded half-even)."""


class VenueCircuit(ApiModel):
    """One router instance's venue circuit breaker, as that router last wrote it."""

    instance: str
    state: str
    """closed; open (new orders are refused as `circuit_open`); half_open (one probe)."""
    failures: int
    """The current streak of consecutive venue failures."""
    reason: str
    """The last venue failure (it stays after the circuit closed again)."""
    updated_time: int
    """Unix ms of the router's last write."""
    probed_epoch: int | None
    """The trading epoch of the last resume the router probed the venue for afresh."""


class EffectiveLimits(ApiModel):
    """The scalable limits in force for the desk (symbol ALL) or a symbol, as
    `risk_limit{limit, symbol}` reports them."""

    symbol: str
    limits: dict[str, Decimal]
    """Each scalable limit in force (named as `risk_limit{limit}`): configured x factor."""
    factors: dict[str, Decimal]
    """The factor on each limit that is scaled now (a limit not named is as configured)."""
    reasons: list[str]
    """What scales them: each open schedule window, a high volatility."""
    volatility_bps: Decimal | None
    """The symbol's realised volatility per minute, while the rule scales with it."""


class RiskState(ApiModel):
    limits: Limits
    """Desk-wide, as configured, with the scaling rule; a symbol's overrides and the scaling
    show in its utilisation rows' limitValue (the limit in force) and in `effectiveLimits`."""
    effective_limits: list[EffectiveLimits]
    """The scalable limits in force now: the desk's (ALL), then each symbol's."""
    trading: TradingView
    """The desk's trading state: FROZEN stops every account."""
    account: AccountId
    """The account the limits' utilisation, P&L and `accountTrading` are of (`?account=`)."""
    account_trading: TradingView
    """The account's own trading state; it trades only while this and `trading` allow."""
    utilisation: list[Utilisation]
    pnl_today: Money
    """Net P&L since the day's (UTC) baseline: what the daily loss limit is checked against
    (exactly 8 decimals, rounded half-even, as every money figure: `display.Money`)."""
    net_pnl: Money
    """Net P&L of every position: realized - fees - funding + unrealized at the latest mark."""
    freeze_history: list[StateChange]
    """The desk's changes and the account's own (`account`), newest first."""
    venue_circuits: list[VenueCircuit]
    """Each running router's venue circuit breaker: ACTIVE trading with an open circuit
    still refuses new orders (`circuit_open`) on that router."""


class FreezeBody(RequestModel):
    reason: Reason = Field(examples=["exchange connectivity issues"])
    account: AccountField | None = Field(
        default=None,
        description="freeze one account (one of MMX_ACCOUNTS); absent: the desk, every account",
    )


class UnfreezeBody(RequestModel):
    reason: Reason = Field(examples=["issue resolved"])
    force: StrictBool = False
    """Unfreeze even within the cooldown after the freeze."""
    account: AccountField | None = Field(
        default=None,
        description="resume one account's own state; absent: the desk's",
    )


class TradingChange(ApiModel):
    state: TradingState
    epoch: int
    changed: bool
    """False when trading already was in this state: nothing was broadcast."""


class UnfreezeChange(TradingChange):
    venue_circuits: list[VenueCircuit]
    """Each router's circuit once it has probed the venue for this resume (or after a
    short wait): closed when the venue answered."""


class EdgeBody(RequestModel):
    symbol: SymbolField
    edge_bps: ExactDecimal
    source: Reason = "api"


class SimulateResult(ApiModel):
    approved: bool
    reason: str | None
    """Why the order would be denied; None when approved."""
    route: RouteView | None = None
    """Where the smart order router would send a `venue: "auto"` order, and why."""
