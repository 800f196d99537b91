"""`position_qty` and `position_pnl` per symbol, set by every instance from Redis.

Positions are shared state: every instance reads them all each `refresh_interval_s` and
sets the same values (dashboards take `max by (symbol)`). The gauges have no account label
yet: each is the sum over the desk's accounts. P&L is realized + unrealized at
the latest mark - fees - funding (unrealized 0 while a symbol has no mark).
"""

from __future__ import annotations

from decimal import Decimal

from libs.common.accounts import PerAccount
from libs.common.domain.ids import Symbol
from libs.common.domain.positions import net_pnl
from libs.common.metrics import EngineMetrics
from libs.common.stores import PositionStore
from libs.common.stores.marks import MarkStore

_ZERO = Decimal(0)


class PositionGauges:
    def __init__(
        self, *, positions: PerAccount[PositionStore], marks: MarkStore, metrics: EngineMetrics
    ) -> None:
        self._positions = positions
        self._marks = marks
        self._metrics = metrics

    async def refresh(self) -> None:
        positions = [p for _, store in self._positions.items() for p in await store.all()]
        marks = await self._marks.get_many({p.symbol for p in positions})
        qty: dict[Symbol, Decimal] = {}
        pnl: dict[Symbol, Decimal] = {}
        for position in positions:
            symbol, mark = position.symbol, marks.get(position.symbol)
            qty[symbol] = qty.get(symbol, _ZERO) + position.qty
            pnl[symbol] = pnl.get(symbol, _ZERO) + net_pnl(
                position, None if mark is None else mark.mark
            )
        for symbol in qty:
            self._metrics.position_qty.labels(symbol=symbol).set(float(qty[symbol]))
            self._metrics.position_pnl.labels(symbol=symbol).set(float(pnl[symbol]))
