"""The batch adapter: messages opened once, poison isolated, results in order."""

from __future__ import annotations

from collections.abc import Sequence
from decimal import Decimal

from libs.common.batching import Incoming, Results, batched
from libs.common.bus import Delivery, PoisonMessage
from libs.common.domain.ids import Symbol
from libs.common.messages import Envelope, ReportEdge


def delivery(envelope: Envelope, attempt: int = 1) -> Delivery[Envelope]:
    return Delivery(envelope, "orders.requests", "1-0", attempt)


async def test_batched_hands_on_opened_messages_and_dead_letters_unopenable_ones() -> None:
    seen: list[Incoming] = []

    async def handle(batch: Sequence[Incoming]) -> Results:
        seen.extend(batch)
        return [None] * len(batch)

    good = Envelope.wrap(ReportEdge(symbol=Symbol("BTCUSDT"), edge_bps=Decimal(5), source="s"))
    unknown = good.model_copy(update={"type": "Teleport"})
    bad = good.model_copy(update={"payload": {"symbol": "BTCUSDT"}})

    results = await batched(handle)([delivery(unknown), delivery(good, 3), delivery(bad)])

    assert [type(r) for r in results] == [PoisonMessage, type(None), PoisonMessage]
    assert [(i.envelope, i.message, i.attempt) for i in seen] == [(good, good.open(), 3)]
