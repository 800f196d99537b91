"""Load shedding: a bound on the orders this gateway instance is working on at once.

A place or amend is admitted only while the orders in flight, its own included, stay within
`max_inflight_orders` (a batch counts each of its orders). Otherwise it is refused at once,
before anything is written or published, with `429 Too Many Requests`, a `Retry-After` and
the usual error body: the client can retry the same request (same clientOrderIds) safely.
The gate never waits: a queue in front of an overloaded gateway only makes every answer late.

Cancels and cancel-all are never shed: they reduce risk, and a market maker that cannot pull
its quotes while the gateway is busy is the worst case. They go through the Redis pool like
everything else, so under overload they wait there (up to `redis_pool_timeout_s`) instead.

    with gate.admit(len(orders), ShedRoute.PLACE_BATCH):   # raises Overloaded when full
        await placing.place(...)                             # the slots are freed on exit

Each refused request is counted once, whatever its number of orders, per route
(`ShedRoute`, the label vocabulary from `libs.common.metrics`): in `Admission.shed` and in
`gateway_requests_shed_total{route}` of this instance (alert GatewayShedding).
"""

from __future__ import annotations

import logging
from collections import Counter
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Annotated, Any, cast

from fastapi import Depends, FastAPI, Request
from fastapi.responses import JSONResponse
from starlette.requests import HTTPConnection

from libs.common.metrics import EngineMetrics
from libs.common.metrics import ShedRoute as ShedRoute  # the routes' import of the vocabulary
from services.gateway.errors import ApiError, ErrorBody, error_body

log = logging.getLogger(__name__)

STATE_KEY = "admission"
"""Where the gateway's `Admission` lives in `ServiceRuntime.state`."""


class Overloaded(ApiError):
    """429: the gateway has `limit` orders in flight already; retry after `retry_after_s`."""

    status = 429

    def __init__(self, message: str, *, retry_after_s: int, details: list[Any]) -> None:
        super().__init__(message, details=details)
        self.retry_after_s = retry_after_s


class Admission:
    """A non-blocking counter of the orders in flight, and of the requests it refused (also
    counted in `metrics.gateway_requests_shed`).

    Used from one event loop: `admit` checks and takes its slots in one synchronous step, so
    no two requests can both take the last slots.
    """

    def __init__(
        self,
        limit: int,
        retry_after_s: int,
        *,
        metrics: EngineMetrics,
        max_backlog: int = 0,
    ) -> None:
        if limit < 1:
            raise ValueError(f"admission limit {limit} is not positive: expected at least 1")
        if retry_after_s < 1:
            raise ValueError(f"Retry-After {retry_after_s} s: expected at least 1 s")
        self.limit = limit
        self.retry_after_s = retry_after_s
        self.max_backlog = max_backlog
        """Above this many entries waiting for risk or the router, refuse (0: never)."""
        self.backlog = 0
        """Entries waiting for risk or the router, as `BacklogWatch` last read them."""
        self._inflight = 0
        self._shed_total = metrics.gateway_requests_shed
        self.shed: Counter[ShedRoute] = Counter()
        """Requests refused, per route (each request once, whatever its number of orders)."""

    @property
    def inflight(self) -> int:
        """Orders admitted and not finished yet."""
        return self._inflight

    @contextmanager
    def admit(self, orders: int, route: ShedRoute) -> Iterator[None]:
        """Hold `orders` slots for the `with` block, or raise `Overloaded` at once if they do
        not all fit (nothing is taken then: a batch is admitted whole or not at all)."""
        if orders < 1:
            raise ValueError(f"admit({orders}): expected at least one order")
        if self.max_backlog and self.backlog > self.max_backlog:
            self.shed[route] += 1
            self._shed_total.labels(route=route.value).inc()
            raise self._backlogged(orders)
        if self._inflight + orders > self.limit:
            self.shed[route] += 1
            self._shed_total.labels(route=route.value).inc()
            raise self._refusal(orders, route)
        self._inflight += orders
        try:
            yield
        finally:
            self._inflight -= orders

    def _backlogged(self, orders: int) -> Overloaded:
        return Overloaded(
            f"the engine is behind: {self.backlog} orders wait for risk or the router (limit "
            f"{self.max_backlog}): nothing was written or sent; retry after "
            f"{self.retry_after_s} s (the same clientOrderId never places twice)",
            retry_after_s=self.retry_after_s,
            details=[
                {
                    "reason": "max_engine_backlog",
                    "backlog": self.backlog,
                    "limit": self.max_backlog,
                    "orders": orders,
                    "retryAfterS": self.retry_after_s,
                }
            ],
        )

    def _refusal(self, orders: int, route: ShedRoute) -> Overloaded:
        # debug, not warning: under overload a line per refusal would add to the load
        log.debug(
            "shed %s of %d order(s): %d of %d in flight", route, orders, self._inflight, self.limit
        )
        return Overloaded(
            f"the gateway is at its limit of {self.limit} orders in flight ({self._inflight} "
            f"now, this request has {orders}): nothing was written or sent; retry after "
            f"{self.retry_after_s} s (the same clientOrderId never places twice)",
            retry_after_s=self.retry_after_s,
            details=[
                {
                    "reason": "max_inflight_orders",
                    "inflight": self._inflight,
                    "limit": self.limit,
                    "orders": orders,
                    "retryAfterS": self.retry_after_s,
                }
            ],
        )


async def _admission(connection: HTTPConnection) -> Admission:  # async: no worker thread
    return cast(Admission, connection.app.state.runtime.state[STATE_KEY])


AdmissionDep = Annotated[Admission, Depends(_admission)]
"""The gateway's `Admission`, for a route parameter."""

RESPONSES: dict[int | str, dict[str, Any]] = {
    429: {
        "description": (
            "Too many orders in flight: nothing was written or sent. Retry after `Retry-After` "
            "seconds; the same clientOrderId never places twice"
        ),
        "model": ErrorBody,
        "headers": {
            "Retry-After": {
                "description": "Seconds to wait before retrying (at least 1)",
                "schema": {"type": "integer", "minimum": 1},
            }
        },
    }
}
"""OpenAPI `responses` of a route the gate guards."""


def install(app: FastAPI) -> None:
    """Answer `Overloaded` as a 429 error body with its `Retry-After` header."""

    @app.exception_handler(Overloaded)
    async def on_overloaded(request: Request, exc: Overloaded) -> JSONResponse:
        return JSONResponse(
            error_body(exc.message, exc.details),
            status_code=exc.status,
            headers={"Retry-After": str(exc.retry_after_s)},
        )
