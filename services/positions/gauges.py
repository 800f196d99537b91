"""`position_qty` and `position_pnl` per symbol, set by every instance from Redis.

Positions are shared state: every instance reads them all each `refresh_interval_s` and
sets the same values (dashboards take `max by (symbol)`). P&L is realized + unrealized at
the latest mark - fees - funding (unrealized 0 while a symbol has no mark).
"""

from __future__ import annotations

from libs.common.domain.positions import net_pnl
from libs.common.metrics import EngineMetrics
from libs.common.stores import PositionStore
from libs.common.stores.marks import MarkStore


class PositionGauges:
    def __init__(
        self, *, positions: PositionStore, marks: MarkStore, metrics: EngineMetrics
    ) -> None:
        self._positions = positions
        self._marks = marks
        self._metrics = metrics

    async def refresh(self) -> None:
        positions = await self._positions.all()
        marks = await self._marks.get_many(p.symbol for p in positions)
        for position in positions:
            mark = marks.get(position.symbol)
            pnl = net_pnl(position, None if mark is None else mark.mark)
            self._metrics.position_qty.labels(symbol=position.symbol).set(float(position.qty))
            self._metrics.position_pnl.labels(symbol=position.symbol).set(float(pnl))
