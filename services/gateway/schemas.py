"""The `/v1` JSON shapes: camelCase like Bybit's, Decimals as exact strings on the way out.

Numbers on the way in may be JSON strings ("0.001") or JSON numbers (0.001): the routes parse
numbers exactly (see `routing`), never through a float. Unknown fields are refused, so a typo
(`"reduce_only"`) is an error rather than a silently ignored setting.
"""

from __future__ import annotations

from decimal import Decimal
from enum import StrEnum
from typing import Annotated, Any, Literal, Self, get_args

from pydantic import (
    AfterValidator,
    AliasChoices,
    BaseModel,
    BeforeValidator,
    ConfigDict,
    Field,
    StrictBool,
    model_validator,
)
from pydantic.alias_generators import to_camel

from libs.common.display import Money
from libs.common.domain.enums import Category, OrderType, Side, TimeInForce, check_managed
from libs.common.domain.ids import (
    AUTO_VENUE,
    DEFAULT_ACCOUNT,
    VENUES,
    AccountId,
    ClientOrderId,
    Symbol,
    VenueId,
    VenueOrderId,
)
from libs.common.domain.orders import Order, OrderStatus
from libs.common.domain.time import ns_to_ms
from libs.common.messages import AccountField, ClientOrderIdField, PlaceOrder, SymbolField

MAX_AMOUNT = Decimal("1e15")
MAX_DECIMAL_PLACES = 18


class ApiModel(BaseModel):
    """Base of every `/v1` answer: camelCase on the wire, snake_case in Python."""

    model_config = ConfigDict(
        frozen=True, extra="forbid", alias_generator=to_camel, populate_by_name=True
    )


REQUEST_CONFIG = ConfigDict(
    frozen=True,
    extra="forbid",
    alias_generator=to_camel,
    validate_by_alias=True,
    validate_by_name=False,
)
"""Bodies take camelCase names only: `reduce_only` is an unknown field, not `reduceOnly`."""


class RequestModel(BaseModel):
    """Base of every `/v1` request body; in Python, `model_validate(data, by_name=True)`."""

    model_config = REQUEST_CONFIG


def _exact_number(value: Any) -> Any:
    if isinstance(value, bool | float):
        raise ValueError(f'{value!r} is not an exact number: send a decimal string such as "0.001"')
    return value


def _finite(value: Decimal) -> Decimal:
    if not value.is_finite():
        raise ValueError(f"{value} is not a finite number")
    if abs(value) >= MAX_AMOUNT:
        raise ValueError(f"{value} is out of range: expected below {MAX_AMOUNT:f}")
    exponent = value.as_tuple().exponent
    if isinstance(exponent, int) and -exponent > MAX_DECIMAL_PLACES:
        raise ValueError(f"{value} has too many decimal places: expected at most 18")
    return value


def _positive(value: Decimal) -> Decimal:
    if value <= 0:
        raise ValueError(f"{value} must be above 0")
    return value


ExactDecimal = Annotated[Decimal, BeforeValidator(_exact_number), AfterValidator(_finite)]
"""A decimal sent as a string or an exact JSON number; finite, below 1e15, <= 18 places."""
Amount = Annotated[ExactDecimal, AfterValidator(_positive)]
"""A positive ExactDecimal: a quantity or a price."""
Reason = Annotated[str, Field(min_length=1, max_length=500)]


# -- Orders ------------------------------------------------------------------------------


ORDER_LINK_ID = "orderLinkId"
"""Bybit's name of `clientOrderId`, accepted in its place."""


def _document_order_link_id(schema: dict[str, Any]) -> None:
    """Show `orderLinkId` in the OpenAPI next to `clientOrderId` (a validation alias alone
    would not appear there)."""
    properties = schema.get("properties", {})
    if "clientOrderId" in properties:
        properties[ORDER_LINK_ID] = {
            **properties["clientOrderId"],
            "title": "Orderlinkid",
            "description": "Bybit's name of clientOrderId, accepted in its place; "
            "sent with clientOrderId, the two must be equal",
        }


VenueChoice = Literal["bybit", "binance-usdm", "auto"]
"""Where an order goes: a venue of `VENUES`, or `auto` (the smart order router)."""
if set(get_args(VenueChoice)) != {*VENUES, AUTO_VENUE}:  # one list of venues
    raise RuntimeError(f"VenueChoice {get_args(VenueChoice)} differs from {VENUES} + auto")


