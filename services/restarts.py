"""When `mmx up` restarts a child that died, and when it gives up and stops the stack.

A child that exits while the stack runs is started again after a back-off: 0.5 s after its
first crash, doubling with each further crash within the window, at most `max_delay_s`
(10 s). The `max_crashes`-th crash within `window_s` (5 within 60 s) stops the whole stack: a
service that keeps dying needs a person, not a loop. With these defaults the waits are 0.5,
1, 2 and 4 s, and the 5th crash stops the stack before the 10 s cap is reached. A component
whose spec says it must not be restarted (`ProcessSpec.fatal`) stops the stack on its first
exit.
"""

from __future__ import annotations

import signal
from collections import deque
from dataclasses import dataclass, field


@dataclass(frozen=True)
class RestartPolicy:
    """Back-off and give-up thresholds of `mmx up`'s restarts."""

    first_delay_s: float = 0.5
    max_delay_s: float = 10.0
    max_crashes: int = 5
    window_s: float = 60.0


class GiveUp(Exception):
    """A child crashed too often: stop the stack."""


@dataclass
class CrashHistory:
    """The recent crashes of every child, by name."""

    policy: RestartPolicy = field(default_factory=RestartPolicy)
    _crashes: dict[str, deque[float]] = field(default_factory=dict)

    def crashed(self, name: str, now: float) -> float:
        """Record a crash of `name` at monotonic time `now`; the delay before restarting it.
        Raises GiveUp (saying so) at the `max_crashes`-th crash within the window."""
        recent = self._crashes.setdefault(name, deque())
        recent.append(now)
        while recent and recent[0] <= now - self.policy.window_s:
            recent.popleft()
        count = len(recent)
        if count >= self.policy.max_crashes:
            raise GiveUp(
                f"{name} died {count} times within {self.policy.window_s:.0f} s; "
                "not restarting it again"
            )
        delay: float = self.policy.first_delay_s * 2.0 ** (count - 1)
        return min(delay, self.policy.max_delay_s)

    def count(self, name: str) -> int:
        """Crashes of `name` still within the window (as of the last one)."""
        return len(self._crashes.get(name, ()))


def describe_exit(returncode: int) -> str:
    """`exited with code 3`, or `killed by SIGKILL` for a negative return code."""
    if returncode < 0:
        try:
            return f"killed by {signal.Signals(-returncode).name}"
        except ValueError:
            return f"killed by signal {-returncode}"
    return f"exited with code {returncode}"
