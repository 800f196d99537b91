"""Injected faults: latency, 5xx, rate limits, IP bans, dropped responses and pushes.

Counters ("the next N requests") count down on every REST call they apply to: the private
(signed) paths by default, or exactly the `paths` given. `http5xx_next` answers 5xx before
the request is handled (it failed); `http5xx_after_next` and `drop_response_next` handle it
first and then answer 503 or nothing (its outcome is unknown to the client).
`drop_private_next` counts private stream pushes instead: the next N are not sent.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Literal

DropMode = Literal["close", "hang"]


@dataclass(slots=True)
class Faults:
    """The faults in force; /sim/faults changes them."""

    latency_ms: int = 0
    http5xx_next: int = 0
    http5xx_after_next: int = 0
    rate_limit_next: int = 0
    ip_ban_next: int = 0
    drop_response_next: int = 0
    drop_mode: DropMode = "close"
    hang_ms: int = 30_000
    drop_private_next: int = 0
    paths: frozenset[str] | None = None
    clock_offset_ms: int = 0
    """Added to the simulator's clock (server time, signature checks, timestamps)."""
    fired: dict[str, int] = field(default_factory=dict)

    @property
    def armed(self) -> bool:
        """Whether any per-request fault is set (a cheap check for the hot path)."""
        return bool(
            self.latency_ms
            or self.http5xx_next
            or self.http5xx_after_next
            or self.rate_limit_next
            or self.ip_ban_next
            or self.drop_response_next
        )

    def applies(self, path: str, *, private: bool) -> bool:
        if self.paths is None:
            return private
        return path in self.paths

    def take(self, name: str) -> bool:
        """Use up one count of the counter `name` if it is set."""
        left: int = getattr(self, name)
        if left <= 0:
            return False
        setattr(self, name, left - 1)
        self.fired[name] = self.fired.get(name, 0) + 1
        return True
