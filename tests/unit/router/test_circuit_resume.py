"""After an unfreeze: `CircuitBreaker.close` on a fresh probe's answer, and `ResumeWatch`
telling a resume of trading apart from news already seen."""

from __future__ import annotations

import pytest

from libs.common.domain.risk_checks import TradingState
from libs.common.metrics import CircuitState
from services.router.circuit import CircuitBreaker
from services.router.resume_watch import News, ResumeWatch

ACTIVE, FROZEN = TradingState.ACTIVE, TradingState.FROZEN


class Clock:
    now = 100.0

    def __call__(self) -> float:
        return self.now


def test_close_ends_an_open_circuit_before_its_cooldown() -> None:
    breaker = CircuitBreaker(1, 30.0, clock=Clock())
    breaker.record_failure("HTTP 503")

    change = breaker.close("a fresh probe answered")

    assert change is not None
    assert (change.previous, change.state) == (CircuitState.OPEN, CircuitState.CLOSED)
    assert (breaker.state, breaker.failures) == (CircuitState.CLOSED, 0)
    assert breaker.allow() == (True, None)


def test_close_of_a_closed_circuit_changes_nothing() -> None:
    breaker = CircuitBreaker(3, 30.0, clock=Clock())
    breaker.record_failure("HTTP 503")

    assert breaker.close("probe") is None
    assert (breaker.state, breaker.failures) == (CircuitState.CLOSED, 0)


class Bus:
    """Only what ResumeWatch's constructor asks of a bus: a reader it never starts here."""

    def broadcast_reader(self, stream: object, handler: object) -> object:
        return object()


@pytest.fixture
def resumes() -> tuple[ResumeWatch, list[News]]:
    told: list[News] = []
    return ResumeWatch(Bus(), None, told.append), told  # type: ignore[arg-type]


def test_a_resume_under_newer_news_is_told_once(resumes: tuple[ResumeWatch, list[News]]) -> None:
    watch, told = resumes

    watch.follow(ACTIVE, ("g", 4))  # the state at start: no resume
    watch.follow(ACTIVE, ("g", 4))  # the same news again (a read after the broadcast)
    watch.follow(FROZEN, ("g", 5))
    watch.follow(ACTIVE, ("g", 6))
    watch.follow(ACTIVE, ("g", 6))
    watch.follow(FROZEN, ("g", 5))  # stale

    assert told == [("g", 6)]


def test_a_freeze_and_unfreeze_both_missed_still_count_as_a_resume(
    resumes: tuple[ResumeWatch, list[News]],
) -> None:
    watch, told = resumes

    watch.follow(ACTIVE, ("g", 4))
    watch.follow(ACTIVE, ("g", 6))  # epochs 5 (freeze) and 6 (unfreeze) read at once
    watch.follow(ACTIVE, ("h", 1))  # another generation: Redis lost its data

    assert told == [("g", 6), ("h", 1)]
