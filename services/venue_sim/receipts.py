"""When orders reached the simulator and when their fills happened, in wall-clock nanoseconds.

For measuring an engine from outside: `time.time_ns()` on the same host as the engine, so a
gateway's accept time and the venue's receipt time compare directly. Kept per orderId (the
venue's id; an order without an orderLinkId has one too) and per execId, until `/sim/reset`.
`GET /sim/receipts` answers them (see `control.receipts`).
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field

from services.venue_sim.engine.model import Execution


@dataclass(slots=True)
class Receipts:
    """Receipt times of the orders the venue took, and times of the fills it made."""

    received_ns: dict[str, int] = field(default_factory=dict)
    """orderId -> time.time_ns() when the create request that made it was handled."""
    executed_ns: dict[str, int] = field(default_factory=dict)
    """execId -> time.time_ns() when the fill was made (just before it is pushed)."""

    def received(self, order_id: str, now_ns: int) -> None:
        """Record that the order `order_id` was created by a request handled at `now_ns`."""
        self.received_ns[order_id] = now_ns

    def executed(self, executions: Iterable[Execution], now_ns: int) -> None:
        """Record the fills of one operation, made at `now_ns`."""
        for execution in executions:
            self.executed_ns[execution.exec_id] = now_ns

    def clear(self) -> None:
        """Forget everything (a reset)."""
        self.received_ns.clear()
        self.executed_ns.clear()
