"""The risk state store: live limits, the durable trading state, exposure reservations.

Trading state. `FREEZE_KEY` holds {state, reason, actor, epoch, since_ns}; no key means
ACTIVE at epoch 0. Every change bumps the epoch and appends a record to
`RISK_FREEZE_HISTORY`, in the same atomic step. A change to the state already held changes
nothing and reports changed=False: of N instances that detect the same breach and all call
`freeze`, exactly one gets changed=True, and only that one counts `freeze_triggered_total`
and publishes `TradingStateChanged`. Unfreezing is refused within `cooldown_ns` of the
freeze unless forced.

Exposure reservations: how N risk instances share `max_inventory_usd`. The pure check
`check_inventory` sees the open orders in the store, but an order approved by another
instance a moment ago is not there yet, so two instances could each approve an order that
alone fits and together pass the limit. After every pure check passed, risk therefore calls

    limit = max_inventory_usd - side.sign * position_qty * mark   # headroom of this side
    reserve(symbol, side, client_order_id, notional=qty * (price or mark), limit=limit)

and approves only if it returns True. The store checks "reserved on this side + notional
<= limit" and records the reservation in one atomic step, so concurrent reservations can
never together pass the limit. The reservation is released (`release`, idempotent, any
instance) when the order ends: Filled, Canceled, Rejected, or denied after reserving. A
partly filled order keeps its whole reservation while its fills also count in the
position: exposure is over-counted until it ends, never under-counted. A released order id
can never reserve again (a late redelivery of its command is refused). Amounts are kept in
whole micro-USD: a reservation rounds up, a limit rounds down.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import Mapping
from dataclasses import dataclass
from decimal import ROUND_CEILING, ROUND_FLOOR, Decimal
from enum import StrEnum
from typing import NamedTuple, Protocol

from libs.common.domain.enums import Side
from libs.common.domain.ids import ClientOrderId, Symbol
from libs.common.domain.risk_checks import RiskLimits, TradingState

UNITS_PER_USD = 1_000_000
"""Reservations are integers of micro-USD, exact in Redis (Lua numbers are doubles)."""
MAX_UNITS = 2**50
"""Largest single amount in units (about 1.1e9 USD). The Lua sum of a side's reservations is
exact while it stays below 2^53 units (about 9e9 USD), far above any desk limit."""


class UnfreezeOutcome(StrEnum):
    """What `unfreeze` did."""

    RESUMED = "resumed"
    """The state was FROZEN or REDUCING and is ACTIVE now; the epoch was bumped."""
    ALREADY_ACTIVE = "already_active"
    """Nothing to do; nothing changed."""
    COOLDOWN = "cooldown"
    """Refused: frozen less than `cooldown_ns` ago and not forced. Still FROZEN."""


class FreezeResult(NamedTuple):
    epoch: int
    """The epoch after the call (unchanged if `changed` is False)."""
    changed: bool
    """True only for the call that made the transition."""


class UnfreezeResult(NamedTuple):
    epoch: int
    outcome: UnfreezeOutcome


class TradingStatus(NamedTuple):
    """The durable trading state and who set it when."""

    state: TradingState
    epoch: int
    reason: str
    actor: str
    since_ns: int


@dataclass(frozen=True, slots=True)
class StateChangeRecord:
    """One entry of the freeze history: a state change, as written with it."""

    entry_id: str
    state: TradingState
    previous: TradingState
    reason: str
    actor: str
    epoch: int
    ts_ns: int


class RiskStateStore(Protocol):
    """Limits, trading state with its audit trail, and exposure reservations."""

    async def get_limits(self, symbol: Symbol | None = None) -> RiskLimits:
        """Desk limits (defaults if never set), with `symbol`'s overrides when given."""
        ...

    async def set_limits(self, limits: RiskLimits) -> None:
        """Replace the desk limits as a whole."""
        ...

    async def set_symbol_overrides(
        self, symbol: Symbol, overrides: Mapping[str, Decimal | int]
    ) -> None:
        """Replace `symbol`'s overrides (RiskLimits field -> value); empty clears them."""
        ...

    async def trading_state(self) -> TradingStatus:
        """The durable state: read it before any venue call."""
        ...

    async def freeze(self, reason: str, actor: str, now_ns: int) -> FreezeResult:
        """Go FROZEN (from ACTIVE or REDUCING). Already FROZEN: keep it, changed=False."""
        ...

    async def set_reducing(self, reason: str, actor: str, now_ns: int) -> FreezeResult:
        """Go REDUCING from ACTIVE. Already REDUCING, or FROZEN (freeze wins): changed=False."""
        ...

    async def unfreeze(
        self, reason: str, actor: str, now_ns: int, cooldown_ns: int, *, force: bool = False
    ) -> UnfreezeResult:
        """Go ACTIVE, unless FROZEN less than `cooldown_ns` before `now_ns` and not `force`."""
        ...

    async def freeze_history(self, limit: int = 100) -> list[StateChangeRecord]:
        """The last `limit` state changes, newest first."""
        ...

    async def reserve(
        self,
        symbol: Symbol,
        side: Side,
        client_order_id: ClientOrderId,
        notional: Decimal,
        limit: Decimal,
    ) -> bool:
        """Reserve `notional` USD for the order if the side's total stays <= `limit`.

        True if reserved now or already by this order; False if it would pass the limit,
        or if this order's reservation was released before.
        """
        ...

    async def release(self, client_order_id: ClientOrderId) -> bool:
        """Drop the order's reservation; True if this call released it. Idempotent."""
        ...

    async def reserved(self, symbol: Symbol, side: Side) -> dict[ClientOrderId, Decimal]:
        """The live reservations of one side, USD by order (for utilisation and reconciling)."""
        ...


