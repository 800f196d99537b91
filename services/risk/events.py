"""What risk does with `orders.events`: measure fills, and free the exposure of ended orders.

- OrderFilled: measured edge (see `services.risk.edge`); when the fill ended its order
  (the record is Filled), the order's reservation is released.
- OrderCanceled, OrderRejected, OrderDenied: the order ended; its reservation is released.

Every step is idempotent (`release` is, and a fill is measured once per execId), so a
redelivered batch changes nothing twice.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence

from libs.common import topology
from libs.common.batching import Clock, Incoming, Results, gather_limited
from libs.common.bus import Bus
from libs.common.domain.ids import ClientOrderId
from libs.common.domain.orders import is_terminal
from libs.common.messages import (
    Envelope,
    OrderCanceled,
    OrderDenied,
    OrderFilled,
    OrderRejected,
)
from libs.common.stores import OrderStore, RiskStateStore
from services.risk.edge import EdgeWatch

log = logging.getLogger(__name__)

ENDING_EVENTS = (OrderCanceled, OrderRejected, OrderDenied)


class OrderEventsHandler:
    """The `risk` group's handler of `orders.events` batches."""

    def __init__(
        self,
        *,
        orders: OrderStore,
        risk: RiskStateStore,
        edge: EdgeWatch,
        bus: Bus[Envelope],
        clock: Clock,
    ) -> None:
        self._orders = orders
        self._risk = risk
        self._edge = edge
        self._bus = bus
        self._clock = clock

    async def __call__(self, batch: Sequence[Incoming]) -> Results:
        now_ns = self._clock()
        results: list[BaseException | None] = [None] * len(batch)
        fills = [
            (n, i.envelope, i.message)
            for n, i in enumerate(batch)
            if isinstance(i.message, OrderFilled)
        ]
        ended: set[ClientOrderId] = {
            i.message.client_order_id for i in batch if isinstance(i.message, ENDING_EVENTS)
        }
        ended |= await self._filled_orders([fill for _, _, fill in fills])
        measured, errors = await self._edge.on_fills([(e, f) for _, e, f in fills], now_ns)
        for (index, _, _), error in zip(fills, errors, strict=True):
            results[index] = error
        if measured:
            await self._bus.publish_many(topology.ORDERS_EVENTS, measured)
        await gather_limited(self._risk.release(cid) for cid in sorted(ended))
        return results

    async def _filled_orders(self, fills: Sequence[OrderFilled]) -> set[ClientOrderId]:
        """The orders of `fills` whose record has ended (the fill completed them)."""
        cids = sorted({f.client_order_id for f in fills if f.client_order_id is not None})
        records = await self._orders.get_many(cids)
        return {r.client_order_id for r in records if r is not None and is_terminal(r.status)}
