"""What risk does with `orders.events`: measure each fill's edge (`services.risk.edge`).

Exposure needs nothing from here: the ledger changes in the same step as each order record,
fill and fold. A fill is measured once per execId, so a redelivered batch changes nothing.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence

from libs.common import topology
from libs.common.batching import Clock, Incoming, Results
from libs.common.bus import Bus
from libs.common.domain.ids import AccountId
from libs.common.messages import (
    Envelope,
    OrderFilled,
)
from services.risk.edge import EdgeWatch

log = logging.getLogger(__name__)


class OrderEventsHandler:
    """The `risk` group's handler of `orders.events` batches."""

    def __init__(
        self,
        *,
        edge: EdgeWatch,
        bus: Bus[Envelope],
        clock: Clock,
    ) -> None:
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
        measured, errors = await self._edge.on_fills([(e, f) for _, e, f in fills], now_ns)
        for (index, _, _), error in zip(fills, errors, strict=True):
            results[index] = error
        by_account: dict[AccountId, list[Envelope]] = {}
        for account, event in measured:
            by_account.setdefault(account, []).append(event)
        for account, events in by_account.items():
            await self._bus.publish_many(topology.ORDERS_EVENTS.of(account), events)
        return results
