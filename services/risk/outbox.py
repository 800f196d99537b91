"""What a batch of the risk service publishes, sent once the batch's state is written."""

from __future__ import annotations

from dataclasses import dataclass, field

from libs.common import topology
from libs.common.bus import Bus
from libs.common.domain.ids import AccountId
from libs.common.messages import Envelope


@dataclass
class Outbox:
    """What a batch publishes, per account's stream, in order; sent once the batch's state is
    written."""

    approved: dict[AccountId, list[Envelope]] = field(default_factory=dict)
    events: dict[AccountId, list[Envelope]] = field(default_factory=dict)

    def approve(self, account: AccountId, envelope: Envelope) -> None:
        """Send `envelope` on `account`'s `orders.approved`."""
        self.approved.setdefault(account, []).append(envelope)

    def announce(self, account: AccountId, envelope: Envelope) -> None:
        """Send `envelope` on `account`'s `orders.events`."""
        self.events.setdefault(account, []).append(envelope)

    async def send(self, bus: Bus[Envelope]) -> None:
        for account, approved in self.approved.items():
            await bus.publish_many(topology.ORDERS_APPROVED.of(account), approved)
        for account, events in self.events.items():
            await bus.publish_many(topology.ORDERS_EVENTS.of(account), events)
