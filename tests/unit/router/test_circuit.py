"""The venue circuit breaker as a pure state machine on a driven clock."""

from __future__ import annotations

import pytest

from libs.common.metrics import CircuitState
from services.router.circuit import CircuitBreaker
from services.router.venue_health import failure_of, ret_code_label

CLOSED, OPEN, HALF_OPEN = CircuitState.CLOSED, CircuitState.OPEN, CircuitState.HALF_OPEN


class Clock:
    def __init__(self) -> None:
        self.now = 100.0

    def __call__(self) -> float:
        return self.now


@pytest.fixture
def clock() -> Clock:
    return Clock()


@pytest.fixture
def breaker(clock: Clock) -> CircuitBreaker:
    return CircuitBreaker(3, 10.0, clock=clock)


def test_closed_breaker_opens_on_the_threshold_th_consecutive_failure(
    breaker: CircuitBreaker,
) -> None:
    assert breaker.record_failure("a") is None
    assert breaker.record_failure("b") is None
    change = breaker.record_failure("c")

    assert change is not None and (change.previous, change.state) == (CLOSED, OPEN)
    assert change.failures == 3 and change.reason == "c"
    assert breaker.allow() == (False, None)


def test_a_success_ends_the_failure_streak(breaker: CircuitBreaker) -> None:
    breaker.record_failure("a")
    breaker.record_failure("b")
    assert breaker.record_success() is None
    breaker.record_failure("c")
    breaker.record_failure("d")

    assert breaker.state is CLOSED and breaker.failures == 2


def test_a_ban_opens_the_breaker_at_once(breaker: CircuitBreaker) -> None:
    change = breaker.record_failure("HTTP 403", fatal=True)

    assert change is not None and change.state is OPEN and change.failures == 1


def test_open_breaker_goes_half_open_after_the_cooldown_and_admits_one_probe(
    breaker: CircuitBreaker, clock: Clock
) -> None:
    breaker.record_failure("x", fatal=True)
    clock.now += 9.9
    assert breaker.allow() == (False, None)

    clock.now += 0.1
    allowed, change = breaker.allow()

    assert allowed and change is not None and (change.previous, change.state) == (OPEN, HALF_OPEN)
    assert breaker.allow() == (False, None)  # one probe at a time


def test_probe_answered_closes_the_breaker(breaker: CircuitBreaker, clock: Clock) -> None:
    breaker.record_failure("x", fatal=True)
    clock.now += 10
    breaker.allow()

    change = breaker.record_success()

    assert change is not None and (change.previous, change.state) == (HALF_OPEN, CLOSED)
    assert breaker.allow() == (True, None) and breaker.failures == 0


def test_probe_failed_opens_the_breaker_for_a_new_cooldown(
    breaker: CircuitBreaker, clock: Clock
) -> None:
    breaker.record_failure("x", fatal=True)
    clock.now += 10
    breaker.allow()

    change = breaker.record_failure("still down")

    assert change is not None and (change.previous, change.state) == (HALF_OPEN, OPEN)
    clock.now += 9
    assert breaker.allow() == (False, None)
    clock.now += 1
    assert breaker.allow()[0]


def test_unanswered_probe_is_replaced_after_a_cooldown(
    breaker: CircuitBreaker, clock: Clock
) -> None:
    breaker.record_failure("x", fatal=True)
    clock.now += 10
    assert breaker.allow()[0]

    clock.now += 10

    assert breaker.allow() == (True, None)


def test_failures_while_open_neither_change_nor_extend_it(
    breaker: CircuitBreaker, clock: Clock
) -> None:
    breaker.record_failure("x", fatal=True)
    clock.now += 5
    assert breaker.record_failure("y") is None
    clock.now += 5

    assert breaker.tick() is not None and breaker.state is HALF_OPEN


def test_breaker_refuses_a_useless_configuration() -> None:
    with pytest.raises(ValueError, match="threshold 0"):
        CircuitBreaker(0, 1.0)


@pytest.mark.parametrize(
    ("ret_code", "failure", "label"),
    [
        (0, None, "0"),
        (110007, None, "110007"),  # a business refusal is an answer
        (10006, None, "10006"),
        (-404, None, "http_404"),
        (-1, ("no answer (connection error or timeout)", False), "connection_error"),
        (-503, ("HTTP 503", False), "http_503"),
        (-429, ("HTTP 429", False), "http_429"),
        (10016, ("retCode 10016 (server busy)", False), "10016"),
        (-403, ("HTTP 403: the IP is banned", True), "http_403"),
    ],
)
def test_venue_exchange_counts_as_a_failure_only_when_the_venue_did_not_answer(
    ret_code: int, failure: tuple[str, bool] | None, label: str
) -> None:
    assert failure_of(ret_code) == failure
    assert ret_code_label(ret_code) == label
