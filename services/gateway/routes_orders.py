"""`/v1/orders`: place (one or a batch), amend, cancel, cancel-all, read."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Depends, Path, Query, Request, Response

from libs.common import topology
from libs.common.api_keys import OperatorAction
from libs.common.domain.enums import Category, check_managed
from libs.common.domain.ids import AUTO_VENUE, DEFAULT_ACCOUNT
from libs.common.messages import ClientOrderIdField, Envelope, SymbolField, VenueField
from services.gateway import admission, commands, placing
from services.gateway.admission import AdmissionDep, ShedRoute
from services.gateway.auth import AccountQuery, Principal, Role, authorize_account, require_role
from services.gateway.context import Gateway, GatewayDep
from services.gateway.errors import ErrorBody, Invalid, responses
from services.gateway.routed import place_routed
from services.gateway.routing import ExactJsonRoute
from services.gateway.schemas import (
    AmendBody,
    BatchBody,
    BatchResult,
    CommandAccepted,
    OrderBody,
    OrderList,
    OrderView,
    Outcome,
    PlaceResult,
)
from services.gateway.schemas_route import RoutedResult

router = APIRouter(prefix="/v1", tags=["orders"], route_class=ExactJsonRoute)

Operator = Annotated[Principal, Depends(require_role(Role.OPERATOR))]
TRADER = Depends(require_role(Role.TRADER))
VIEWER = Depends(require_role(Role.VIEWER))
ERRORS = responses(404, 409, 413, 422, 503)
AMEND_ERRORS = ERRORS | admission.RESPONSES
TERMS_TAKEN = {
    409: {
        "description": "A clientOrderId is taken by an order with other terms (`details` "
        "names each term that differs): nothing was placed for it",
        "model": ErrorBody,
    }
}
PLACE_ERRORS = responses(413, 422, 503) | TERMS_TAKEN | admission.RESPONSES
SETTLED = (
    "No order left pending: each has its first outcome (`?wait=true`) or existed already "
    "(its clientOrderId was sent before: nothing placed)"
)
PLACE_RESPONSES = PLACE_ERRORS | {
    200: {"model": PlaceResult | RoutedResult, "description": SETTLED}
}
BATCH_RESPONSES = PLACE_ERRORS | {200: {"model": BatchResult, "description": SETTLED}}

Wait = Annotated[bool, Query(description="answer with the first outcome (or 202 on timeout)")]
WaitMs = Annotated[
    int | None,
    Query(alias="waitMs", ge=1, le=60_000, description="how long to wait (default 2000 ms)"),
]
OrderId = Annotated[ClientOrderIdField, Path(alias="clientOrderId")]
SymbolQuery = Annotated[SymbolField, Query(description="e.g. BTCUSDT")]
VenueQuery = Annotated[
    VenueField | None,
    Query(description="one venue of MMX_VENUES (bybit, binance-usdm); every venue when absent"),
]
Reason = Annotated[str, Query(min_length=1, max_length=500, description="why, for the audit trail")]


@router.post("/orders", status_code=202, dependencies=[TRADER], responses=PLACE_RESPONSES)
async def place_order(
    body: OrderBody,
    request: Request,
    gateway: GatewayDep,
    gate: AdmissionDep,
    response: Response,
    wait: Wait = False,
    wait_ms: WaitMs = None,
) -> PlaceResult | RoutedResult:
    """Record the order as Pending, then send it to risk. 202 with the record; with
    `?wait=true`, 200 with the first outcome (accepted, denied, rejected) or 202 on timeout.
    The same clientOrderId again (or as Bybit's `orderLinkId`) with the same terms: 200 with
    the existing order and its first outcome and reason, nothing placed; with other terms:
    409 naming the terms that differ, nothing placed. 429 with `Retry-After` when too many
    orders are in flight: nothing written.

    With `venue: "auto"` (a Market or IOC Limit order) the smart order router splits it
    across the venues (`POST /v1/route/preview` shows how, and why): the answer is the
    route and a result per child order placed (`clientOrderId` `{parentId}-{n}`), each as
    above. A retry with the same clientOrderId answers the same children, re-routing
    nothing."""
    authorize_account(request, body.account)
    wait_for = _wait_ms(gateway, wait, wait_ms)
    if body.venue == AUTO_VENUE:
        with gate.admit(len(gateway.settings.venues), ShedRoute.PLACE):
            routed = await place_routed(gateway, body, wait_for)
        response.status_code = _status(routed.children)
        return routed
    with gate.admit(1, ShedRoute.PLACE):
        (result,) = await placing.place(gateway, [body], wait_for)
    response.status_code = _status([result])
    return result


@router.post("/orders/batch", status_code=202, dependencies=[TRADER], responses=BATCH_RESPONSES)
async def place_batch(
    body: BatchBody,
    request: Request,
    gateway: GatewayDep,
    gate: AdmissionDep,
    response: Response,
    wait: Wait = False,
    wait_ms: WaitMs = None,
) -> BatchResult:
    """Place several orders, each as `POST /v1/orders` would; results in the same order.
    The whole batch is validated before anything is written; each order is then written on
    its own, so a clientOrderId taken with other terms is a 409 that names the terms that
    differ and the orders of the batch that were placed. Each order counts against the
    in-flight bound: 429 with `Retry-After` for the whole batch when they do not all fit."""
    limit = gateway.settings.batch_max_orders
    if len(body.orders) > limit:
        raise Invalid(f"a batch has {len(body.orders)} orders: expected at most {limit}")
    for account in sorted({order.account for order in body.orders}):
        authorize_account(request, account)
    wait_for = _wait_ms(gateway, wait, wait_ms)
    with gate.admit(len(body.orders), ShedRoute.PLACE_BATCH):
        results = await placing.place(gateway, body.orders, wait_for)
    response.status_code = _status(results)
    return BatchResult(results=results)


@router.patch(
    "/orders/{clientOrderId}", status_code=202, dependencies=[TRADER], responses=AMEND_ERRORS
)
async def amend_order(
    client_order_id: OrderId,
    body: AmendBody,
    gateway: GatewayDep,
    gate: AdmissionDep,
    account: AccountQuery = DEFAULT_ACCOUNT,
) -> CommandAccepted:
    """Send an amend of qty and/or price; the result arrives as OrderAmended or
    OrderAmendRejected on the stream. 429 with `Retry-After` when too many orders are in
    flight: nothing sent."""
    with gate.admit(1, ShedRoute.AMEND):
        return await commands.amend(gateway, client_order_id, body, account)


@router.delete("/orders/{clientOrderId}", status_code=202, dependencies=[TRADER], responses=ERRORS)
async def cancel_order(
    client_order_id: OrderId, gateway: GatewayDep, account: AccountQuery = DEFAULT_ACCOUNT
) -> CommandAccepted:
    """Send a cancel; the result arrives as OrderCanceled or OrderCancelRejected. Never
    refused for load (it reduces risk): it is not counted against the in-flight bound."""
    return await commands.cancel(gateway, client_order_id, account)


@router.delete("/orders", status_code=202, responses=ERRORS)
async def cancel_all_orders(
    symbol: SymbolQuery,
    gateway: GatewayDep,
    principal: Operator,
    category: Category = Category.LINEAR,
    reason: Reason = "not given",
    account: AccountQuery = DEFAULT_ACCOUNT,
    venue: VenueQuery = None,
) -> CommandAccepted:
    """Cancel every order of `symbol` open at the venue (at `venue`; at every venue when
    absent) when this request is accepted, whoever placed it; orders placed after it keep
    working (operators only; allowed even when frozen, never refused for load). Recorded in
    the audit trail with the caller and `reason`."""
    try:
        check_managed(category)
    except ValueError as error:
        raise Invalid(str(error)) from None
    accepted = await commands.cancel_all(gateway, symbol, category, account, venue)
    details = {
        "symbol": symbol,
        "category": category,
        "account": account,
        "venue": venue or "all",
        "openOrders": str(accepted.open_orders),
    }
    action = OperatorAction(
        action="cancel_all", actor=principal.actor, reason=reason, details=details
    )
    await gateway.bus.publish(topology.AUDIT, Envelope.wrap(action))
    return accepted


@router.get("/orders/{clientOrderId}", dependencies=[VIEWER], responses=ERRORS)
async def get_order(
    client_order_id: OrderId, gateway: GatewayDep, account: AccountQuery = DEFAULT_ACCOUNT
) -> OrderView:
    """The order record."""
    return OrderView.of(await commands.find(gateway, client_order_id, account))


@router.get("/orders", dependencies=[VIEWER], responses=ERRORS)
async def list_open_orders(
    gateway: GatewayDep,
    symbol: Annotated[SymbolField | None, Query(description="all symbols when absent")] = None,
    account: AccountQuery = DEFAULT_ACCOUNT,
) -> OrderList:
    """Open orders (Pending included) of `account`, oldest first, of one symbol or of every
    symbol."""
    store = gateway.book(account).orders
    symbols = [symbol] if symbol is not None else await store.order_symbols()
    orders = await store.open_orders_of(symbols)
    return OrderList(orders=[OrderView.of(order) for order in orders])


def _wait_ms(gateway: Gateway, wait: bool, wait_ms: int | None) -> int | None:
    if not wait:
        return None
    settings = gateway.settings
    if wait_ms is not None and wait_ms > settings.wait_max_ms:
        raise Invalid(f"waitMs {wait_ms} is too long: expected at most {settings.wait_max_ms}")
    return wait_ms or settings.wait_default_ms


def _status(results: list[PlaceResult]) -> int:
    """202 while any new order has no outcome yet, else 200."""
    pending = any(r.created and r.outcome is Outcome.PENDING for r in results)
    return 202 if pending else 200
