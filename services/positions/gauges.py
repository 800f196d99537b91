"""`position_qty` and `position_pnl` per symbol, set by every instance from Redis.

Positions are shared state: every instance reads them all each `refresh_interval_s` and
sets the same values, per account and symbol (dashboards take `max by (account, symbol)`,
and sum that over the accounts for the desk). P&L is realized + unrealized at
the latest mark - fees - funding (unrealized 0 while a symbol has no mark).
"""

from __future__ import annotations

from collections.abc import Mapping
from decimal import Decimal

from libs.common.accounts import PerAccount
from libs.common.domain.ids import VenueId
from libs.common.domain.positions import net_pnl
from libs.common.metrics import EngineMetrics
from libs.common.stores import PositionStore
from libs.common.stores.marks import MarkStore
from libs.common.stores.positions import read_all

_ZERO = Decimal(0)


class PositionGauges:
    def __init__(
        self,
        *,
        positions: PerAccount[Mapping[VenueId, PositionStore]],
        marks: MarkStore,
        metrics: EngineMetrics,
    ) -> None:
        self._positions = positions
        self._marks = marks
        self._metrics = metrics

    async def refresh(self) -> None:
        stores = (s for _, venues in self._positions.items() for s in venues.values())
        positions = await read_all(stores)
        marks = await self._marks.get_many({p.symbol for p in positions})
        for position in positions:
            mark = marks.get(position.symbol)
            pnl = net_pnl(position, None if mark is None else mark.mark)
            labels = {
                "account": position.account,
                "venue": position.venue,
                "symbol": position.symbol,
            }
            self._metrics.position_qty.labels(**labels).set(float(position.qty))
            self._metrics.position_pnl.labels(**labels).set(float(pnl))