class OrderBody(RequestModel):
    """An order, in Bybit V5's field names. `clientOrderId` (Bybit `orderLinkId`, accepted
    too) is the idempotency key: sending the same one again with the same terms returns the
    first order and its first outcome, and places nothing; with other terms it is refused
    (409). One is generated when absent."""

    model_config = REQUEST_CONFIG | ConfigDict(json_schema_extra=_document_order_link_id)

    category: Annotated[Category, AfterValidator(check_managed)] = Category.LINEAR
    """Only the categories the engine manages (linear): any other is refused with 422."""
    symbol: SymbolField = Field(examples=["BTCUSDT"])
    side: Side
    order_type: OrderType
    qty: Amount = Field(examples=["0.001"])
    price: Amount | None = Field(default=None, examples=["65000.5"])
    """Required for Limit, absent for Market."""
    time_in_force: TimeInForce = TimeInForce.GTC
    reduce_only: StrictBool = False
    client_order_id: ClientOrderIdField | None = Field(
        default=None,
        validation_alias=AliasChoices("clientOrderId", ORDER_LINK_ID),
        description="1-36 characters of [A-Za-z0-9_-]; generated when absent "
        "(Bybit's name, orderLinkId, is accepted too)",
    )
    account: AccountField = Field(
        default=DEFAULT_ACCOUNT,
        description="the account to trade for, one of MMX_ACCOUNTS (default: `default`); "
        "another is refused with 422",
    )
    venue: VenueChoice = Field(
        default="bybit",
        description="where to place it: a venue of MMX_VENUES (default `bybit`; another is "
        "refused with 422), or `auto`: the smart order router splits it across the venues "
        "by price after fees, depth, venue health and risk headroom (Market and IOC orders "
        "only; one order per request, `POST /v1/orders`)",
    )

    @model_validator(mode="before")
    @classmethod
    def _one_client_order_id(cls, data: Any) -> Any:
        """`clientOrderId` and `orderLinkId` both sent: one value, or a refusal."""
        if not isinstance(data, dict) or ORDER_LINK_ID not in data or "clientOrderId" not in data:
            return data
        ours, bybits = data["clientOrderId"], data[ORDER_LINK_ID]
        if ours != bybits:
            raise ValueError(
                f"clientOrderId {ours!r} and orderLinkId {bybits!r} differ: orderLinkId is "
                "Bybit's name of clientOrderId, expected one of them (or both equal)"
            )
        return {k: v for k, v in data.items() if k != ORDER_LINK_ID}

    @model_validator(mode="after")
    def _check_price(self) -> Self:
        if self.order_type is OrderType.LIMIT and self.price is None:
            raise ValueError("a Limit order needs a price: set price, or use orderType Market")
        if self.order_type is OrderType.MARKET and self.price is not None:
            raise ValueError("a Market order takes no price: drop price, or use orderType Limit")
        return self

    def to_command(self, client_order_id: ClientOrderId) -> PlaceOrder:
        """The PlaceOrder command for this body under `client_order_id` (at a venue: an
        `auto` body is routed into child bodies first, `services.gateway.smart_routing`)."""
        if self.venue == AUTO_VENUE:
            raise ValueError("an auto order is routed into child orders before it is placed")
        return PlaceOrder(
            client_order_id=client_order_id,
            symbol=self.symbol,
            category=self.category,
            side=self.side,
            order_type=self.order_type,
            qty=self.qty,
            price=self.price,
            time_in_force=self.time_in_force,
            reduce_only=self.reduce_only,
            account=self.account,
            venue=VenueId(self.venue),
        )


class BatchBody(RequestModel):
    orders: list[OrderBody] = Field(min_length=1)


class AmendBody(RequestModel):
    """New qty and/or price of an open order; a field left out keeps its value."""

    qty: Amount | None = None
    price: Amount | None = None

    @model_validator(mode="after")
    def _check_change(self) -> Self:
        if self.qty is None and self.price is None:
            raise ValueError("an amend needs a new qty or a new price (or both)")
        return self


class OrderView(ApiModel):
    """An order record as stored. Times are Unix milliseconds, as Bybit gives them."""

    client_order_id: ClientOrderId
    account: AccountId
    venue: VenueId
    parent_id: ClientOrderId | None
    """The order a smart-routed child was split from (`venue: "auto"`); null otherwise."""
    symbol: Symbol
    side: Side
    order_type: OrderType
    qty: Decimal
    price: Decimal | None
    time_in_force: TimeInForce
    reduce_only: bool
    status: OrderStatus
    filled_qty: Decimal
    leaves_qty: Decimal
    avg_fill_price: Money | None
    """A VWAP of the fills: 8 decimals, rounded half-even (`display.Money`)."""
    venue_order_id: VenueOrderId | None
    created_time: int
    updated_time: int
    version: int

    @classmethod
    def of(cls, order: Order) -> OrderView:
        return cls(
            client_order_id=order.client_order_id,
            account=order.account,
            venue=order.venue,
            parent_id=order.parent_id,
            symbol=order.symbol,
            side=order.side,
            order_type=order.order_type,
            qty=order.qty,
            price=order.price,
            time_in_force=order.time_in_force,
            reduce_only=order.reduce_only,
            status=order.status,
            filled_qty=order.filled_qty,
            leaves_qty=order.leaves_qty,
            avg_fill_price=order.avg_fill_price,
            venue_order_id=order.venue_order_id,
            created_time=ns_to_ms(order.created_ts_ns),
            updated_time=ns_to_ms(order.updated_ts_ns),
            version=order.version,
        )


class Outcome(StrEnum):
    """The first answer to a placed order."""

    PENDING = "pending"
    """No answer yet (or not waited for): the order is recorded and on its way."""
    ACCEPTED = "accepted"
    """The venue took it (acknowledged, or already filled or cancelled)."""
    DENIED = "denied"
    """Risk refused it before it reached the venue; `reason` says which limit."""
    REJECTED = "rejected"
    """The venue (or the router, when frozen) refused it; `reason` says why."""


class PlaceResult(ApiModel):
    order: OrderView
    outcome: Outcome
    reason: str | None = None
    created: bool
    """False when the clientOrderId already existed: nothing was placed, this is that order."""


class BatchResult(ApiModel):
    results: list[PlaceResult]


class OrderList(ApiModel):
    orders: list[OrderView]


class CommandAccepted(ApiModel):
    """A command published for risk and the router; its effects arrive as order events."""

    command: str
    symbol: Symbol
    client_order_id: ClientOrderId | None = None
    order: OrderView | None = None
    """The record when the command was published."""
    open_orders: int | None = None
    """For a cancel-all: the open orders the store held for the symbol."""
