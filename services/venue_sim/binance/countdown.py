"""`POST /fapi/v1/countdownCancelAll`: a dead-man's switch per account and symbol.

Each call sets the symbol's deadline to now + `countdownTime` ms (0 switches it off);
when a deadline passes without being renewed, every open order of that symbol of that
account is cancelled (checked every `CHECK_INTERVAL_S`).
"""

from __future__ import annotations

CHECK_INTERVAL_S = 0.01


class Countdowns:
    """Deadlines by (uid, symbol)."""

    def __init__(self) -> None:
        self._deadlines: dict[tuple[str, str], int] = {}

    def set(self, uid: str, symbol: str, countdown_ms: int, now: int) -> None:
        """Arm (or with 0 disarm) the switch of the account's symbol."""
        if countdown_ms:
            self._deadlines[(uid, symbol)] = now + countdown_ms
        else:
            self._deadlines.pop((uid, symbol), None)

    def due(self, now: int) -> list[tuple[str, str]]:
        """Disarm and return the (uid, symbol) switches whose deadline has passed."""
        if not self._deadlines:
            return []
        fired = [key for key, deadline in self._deadlines.items() if deadline <= now]
        for key in fired:
            del self._deadlines[key]
        return fired

    def clear(self) -> None:
        """Disarm everything (a reset)."""
        self._deadlines.clear()
