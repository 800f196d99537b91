"""The pure rules of the risk service, around the domain checks: no I/O here.

Measured edge. Each fill is measured against the mid at its execution time:

    edge_i = side.sign * (mid_i - price_i) / mid_i * 10_000          (bps, > 0 = earned)

and a symbol's measured edge is the size-weighted mean over its last N measured fills:

    measured = sum(w_i * edge_i) / sum(w_i),   w_i = qty_i * price_i (USD notional)

Trading freezes (EDGE_COLLAPSE) when at least M fills are in the window and measured <
edge_freeze_threshold_bps (strictly, as `edge_breach`).

Exposure (inventory, total notional and the rest) is `libs.common.domain.exposure`.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from decimal import Decimal
from types import MappingProxyType

from libs.common.domain.risk_checks import Check
from libs.common.metrics import DenyReason

_ZERO = Decimal(0)

DENY_REASONS: Mapping[Check, DenyReason] = MappingProxyType(
    {check: DenyReason(check.value) for check in Check}
)
"""The `orders_denied_total{reason}` label of each check."""


@dataclass(frozen=True, slots=True)
class EdgeSample:
    """One measured fill: its weight (USD notional) and its edge in bps."""

    weight: Decimal
    edge_bps: Decimal

    def encode(self) -> str:
        return f"{self.weight}|{self.edge_bps}"

    @classmethod
    def decode(cls, raw: str) -> EdgeSample:
        weight, edge = raw.split("|")
        return cls(Decimal(weight), Decimal(edge))


def rolling_edge(samples: Iterable[EdgeSample]) -> Decimal | None:
    """Size-weighted mean edge of `samples`; None when they weigh nothing."""
    listed = list(samples)
    total = sum((s.weight for s in listed), _ZERO)
    if total == 0:
        return None
    return sum((s.weight * s.edge_bps for s in listed), _ZERO) / total
