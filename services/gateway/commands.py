"""Amend, cancel and cancel-all: check the order against its state machine, then publish.

The gateway does not move the record: risk passes the command on and the router records
the request (`request_amend`, CancelRequested) when it sends it. The checks here run the
same pure functions on the record as read, so a command the state machine would refuse
(amending a Filled order, cancelling a Canceled one) is answered 409 at once. Each command
sent is logged once, with its envelope's correlation id (`[cid=...]`): the lines of risk and
the router about it carry the same.
"""

from __future__ import annotations

import logging

from libs.common import topology
from libs.common.domain.enums import Category, OrderType
from libs.common.domain.errors import InvalidOrder, InvalidTransition, UnknownVenue
from libs.common.domain.ids import DEFAULT_ACCOUNT, AccountId, ClientOrderId, Symbol, VenueId
from libs.common.domain.orders import Order, is_terminal, request_amend
from libs.common.messages import AmendOrder, CancelAllOrders, CancelOrder, Envelope
from services.gateway.context import Gateway
from services.gateway.errors import Conflict, Invalid, NotFound
from services.gateway.schemas import AmendBody, CommandAccepted, OrderView

log = logging.getLogger(__name__)


async def find(
    gateway: Gateway, client_order_id: ClientOrderId, account: AccountId = DEFAULT_ACCOUNT
) -> Order:
    """The stored order of `account`, or 404."""
    order = await gateway.book(account).orders.get(client_order_id)
    if order is None:
        raise NotFound(
            f"order {client_order_id} is unknown in account {account}: no order with this "
            "clientOrderId was placed through the gateway (or its record expired after it ended)"
        )
    return order


async def amend(
    gateway: Gateway, client_order_id: ClientOrderId, body: AmendBody, account: AccountId
) -> CommandAccepted:
    """Publish AmendOrder for an order of `account` that can take it."""
    order = await find(gateway, client_order_id, account)
    if body.price is not None and order.order_type is OrderType.MARKET:
        raise Invalid(f"order {client_order_id} is a Market order: it has no price to amend")
    if is_terminal(order.status):
        raise Conflict(
            f"order {client_order_id} is {order.status}: an ended order cannot be amended"
        )
    try:
        request_amend(order, body.qty, body.price, ts_ns=gateway.clock_ns())
    except InvalidTransition:
        raise Conflict(
            f"order {client_order_id} is {order.status}: it cannot be amended until the venue "
            "has acknowledged it and no other amend or cancel is in flight"
        ) from None
    except InvalidOrder as error:
        raise Conflict(str(error)) from None
    command = AmendOrder(
        client_order_id=client_order_id,
        symbol=order.symbol,
        qty=body.qty,
        price=body.price,
        account=account,
        venue=order.venue,
    )
    envelope = Envelope.wrap(command)
    await gateway.bus.publish(topology.ORDERS_REQUESTS.of(account), envelope)
    terms = (("qty", body.qty), ("price", body.price))
    changes = ", ".join(f"{term} {value}" for term, value in terms if value is not None)
    log.debug("order %s: amend sent (%s)", client_order_id, changes, extra=_cid(envelope))
    return _accepted(command.TYPE, order)


async def cancel(
    gateway: Gateway, client_order_id: ClientOrderId, account: AccountId
) -> CommandAccepted:
    """Publish CancelOrder for an order of `account` that has not ended."""
    order = await find(gateway, client_order_id, account)
    if is_terminal(order.status):
        raise Conflict(f"order {client_order_id} is {order.status}: there is nothing to cancel")
    command = CancelOrder(
        client_order_id=client_order_id, symbol=order.symbol, account=account, venue=order.venue
    )
    envelope = Envelope.wrap(command)
    await gateway.bus.publish(topology.ORDERS_REQUESTS.of(account), envelope)
    log.debug("order %s: cancel sent", client_order_id, extra=_cid(envelope))
    return _accepted(command.TYPE, order)


async def cancel_all(
    gateway: Gateway,
    symbol: Symbol,
    category: Category,
    account: AccountId,
    venue: VenueId | None = None,
) -> CommandAccepted:
    """Publish CancelAllOrders, issued now: the router cancels at the venue (at every venue
    when `venue` is None) every order of the symbol in `account` created by then, whatever
    the store holds."""
    if venue is not None and venue not in gateway.settings.venues:
        raise Invalid(str(UnknownVenue(venue, gateway.settings.venues)))
    open_orders = [
        o
        for o in await gateway.book(account).orders.open_orders(symbol)
        if venue is None or o.venue == venue
    ]
    command = CancelAllOrders(symbol=symbol, category=category, account=account, venue=venue)
    await gateway.bus.publish(topology.ORDERS_REQUESTS.of(account), Envelope.wrap(command))
    return CommandAccepted(command=command.TYPE, symbol=symbol, open_orders=len(open_orders))


def _accepted(command: str, order: Order) -> CommandAccepted:
    return CommandAccepted(
        command=command,
        symbol=order.symbol,
        client_order_id=order.client_order_id,
        order=OrderView.of(order),
    )


def _cid(envelope: Envelope) -> dict[str, str]:
    """`extra=` of a log line about the command in `envelope`: its correlation id."""
    return {"cid": envelope.correlation_id}
