"""What every router component shares, built once per process by `app.py`."""

from __future__ import annotations

import time
from collections.abc import Sequence
from dataclasses import dataclass

from redis.asyncio import Redis

from libs.common import topology
from libs.common.accounts import scoped_name, venue_scoped
from libs.common.bus import Bus
from libs.common.domain.ids import (
    DEFAULT_ACCOUNT,
    DEFAULT_VENUE,
    AccountId,
    CorrelationId,
    VenueId,
)
from libs.common.domain.orders import Order
from libs.common.messages import Envelope, Message
from libs.common.metrics import EngineMetrics
from libs.common.stores import IdempotencyStore, LeaseStore, OrderStore, RiskStateStore
from libs.common.stores.exposure import ExposureLedger
from services.router.gate import VenueGate
from services.router.settings import RouterSettings

Outgoing = tuple[Message, CorrelationId | None]
"""An event to publish on `orders.events`, with the correlation id of its cause if known."""


@dataclass(frozen=True, slots=True)
class RouterContext:
    """One lane of the router, an account at a venue: its venue gate (the account's
    credentials at that venue), its stores (the account's: records of every venue)."""

    settings: RouterSettings
    redis: Redis
    bus: Bus[Envelope]
    metrics: EngineMetrics
    gate: VenueGate
    orders: OrderStore
    risk: RiskStateStore
    idempotency: IdempotencyStore
    leases: LeaseStore
    ledger: ExposureLedger
    account_risk: RiskStateStore
    """The account's own trading state (`risk` is the desk's)."""
    account: AccountId = DEFAULT_ACCOUNT
    venue: VenueId = DEFAULT_VENUE

    @property
    def instance(self) -> str:
        return self.settings.instance

    @property
    def lane(self) -> str:
        """This instance's lane in shared keys (circuit, flat confirmations): the instance
        for `default` at `bybit` (as before accounts and venues), `{instance}/{account}`
        for another account, `@{venue}` appended for another venue."""
        return venue_scoped(scoped_name(self.settings.instance, self.account, "/"), self.venue, "@")

    def scoped(self, name: str) -> str:
        """`name` (a lease, a key) for this account at this venue (`scoped_name`, then
        `venue_scoped`)."""
        return venue_scoped(scoped_name(name, self.account), self.venue)

    def mine(self, order: Order) -> bool:
        """True if `order` is at this lane's venue (the account's records hold every venue's)."""
        return order.venue == self.venue

    async def publish(self, events: Sequence[Outgoing]) -> None:
        """Publish order events on the account's `orders.events`, in order, in one pipeline."""
        if events:
            await self.bus.publish_many(
                topology.ORDERS_EVENTS.of(self.account),
                [Envelope.wrap(message, correlation) for message, correlation in events],
            )


def now_ns() -> int:
    return time.time_ns()
