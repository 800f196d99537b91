"""After an unfreeze: `CircuitBreaker.close` on a fresh probe's answer, and the freeze
watcher telling a resume of trading apart from news already seen (`is_resume`)."""

from __future__ import annotations

from libs.common.domain.risk_checks import TradingState
from libs.common.metrics import CircuitState
from services.router.circuit import CircuitBreaker
from services.router.freeze_watch import News, is_resume, newer

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


def told(states: list[tuple[TradingState, News]]) -> list[News]:
    """The resumes `FreezeWatcher._follow` tells of, for a sequence of trading states: news
    not newer than the last acted on is skipped (`newer`), the rest is judged by `is_resume`."""
    seen: News | None = None
    resumes: list[News] = []
    for state, news in states:
        if not newer(news, seen):
            continue
        if is_resume(state, news, seen):
            resumes.append(news)
        seen = news
    return resumes


def test_a_resume_under_newer_news_is_told_once() -> None:
    states = [
        (ACTIVE, ("g", 4)),  # the state at start: no resume
        (ACTIVE, ("g", 4)),  # the same news again (a read after the broadcast)
        (FROZEN, ("g", 5)),
        (ACTIVE, ("g", 6)),
        (ACTIVE, ("g", 6)),
        (FROZEN, ("g", 5)),  # stale
    ]

    assert told(states) == [("g", 6)]


def test_a_freeze_and_unfreeze_both_missed_still_count_as_a_resume() -> None:
    states = [
        (ACTIVE, ("g", 4)),
        (ACTIVE, ("g", 6)),  # epochs 5 (freeze) and 6 (unfreeze) read at once
        (ACTIVE, ("h", 1)),  # another generation: Redis lost its data
    ]

    assert told(states) == [("g", 6), ("h", 1)]
