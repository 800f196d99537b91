"""Auto-recovery from a transient freeze: what to do next, decided from plain facts. Pure.

A freeze of class TRANSIENT (`libs.common.metrics.FREEZE_CLASSES`) ends by itself:

    FROZEN (transient) ──cause cleared for clear_ns──▶ REDUCING (transient) ──warmup_ns──▶ ACTIVE
          │                                              │
          └── cleared, but max_per_hour recoveries       └── any freeze meanwhile wins: FROZEN
              began in the last hour: CAPPED, stays          again, from the start
              FROZEN until a person acts

A HARD freeze, and a REDUCING entered for a hard reason (the soft daily loss), never move here:
an operator resumes them. The runner (`services.risk.recovery`) gathers the facts, asks
`decide`, and makes the step it answers with a compare-epoch transition, so that a change made
meanwhile (an operator, another freeze) is never undone.
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum

from libs.common.domain.risk_checks import FreezeClass, TradingState

HOUR_NS = 3600 * 10**9
"""The rolling window of `RecoveryPolicy.max_per_hour`."""


@dataclass(frozen=True, slots=True)
class RecoveryPolicy:
    """How a transient freeze recovers."""

    clear_ns: int
    """The cause must have been seen cleared continuously this long before recovery begins."""
    warmup_ns: int
    """How long trading stays REDUCING (reduce-only orders) before it is ACTIVE again."""
    max_per_hour: int
    """Recoveries that may begin in any rolling hour; past it a person must act (0: never)."""

    def __post_init__(self) -> None:
        if self.clear_ns < 0 or self.warmup_ns < 0 or self.max_per_hour < 0:
            raise ValueError(f"recovery policy {self} is invalid: expected no negative value")


class Step(StrEnum):
    """What the recovery does now."""

    NOTHING = "nothing"
    """Not a transient state (ACTIVE, a hard freeze, a hard REDUCING), or given up already."""
    WAIT = "wait"
    """Transient, but its cause has not been clear long enough, or the warm-up is not over."""
    REDUCE = "reduce"
    """FROZEN -> REDUCING: the cause has cleared for `clear_ns`; the warm-up begins."""
    RESUME = "resume"
    """REDUCING -> ACTIVE: the warm-up is over."""
    CAPPED = "capped"
    """The cause has cleared, but `max_per_hour` recoveries began in the last hour: stay
    FROZEN and say that a person must act (once per freeze)."""


@dataclass(frozen=True, slots=True)
class Facts:
    """What the runner knows at `now_ns`."""

    state: TradingState
    freeze_class: FreezeClass
    since_ns: int
    """When the state was entered (the freeze key's `since_ns`)."""
    cleared_since_ns: int | None
    """Since when the freeze's cause has been seen cleared without a break; None: not now."""
    recent: int
    """Recoveries begun in the last hour (by any instance)."""
    gave_up: bool
    """This freeze reached the cap already: it waits for a person."""
    now_ns: int


def decide(facts: Facts, policy: RecoveryPolicy) -> Step:
    """The next step of the recovery (see the module docstring)."""
    if facts.state is TradingState.ACTIVE or facts.freeze_class is not FreezeClass.TRANSIENT:
        return Step.NOTHING
    if facts.state is TradingState.REDUCING:
        warm = facts.now_ns - facts.since_ns >= policy.warmup_ns
        return Step.RESUME if warm else Step.WAIT
    if facts.gave_up:
        return Step.NOTHING
    cleared = facts.cleared_since_ns
    if cleared is None or facts.now_ns - cleared < policy.clear_ns:
        return Step.WAIT
    if facts.recent >= policy.max_per_hour:
        return Step.CAPPED
    return Step.REDUCE


def cleared_since(previous_ns: int | None, cleared: bool, now_ns: int) -> int | None:
    """Since when a cause has been clear without a break, after one more look at `now_ns`."""
    if not cleared:
        return None
    return now_ns if previous_ns is None else previous_ns
