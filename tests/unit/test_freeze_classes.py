"""Every freeze reason has a class; only the causes that clear by themselves are transient."""

from __future__ import annotations

import pytest

from libs.common.domain.risk_checks import FreezeClass
from libs.common.metrics import FREEZE_CLASSES, FreezeReason, freeze_class


def test_every_freeze_reason_is_classified() -> None:
    assert set(FREEZE_CLASSES) == set(FreezeReason)


def test_only_causes_that_clear_by_themselves_are_transient() -> None:
    transient = {r for r, c in FREEZE_CLASSES.items() if c is FreezeClass.TRANSIENT}

    assert transient == {
        FreezeReason.VENUE_CIRCUIT,
        FreezeReason.POSITIONS_LAG,
        FreezeReason.STALE_MARKS,
        FreezeReason.REDIS_FAILOVER,
    }


@pytest.mark.parametrize(
    "reason",
    [
        FreezeReason.EDGE_COLLAPSE,
        FreezeReason.MARKOUT_EDGE,
        FreezeReason.DAILY_LOSS,
        FreezeReason.DAILY_LOSS_SOFT,
        FreezeReason.MANUAL,
        FreezeReason.AUTH,
    ],
)
def test_edge_loss_operator_and_credential_freezes_are_hard(reason: FreezeReason) -> None:
    assert freeze_class(reason.value) is FreezeClass.HARD


@pytest.mark.parametrize("code", ["", "edge collapsed", "some_future_reason", "VENUE_CIRCUIT"])
def test_an_unknown_or_legacy_code_is_hard(code: str) -> None:
    assert freeze_class(code) is FreezeClass.HARD


def test_a_known_transient_code_is_transient() -> None:
    assert freeze_class("venue_circuit") is FreezeClass.TRANSIENT
