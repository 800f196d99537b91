"""The auto-recovery's decision: what happens to each state, the clear time, the warm-up and
the hourly cap."""

from __future__ import annotations

from dataclasses import replace

import pytest

from libs.common.domain.recovery import Facts, RecoveryPolicy, Step, cleared_since, decide
from libs.common.domain.risk_checks import FreezeClass, TradingState

S = 10**9
T0 = 1_700_000_000 * S
POLICY = RecoveryPolicy(clear_ns=30 * S, warmup_ns=60 * S, max_per_hour=3)
FROZEN_TRANSIENT = Facts(
    state=TradingState.FROZEN,
    freeze_class=FreezeClass.TRANSIENT,
    since_ns=T0,
    cleared_since_ns=T0 + 10 * S,
    recent=0,
    gave_up=False,
    now_ns=T0 + 40 * S,
)


def test_a_transient_freeze_cleared_for_the_clear_time_goes_reducing() -> None:
    assert decide(FROZEN_TRANSIENT, POLICY) is Step.REDUCE


def test_a_transient_freeze_cleared_for_less_than_the_clear_time_waits() -> None:
    facts = replace(FROZEN_TRANSIENT, now_ns=T0 + 40 * S - 1)

    assert decide(facts, POLICY) is Step.WAIT


def test_a_transient_freeze_whose_cause_is_not_cleared_waits() -> None:
    facts = replace(FROZEN_TRANSIENT, cleared_since_ns=None, now_ns=T0 + 3600 * S)

    assert decide(facts, POLICY) is Step.WAIT


@pytest.mark.parametrize("state", [TradingState.FROZEN, TradingState.REDUCING])
def test_a_hard_state_never_recovers_whatever_else_holds(state: TradingState) -> None:
    facts = replace(
        FROZEN_TRANSIENT, state=state, freeze_class=FreezeClass.HARD, now_ns=T0 + 10**6 * S
    )

    assert decide(facts, POLICY) is Step.NOTHING


def test_active_trading_has_nothing_to_recover() -> None:
    facts = replace(FROZEN_TRANSIENT, state=TradingState.ACTIVE)

    assert decide(facts, POLICY) is Step.NOTHING


def test_the_warm_up_ends_in_active_once_its_time_is_over() -> None:
    reducing = replace(FROZEN_TRANSIENT, state=TradingState.REDUCING, cleared_since_ns=None)

    assert decide(replace(reducing, now_ns=T0 + 60 * S - 1), POLICY) is Step.WAIT
    assert decide(replace(reducing, now_ns=T0 + 60 * S), POLICY) is Step.RESUME


def test_past_the_hourly_cap_a_cleared_freeze_is_capped_and_then_left_to_a_person() -> None:
    capped = replace(FROZEN_TRANSIENT, recent=3)

    assert decide(replace(FROZEN_TRANSIENT, recent=2), POLICY) is Step.REDUCE
    assert decide(capped, POLICY) is Step.CAPPED
    assert decide(replace(capped, gave_up=True, recent=0), POLICY) is Step.NOTHING


def test_a_cap_of_zero_never_recovers() -> None:
    policy = replace(POLICY, max_per_hour=0)

    assert decide(FROZEN_TRANSIENT, policy) is Step.CAPPED


def test_cleared_since_keeps_the_first_clear_look_and_a_break_starts_again() -> None:
    first = cleared_since(None, True, T0)
    later = cleared_since(first, True, T0 + 5 * S)
    broken = cleared_since(later, False, T0 + 6 * S)

    assert (first, later, broken) == (T0, T0, None)
    assert cleared_since(broken, True, T0 + 7 * S) == T0 + 7 * S


def test_a_negative_policy_is_refused() -> None:
    with pytest.raises(ValueError, match="no negative value"):
        RecoveryPolicy(clear_ns=-1, warmup_ns=0, max_per_hour=1)
