"""What a batch of the risk service publishes, sent once the batch's state is written."""

from __future__ import annotations

from dataclasses import dataclass, field

from libs.common import topology
from libs.common.bus import Bus
from libs.common.messages import Envelope


@dataclass
class Outbox:
    """What a batch publishes, per stream, in order; sent once the batch's state is written."""

    approved: list[Envelope] = field(default_factory=list)
    events: list[Envelope] = field(default_factory=list)

    async def send(self, bus: Bus[Envelope]) -> None:
        if self.approved:
            await bus.publish_many(topology.ORDERS_APPROVED, self.approved)
        if self.events:
            await bus.publish_many(topology.ORDERS_EVENTS, self.events)
