"""The risk state store: live limits, the rule that scales them, and the durable trading
state.

Limits. `RISK_LIMITS_KEY` holds the desk's configured limits, `symbol_limits_key` a symbol's
overrides and `RISK_SCALING_KEY` the scaling rule (`domain.limit_scaling`); `set_limits`
replaces the desk's limits and the rule in one MULTI.

Trading state. `FREEZE_KEY` holds {state, reason, actor, epoch, since_ns, generation, code,
class}; no key means ACTIVE at epoch 0. `code` is the reason's code (a `FreezeReason` value)
and `class` its `FreezeClass`, so that the auto-recovery knows what froze trading without
reading the text. Every change bumps the epoch, appends a record to its history stream and
publishes `TradingStateChanged` on its control stream (`topology.freeze_history_stream`,
`control_stream`: the desk's, or the account's), in the same atomic step: a change is never
written without its broadcast, nor broadcast without being written. A change to the state
already held changes nothing and reports changed=False: of N instances that detect the same
breach and all call `freeze`, exactly one gets changed=True, and only that one counts
`freeze_triggered_total`. One exception: a HARD freeze (or REDUCING) asked while the same
state is held for a TRANSIENT reason takes it over (a change, with its epoch, record and
broadcast), so that the auto-recovery cannot end what an operator must end. Unfreezing is
refused within `cooldown_ns` of the freeze unless forced. `recover` moves only from the epoch
its caller saw, so it never undoes a change made meanwhile.

Exposure is not kept here: the exposure ledger (`libs.common.stores.exposure`) holds it,
changed in the same atomic step as every order transition.
"""

from __future__ import annotations

import logging
from abc import ABC, abstractmethod
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from decimal import Decimal
from enum import Enum, StrEnum
from typing import NamedTuple, Protocol

from pydantic import ValidationError

from libs.common.domain.ids import Symbol
from libs.common.domain.limit_scaling import ScalingRule
from libs.common.domain.risk_checks import FreezeClass, RiskLimits, TradingState

log = logging.getLogger(__name__)


class Keep(Enum):
    """Leave a stored value as it is."""

    KEEP = "keep"


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
    code: str = ""
    """The reason's code (a `FreezeReason` value) of a FROZEN or REDUCING state; "" when
    ACTIVE, or written by a version that did not record it."""
    freeze_class: FreezeClass = FreezeClass.HARD
    """The class of the state's reason: TRANSIENT recovers by itself; anything not recorded as
    TRANSIENT is HARD."""


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
    account: str = ""
    """The account whose state changed; "" for the desk's."""


class RiskStateStore(Protocol):
    """Limits, and the trading state with its audit trail."""

    async def get_limits(self, symbol: Symbol | None = None) -> RiskLimits:
        """Desk limits (defaults if never set), with `symbol`'s overrides when given."""
        ...

    async def get_limits_many(self, symbols: Iterable[Symbol]) -> dict[Symbol, RiskLimits]:
        """Each symbol's limits (the desk's with its overrides); one round trip."""
        ...

    async def set_limits(
        self, limits: RiskLimits, *, scaling: ScalingRule | Keep | None = Keep.KEEP
    ) -> None:
        """Replace the desk limits as a whole and, unless `Keep.KEEP`, the scaling rule (None:
        no rule), in one step."""
        ...

    async def get_scaling(self) -> ScalingRule | None:
        """The rule that scales the limits, or None."""
        ...

    async def set_symbol_overrides(
        self, symbol: Symbol, overrides: Mapping[str, Decimal | int]
    ) -> None:
        """Replace `symbol`'s overrides (RiskLimits field -> value); empty clears them."""
        ...

    async def trading_state(self) -> TradingStatus:
        """The durable state: read it before any venue call."""
        ...

    async def freeze(
        self,
        reason: str,
        actor: str,
        now_ns: int,
        *,
        code: str = "",
        freeze_class: FreezeClass = FreezeClass.HARD,
    ) -> FreezeResult:
        """Go FROZEN (from ACTIVE or REDUCING). Already FROZEN: keep it, changed=False, unless
        this freeze is HARD and the one held TRANSIENT: then this one takes over."""
        ...

    async def set_reducing(
        self,
        reason: str,
        actor: str,
        now_ns: int,
        *,
        code: str = "",
        freeze_class: FreezeClass = FreezeClass.HARD,
    ) -> FreezeResult:
        """Go REDUCING from ACTIVE. FROZEN (freeze wins): changed=False. Already REDUCING:
        changed=False, unless this is HARD and the REDUCING held TRANSIENT (taken over)."""
        ...

    async def recover(
        self, target: TradingState, reason: str, actor: str, now_ns: int, *, epoch: int, code: str
    ) -> FreezeResult:
        """The auto-recovery's step from the state at `epoch`: to REDUCING (a TRANSIENT one,
        under `code`, from FROZEN too) or to ACTIVE, without cooldown. changed=False when the
        epoch is no longer `epoch` (someone changed the state meanwhile): nothing written."""
        ...

    async def unfreeze(
        self, reason: str, actor: str, now_ns: int, cooldown_ns: int, *, force: bool = False
    ) -> UnfreezeResult:
        """Go ACTIVE, unless FROZEN less than `cooldown_ns` before `now_ns` and not `force`."""
        ...

    async def freeze_history(self, limit: int = 100) -> list[StateChangeRecord]:
        """The last `limit` changes of this store's state (the desk's, or the account's),
        newest first."""
        ...