def to_units(usd: Decimal, *, round_up: bool) -> int:
    """USD as whole micro-USD; raises if beyond MAX_UNITS."""
    units = int((usd * UNITS_PER_USD).to_integral_value(ROUND_CEILING if round_up else ROUND_FLOOR))
    if abs(units) > MAX_UNITS:
        raise ValueError(f"amount {usd} USD is out of range: expected at most {MAX_UNITS} units")
    return units


def from_units(units: int) -> Decimal:
    return Decimal(units) / UNITS_PER_USD


def check_overrides(
    desk: RiskLimits, overrides: Mapping[str, Decimal | int]
) -> dict[str, Decimal | int]:
    """Validate `overrides` against RiskLimits (names and values); return them as a dict."""
    unknown = sorted(set(overrides) - set(RiskLimits.model_fields))
    if unknown:
        raise ValueError(f"unknown risk limit(s) {unknown}: expected RiskLimits field names")
    RiskLimits.model_validate(desk.model_dump() | dict(overrides))
    return dict(overrides)


def cooldown_cutoff(now_ns: int, cooldown_ns: int, force: bool) -> int | None:
    """Freezes after this instant are too recent to leave; None when nothing is refused."""
    if cooldown_ns < 0:
        raise ValueError(f"cooldown_ns {cooldown_ns} is invalid: expected >= 0")
    return None if force or cooldown_ns == 0 else now_ns - cooldown_ns


class Transition(StrEnum):
    """What a state-change attempt did (the reply of the Redis script, spelled the same)."""

    CHANGED = "changed"
    SAME = "same"
    """Already in the target state: nothing written."""
    COOLDOWN = "cooldown"
    FROZEN = "frozen"
    """REDUCING asked while FROZEN: refused, a freeze is left only by unfreezing."""


class StateMachine(ABC):
    """`freeze`, `set_reducing` and `unfreeze` over one atomic transition primitive."""

    @abstractmethod
    async def transition(
        self, target: TradingState, reason: str, actor: str, now_ns: int, cutoff_ns: int | None
    ) -> tuple[int, Transition]:
        """Move to `target` unless already there (SAME), or asked REDUCING while FROZEN
        (FROZEN), or leaving a FROZEN set after `cutoff_ns` (COOLDOWN). On CHANGED the
        epoch is bumped and a history record appended, atomically. Returns (epoch, what)."""

    async def freeze(self, reason: str, actor: str, now_ns: int) -> FreezeResult:
        """See `RiskStateStore.freeze`."""
        epoch, what = await self.transition(TradingState.FROZEN, reason, actor, now_ns, None)
        return FreezeResult(epoch, what is Transition.CHANGED)

    async def set_reducing(self, reason: str, actor: str, now_ns: int) -> FreezeResult:
        """See `RiskStateStore.set_reducing`."""
        epoch, what = await self.transition(TradingState.REDUCING, reason, actor, now_ns, None)
        return FreezeResult(epoch, what is Transition.CHANGED)

    async def unfreeze(
        self, reason: str, actor: str, now_ns: int, cooldown_ns: int, *, force: bool = False
    ) -> UnfreezeResult:
        """See `RiskStateStore.unfreeze`."""
        cutoff = cooldown_cutoff(now_ns, cooldown_ns, force)
        epoch, what = await self.transition(TradingState.ACTIVE, reason, actor, now_ns, cutoff)
        return UnfreezeResult(epoch, _UNFREEZE_OUTCOMES[what])


_UNFREEZE_OUTCOMES = {
    Transition.CHANGED: UnfreezeOutcome.RESUMED,
    Transition.SAME: UnfreezeOutcome.ALREADY_ACTIVE,
    Transition.COOLDOWN: UnfreezeOutcome.COOLDOWN,
}
