"""The venue circuit breaker: a pure state machine on an injected clock.

    CLOSED ──N consecutive failures, or a ban──▶ OPEN ──cooldown──▶ HALF_OPEN
      ▲                                            ▲                    │
      └────────────── a success ◀──────────────────┼──── one probe ─────┤
                                                   └──── a failure ◀────┘

Closed lets every call through and counts consecutive failures. Open refuses new orders
until the cooldown is over; then half-open lets exactly one probe through (another only if
that one has not been answered within the cooldown). The first answer decides: a success
closes, a failure opens again for a new cooldown. Every change is returned to the caller,
which publishes it (metrics, Redis) and freezes trading when the circuit opens.

`close` ends an open or half-open circuit at once, without waiting for the cooldown: the
caller's own probe answered (after an operator resumed trading, `VenueHealth` asks the venue
once and closes on an answer, so that an unfreeze does not leave orders refused for the rest
of the cooldown while trading shows ACTIVE).
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass

from libs.common.metrics import CircuitState


@dataclass(frozen=True, slots=True)
class CircuitChange:
    """The breaker moved from `previous` to `state`; `failures` is the streak that did it."""

    previous: CircuitState
    state: CircuitState
    failures: int
    reason: str


class CircuitBreaker:
    """Counts consecutive venue failures and decides whether new orders may be sent."""

    def __init__(
        self,
        failure_threshold: int,
        cooldown_s: float,
        *,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        if failure_threshold < 1 or not cooldown_s > 0:
            raise ValueError(
                f"circuit breaker threshold {failure_threshold} / cooldown {cooldown_s} s is "
                "invalid: expected a threshold >= 1 and a positive cooldown"
            )
        self.failure_threshold = failure_threshold
        self.cooldown_s = cooldown_s
        self.failures = 0
        """The current streak of consecutive failures."""
        self.last_failure = ""
        self._clock = clock
        self._state = CircuitState.CLOSED
        self._opened_at = 0.0
        self._probe_at: float | None = None

    @property
    def state(self) -> CircuitState:
        return self._state

    def tick(self) -> CircuitChange | None:
        """Move OPEN to HALF_OPEN once the cooldown is over; the change, if any."""
        if self._state is CircuitState.OPEN and self._clock() >= self._opened_at + self.cooldown_s:
            self._probe_at = None
            return self._move(CircuitState.HALF_OPEN, "cooldown over: one probe allowed")
        return None

    def allow(self) -> tuple[bool, CircuitChange | None]:
        """May a new order be sent now? Half-open admits one probe at a time."""
        change = self.tick()
        if self._state is CircuitState.CLOSED:
            return True, change
        if self._state is CircuitState.OPEN:
            return False, change
        now = self._clock()
        if self._probe_at is not None and now < self._probe_at + self.cooldown_s:
            return False, change
        self._probe_at = now
        return True, change

    def record_success(self) -> CircuitChange | None:
        """The venue answered. Closes a half-open circuit; ends a closed one's streak."""
        self.failures = 0
        if self._state is CircuitState.HALF_OPEN:
            return self._move(CircuitState.CLOSED, "the probe was answered")
        return None

    def close(self, reason: str) -> CircuitChange | None:
        """A probe of the caller's own was answered: close now, whatever the cooldown left
        (None when already closed). The failure streak ends."""
        self.failures = 0
        if self._state is CircuitState.CLOSED:
            return None
        self._probe_at = None
        return self._move(CircuitState.CLOSED, reason)

    def record_failure(self, reason: str, *, fatal: bool = False) -> CircuitChange | None:
        """The venue failed (`fatal`: banned us). Opens at the threshold, or at once when
        fatal or half-open; an open circuit stays open (its cooldown is not extended)."""
        self.failures += 1
        self.last_failure = reason
        if self._state is CircuitState.OPEN:
            return None
        if (
            fatal
            or self._state is CircuitState.HALF_OPEN
            or (self.failures >= self.failure_threshold)
        ):
            self._opened_at = self._clock()
            self._probe_at = None
            return self._move(CircuitState.OPEN, reason)
        return None

    def _move(self, state: CircuitState, reason: str) -> CircuitChange:
        change = CircuitChange(self._state, state, self.failures, reason)
        self._state = state
        return change
