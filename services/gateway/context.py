"""The gateway's live parts, built once in the lifespan and handed to every route."""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Annotated, cast

from fastapi import Depends
from redis.asyncio import Redis
from starlette.requests import HTTPConnection

from libs.common.accounts import PerAccount
from libs.common.bus import Bus
from libs.common.domain.errors import UnknownAccount
from libs.common.domain.ids import AccountId
from libs.common.messages import Envelope
from libs.common.metrics import EngineMetrics
from libs.common.risk_view import RiskReader
from libs.common.stores import OrderStore, PositionStore, RiskStateStore
from libs.common.stores.marks import MarkStore
from services.gateway.errors import Invalid
from services.gateway.settings import GatewaySettings
from services.gateway.stream import StreamHub
from services.gateway.waiters import Waiters

STATE_KEY = "gateway"
"""Where the Gateway lives in `ServiceRuntime.state`."""


@dataclass
class Gateway:
    """What the routes need: stores, the bus, the waiters and the WebSocket hub."""

    settings: GatewaySettings
    redis: Redis
    bus: Bus[Envelope]
    metrics: EngineMetrics
    books: PerAccount[Book]
    """Each account's orders, positions and risk view (`MMX_ACCOUNTS`)."""
    risk: RiskStateStore
    marks: MarkStore
    waiters: Waiters
    hub: StreamHub
    clock_ns: Callable[[], int] = field(default=time.time_ns)

    def book(self, account: AccountId) -> Book:
        """`account`'s stores; 422 for an account that is not configured."""
        try:
            return self.books[account]
        except UnknownAccount as error:
            raise Invalid(str(error)) from None


@dataclass(frozen=True, slots=True)
class Book:
    """One account's stores, as the gateway reads and writes them."""

    orders: OrderStore
    positions: tuple[PositionStore, ...]
    """The account's positions at each venue of `MMX_VENUES`, in that order."""
    snapshots: RiskReader
    """The risk view (limits, exposure, marks, P&L today) as the risk service reads it."""
    risk: RiskStateStore
    """The account's own trading state (`Gateway.risk` is the desk's)."""


async def _gateway(connection: HTTPConnection) -> Gateway:
    # async on purpose: FastAPI runs a plain `def` dependency in a worker thread, a thread
    # hop per request for a dictionary lookup.
    return cast(Gateway, connection.app.state.runtime.state[STATE_KEY])


GatewayDep = Annotated[Gateway, Depends(_gateway)]
