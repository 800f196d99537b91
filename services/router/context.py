"""What every router component shares, built once per process by `app.py`."""

from __future__ import annotations

import time
from collections.abc import Sequence
from dataclasses import dataclass

from redis.asyncio import Redis

from libs.common import topology
from libs.common.accounts import scoped_name
from libs.common.bus import Bus
from libs.common.domain.ids import DEFAULT_ACCOUNT, AccountId, CorrelationId
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
    """One account's lane of the router: its venue gate (its own credentials), its stores."""

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

    @property
    def instance(self) -> str:
        return self.settings.instance

    @property
    def lane(self) -> str:
        """This instance's lane of the account in shared keys (circuit, flat confirmations):
        the instance for `default` (as before accounts), `{instance}/{account}` otherwise."""
        return scoped_name(self.settings.instance, self.account, "/")

    def scoped(self, name: str) -> str:
        """`name` (a lease, a key) for this account (`libs.common.accounts.scoped_name`)."""
        return scoped_name(name, self.account)

    async def publish(self, events: Sequence[Outgoing]) -> None:
        """Publish order events on the account's `orders.events`, in order, in one pipeline."""
        if events:
            await self.bus.publish_many(
                topology.ORDERS_EVENTS.of(self.account),
                [Envelope.wrap(message, correlation) for message, correlation in events],
            )


def now_ns() -> int:
    return time.time_ns()