def stored_limits(*layers: Mapping[str, str]) -> RiskLimits:
    """The limits from stored layers (desk, then a symbol's overrides) over the defaults.

    A stored value that is no longer valid (written by an older version, or by hand) is
    dropped with an error log, never raised: a read of stored state must not fail a check
    or an API answer. The field keeps the value of the layer below; a field of a layer below
    made invalid by this layer (a soft daily loss limit no longer below the daily loss limit)
    falls back to its default.
    """
    defaults: dict[str, str | None] = RiskLimits().model_dump(mode="json")
    fields = dict(defaults)
    for layer in layers:
        known: dict[str, str | None] = {
            k: v for k, v in layer.items() if k in RiskLimits.model_fields
        }
        for name in sorted(set(layer) - set(known)):
            log.error("stored risk limit %r is not a limit: ignored", name)
        candidate = fields | known
        try:
            RiskLimits.model_validate(candidate)
        except ValidationError as error:
            bad = {str(e["loc"][0]) for e in error.errors() if e["loc"]}
            for name in sorted(bad):
                value = known.get(name, fields.get(name))
                log.error("stored risk limit %s=%r is invalid: ignored", name, value)
            kept = {k: v for k, v in known.items() if k not in bad}
            candidate = fields | {k: defaults[k] for k in bad - set(known)} | kept
        fields = candidate
    return RiskLimits.model_validate(fields)


def decode_scaling(raw: bytes | str | None) -> ScalingRule | None:
    """The stored scaling rule; None when there is none, or (logged as an error) when it no
    longer validates: the configured limits then apply as set."""
    if raw is None:
        return None
    try:
        return ScalingRule.model_validate_json(raw)
    except ValidationError as error:
        log.error("stored scaling rule is invalid, limits apply unscaled: %s", error)
        return None


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
    """REDUCING asked while FROZEN: refused, a freeze is left only by unfreezing (or by
    `recover`, from the epoch it saw)."""
    MOVED = "moved"
    """The epoch was not the one expected: the state changed meanwhile; nothing written."""


class StateMachine(ABC):
    """`freeze`, `set_reducing` and `unfreeze` over one atomic transition primitive."""

    @abstractmethod
    async def transition(
        self,
        target: TradingState,
        reason: str,
        actor: str,
        now_ns: int,
        cutoff_ns: int | None,
        *,
        code: str = "",
        freeze_class: FreezeClass | None = None,
        expect_epoch: int | None = None,
    ) -> tuple[int, Transition]:
        """Move to `target` (recording `code` and `freeze_class`, None for ACTIVE), unless:
        the epoch is not `expect_epoch` when given (MOVED); already there (SAME), except a HARD
        move onto the same state held for a TRANSIENT reason, which takes over; asked
        REDUCING while FROZEN without `expect_epoch` (FROZEN); leaving a FROZEN set after
        `cutoff_ns` (COOLDOWN). A TRANSIENT move from a state other than ACTIVE keeps that
        state's class (a venue outage while REDUCING for the daily loss freezes HARD). On
        CHANGED the epoch is bumped and a history record appended, atomically. Returns
        (epoch, what)."""

    async def freeze(
        self,
        reason: str,
        actor: str,
        now_ns: int,
        *,
        code: str = "",
        freeze_class: FreezeClass = FreezeClass.HARD,
    ) -> FreezeResult:
        """See `RiskStateStore.freeze`."""
        return await self._enter(TradingState.FROZEN, reason, actor, now_ns, code, freeze_class)

    async def set_reducing(
        self,
        reason: str,
        actor: str,
        now_ns: int,
        *,
        code: str = "",
        freeze_class: FreezeClass = FreezeClass.HARD,
    ) -> FreezeResult:
        """See `RiskStateStore.set_reducing`."""
        return await self._enter(TradingState.REDUCING, reason, actor, now_ns, code, freeze_class)

    async def _enter(
        self,
        target: TradingState,
        reason: str,
        actor: str,
        now_ns: int,
        code: str,
        freeze_class: FreezeClass,
    ) -> FreezeResult:
        epoch, what = await self.transition(
            target, reason, actor, now_ns, None, code=code, freeze_class=freeze_class
        )
        return FreezeResult(epoch, what is Transition.CHANGED)

    async def recover(
        self, target: TradingState, reason: str, actor: str, now_ns: int, *, epoch: int, code: str
    ) -> FreezeResult:
        """See `RiskStateStore.recover`."""
        if target is TradingState.FROZEN:
            raise ValueError("recover moves to REDUCING or ACTIVE, never to FROZEN")
        reducing = target is TradingState.REDUCING
        after, what = await self.transition(
            target,
            reason,
            actor,
            now_ns,
            None,
            code=code if reducing else "",
            freeze_class=FreezeClass.TRANSIENT if reducing else None,
            expect_epoch=epoch,
        )
        return FreezeResult(after, what is Transition.CHANGED)

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
