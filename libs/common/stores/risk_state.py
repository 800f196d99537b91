"""The risk state store: live limits and the durable trading state.

Trading state. `FREEZE_KEY` holds {state, reason, actor, epoch, since_ns, generation}; no key
means ACTIVE at epoch 0. Every change bumps the epoch, appends a record to
`RISK_FREEZE_HISTORY` and publishes `TradingStateChanged` on `CONTROL`, in the same atomic
step: a change is never written without its broadcast, nor broadcast without being written.
A change to the state already held changes nothing and reports changed=False: of N
instances that detect the same breach and all call `freeze`, exactly one gets changed=True,
and only that one counts `freeze_triggered_total`. Unfreezing is refused within
`cooldown_ns` of the freeze unless forced.

Exposure is not kept here: the exposure ledger (`libs.common.stores.exposure`) holds it,
changed in the same atomic step as every order transition.
"""

from __future__ import annotations

import logging
from abc import ABC, abstractmethod
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from decimal import Decimal
from enum import StrEnum
from typing import NamedTuple, Protocol

from pydantic import ValidationError

from libs.common.domain.ids import Symbol
from libs.common.domain.risk_checks import RiskLimits, TradingState

log = logging.getLogger(__name__)


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
    generation: str = ""
    """Set once when the freeze key is first written: if Redis loses its data, the key comes
    back with a new generation (and epochs from 1 again), so "epoch lower than the last seen"
    means stale news only within one generation."""


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
    """Limits, and the trading state with its audit trail."""

    async def get_limits(self, symbol: Symbol | None = None) -> RiskLimits:
        """Desk limits (defaults if never set), with `symbol`'s overrides when given."""
        ...

    async def get_limits_many(self, symbols: Iterable[Symbol]) -> dict[Symbol, RiskLimits]:
        """Each symbol's limits (the desk's with its overrides); one round trip."""
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


def stored_limits(*layers: Mapping[str, str]) -> RiskLimits:
    """The limits from stored layers (desk, then a symbol's overrides) over the defaults.

    A stored value that is no longer valid (written by an older version, or by hand) is
    dropped with an error log, never raised: a read of stored state must not fail a check
    or an API answer. The field keeps the value of the layer below.
    """
    fields: dict[str, str] = RiskLimits().model_dump(mode="json")
    for layer in layers:
        known = {k: v for k, v in layer.items() if k in RiskLimits.model_fields}
        for name in sorted(set(layer) - set(known)):
            log.error("stored risk limit %r is not a limit: ignored", name)
        candidate = fields | known
        try:
            RiskLimits.model_validate(candidate)
        except ValidationError as error:
            bad = {str(e["loc"][0]) for e in error.errors() if e["loc"]}
            for name in sorted(bad):
                log.error("stored risk limit %s=%r is invalid: ignored", name, known.get(name))
            candidate = fields | {k: v for k, v in known.items() if k not in bad}
        fields = candidate
    return RiskLimits.model_validate(fields)


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
