"""Bus messages: commands and events, frozen pydantic models carried in one `Envelope`.

Wire rules: Decimals travel as JSON strings (exact), timestamps as int ns, keys snake_case.
A float anywhere in a message's input is refused: it may already have lost digits. Ids and
symbols are checked against what Bybit accepts. To change a message, derive a new one.
Every message class names itself with `TYPE`; `MESSAGE_TYPES` maps names to classes.
"""

from __future__ import annotations

import builtins
import time
from collections.abc import Mapping
from decimal import Decimal
from types import MappingProxyType
from typing import Annotated, Any, ClassVar, Self, TypeVar

import orjson
from pydantic import AfterValidator, BaseModel, ConfigDict, Field, JsonValue, model_validator

from libs.common.domain.enums import Category, OrderType, Side, TimeInForce
from libs.common.domain.ids import (
    DEFAULT_ACCOUNT,
    DEFAULT_VENUE,
    AccountId,
    ClientOrderId,
    CorrelationId,
    EventId,
    ExecId,
    Symbol,
    VenueId,
    VenueOrderId,
    new_event_id,
    parse_account_id,
    parse_client_order_id,
    parse_symbol,
    parse_venue_id,
)
from libs.common.domain.limit_scaling import ScalingRule
from libs.common.domain.orders import Order
from libs.common.domain.positions import Fill, Funding, Position, unrealized_pnl
from libs.common.domain.risk_checks import OrderIntent, RiskLimits, TradingState

ClientOrderIdField = Annotated[ClientOrderId, AfterValidator(parse_client_order_id)]
SymbolField = Annotated[Symbol, AfterValidator(parse_symbol)]
AccountField = Annotated[AccountId, AfterValidator(parse_account_id)]
VenueField = Annotated[VenueId, AfterValidator(parse_venue_id)]
PositiveDecimal = Annotated[Decimal, Field(gt=0)]
Text = Annotated[str, Field(min_length=1, max_length=500)]


class MessageError(ValueError):
    """An envelope that cannot be opened: unknown type, unsupported schema version."""


_REGISTRY: dict[str, type[Message]] = {}
MESSAGE_TYPES: Mapping[str, type[Message]] = MappingProxyType(_REGISTRY)
"""Every concrete message class by its TYPE, filled in as the classes are declared."""


class Message(BaseModel):
    """Base of every command and event. A class that sets TYPE is registered by it."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    TYPE: ClassVar[str]
    SCHEMA_VERSION: ClassVar[int] = 1

    @classmethod
    def __pydantic_init_subclass__(cls, **kwargs: Any) -> None:
        super().__pydantic_init_subclass__(**kwargs)
        if "TYPE" not in cls.__dict__:
            return
        if cls.TYPE in _REGISTRY:
            raise TypeError(f"message type {cls.TYPE!r} is declared twice: {cls.__qualname__}")
        _REGISTRY[cls.TYPE] = cls

    @model_validator(mode="before")
    @classmethod
    def _refuse_floats(cls, data: Any) -> Any:
        _refuse_float(data, cls.__name__)
        return data


class Command(Message):
    """A request to do something; it may be denied."""


class Event(Message):
    """A fact that happened; never denied, only recorded."""


# -- Commands ---------------------------------------------------------------------------


class PlaceOrder(Command):
    """Place an order. `client_order_id` is the idempotency key (Bybit orderLinkId)."""

    TYPE = "PlaceOrder"
    client_order_id: ClientOrderIdField
    symbol: SymbolField
    category: Category = Category.LINEAR
    side: Side
    order_type: OrderType
    qty: PositiveDecimal
    price: PositiveDecimal | None = None
    time_in_force: TimeInForce = TimeInForce.GTC
    reduce_only: bool = False
    account: AccountField = DEFAULT_ACCOUNT
    venue: VenueField = DEFAULT_VENUE
    parent_id: ClientOrderIdField | None = None
    """The order the smart order router split this child from (`venue: "auto"`); None for an
    order placed as it is."""

    @model_validator(mode="after")
    def _check_price(self) -> Self:
        if (self.order_type is OrderType.LIMIT) != (self.price is not None):
            raise ValueError("a Limit order needs a price and a Market order has none")
        return self

    def to_intent(self) -> OrderIntent:
        """What the risk checks look at."""
        return OrderIntent(
            symbol=self.symbol,
            side=self.side,
            qty=self.qty,
            price=self.price,
            reduce_only=self.reduce_only,
        )

    def to_order(self, ts_ns: int) -> Order:
        """The Pending order record to write before sending it, keeping the qty and price
        as requested (built from this validated command without validating again; its
        consistency is checked)."""
        return Order.model_construct(
            client_order_id=self.client_order_id,
            account=self.account,
            venue=self.venue,
            parent_id=self.parent_id,
            symbol=self.symbol,
            side=self.side,
            order_type=self.order_type,
            qty=self.qty,
            price=self.price,
            time_in_force=self.time_in_force,
            reduce_only=self.reduce_only,
            requested_qty=self.qty,
            requested_price=self.price,
            created_ts_ns=ts_ns,
            updated_ts_ns=ts_ns,
        ).check_consistent()


class AmendOrder(Command):
    """Change the qty and/or price of an open order; None keeps the current value."""

    TYPE = "AmendOrder"
    client_order_id: ClientOrderIdField
    symbol: SymbolField
    qty: PositiveDecimal | None = None
    price: PositiveDecimal | None = None
    account: AccountField = DEFAULT_ACCOUNT
    venue: VenueField = DEFAULT_VENUE
    """The venue the order is at (the gateway takes it from the order's record)."""

    @model_validator(mode="after")
    def _check_change(self) -> Self:
        if self.qty is None and self.price is None:
            raise ValueError("an amend needs a new qty or a new price")
        return self


class CancelOrder(Command):
    """Cancel one order. Always allowed, even when frozen."""

    TYPE = "CancelOrder"
    client_order_id: ClientOrderIdField
    symbol: SymbolField
    account: AccountField = DEFAULT_ACCOUNT
    venue: VenueField = DEFAULT_VENUE
    """The venue the order is at (the gateway takes it from the order's record)."""


class CancelAllOrders(Command):
    """Cancel every order of a symbol open when it was issued (not those placed after it).
    Always allowed, even when frozen."""

    TYPE = "CancelAllOrders"
    symbol: SymbolField
    category: Category = Category.LINEAR
    issued_ts_ns: int = Field(default_factory=time.time_ns, gt=0)
    """When the command was issued: orders created later are not its business."""
    account: AccountField = DEFAULT_ACCOUNT
    venue: VenueField | None = None
    """Cancel at one venue; None: at every venue the router trades."""


class FreezeTrading(Command):
    """Stop trading: deny new orders and cancel every open order."""

    TYPE = "FreezeTrading"
    reason: Text
    actor: Text
    account: AccountField | None = None
    """Freeze one account; None: the desk (every account)."""


class UnfreezeTrading(Command):
    """Resume trading. `force` overrides a trigger that is still breached (edge, loss)."""

    TYPE = "UnfreezeTrading"
    reason: Text
    actor: Text
    force: bool = False
    account: AccountField | None = None
    """Resume one account's own state; None: the desk's."""


class ReportEdge(Command):
    """A strategy's own estimate of its edge; below the threshold, trading freezes."""

    TYPE = "ReportEdge"
    symbol: SymbolField
    edge_bps: Decimal
    source: Text


class SetRiskLimits(Command):
    """Replace the live risk limits as a whole, with the rule that scales them (None: none)."""

    TYPE = "SetRiskLimits"
    limits: RiskLimits
    scaling: ScalingRule | None = None
    actor: Text
    reason: str = ""


# -- Events -----------------------------------------------------------------------------


class OperatorAction(Event):
    """An audit record (stream `audit`) of an operator action that has no command of its
    own: cancel-all, an API key issued or revoked. `actor` names who did it, never a key."""

    TYPE = "OperatorAction"
    action: Text
    actor: Text
    reason: str = ""
    details: dict[str, str] = Field(default_factory=dict)


class ExposureRepaired(Event):
    """An audit record (stream `audit`): the exposure audit found the ledger differing from
    the records and repaired it. `kind` is `exposure_drift_total{kind}`; `key` the order's
    clientOrderId, the fill's execId or the total's name; amounts in USD (counts for the
    `count` total)."""

    TYPE = "ExposureRepaired"
    symbol: SymbolField
    account: AccountField = DEFAULT_ACCOUNT
    kind: Text
    key: Text
    recorded: Decimal
    expected: Decimal


class LimitsScaled(Event):
    """An audit record (stream `audit`): the scaling rule changed the factors on the limits of
    `symbol` (ALL: the desk-wide limits). `factors` are those now in force (a limit left out
    is back to 1, as configured), `limits` the limits they changed, in force now, and
    `reason` what scales them (the open windows, a high volatility) or that nothing does."""

    TYPE = "LimitsScaled"
    symbol: Text
    factors: dict[str, Decimal]
    limits: dict[str, Decimal]
    reason: Text


class OrderApproved(Event):
    """Risk approved the order; the router may send it."""

    TYPE = "OrderApproved"
    order: PlaceOrder


class OrderEvent(Event):
    """Something that happened to one of our orders, at `ts_event_ns`."""

    client_order_id: ClientOrderIdField
    symbol: SymbolField
    ts_event_ns: int = Field(ge=0)
    account: AccountField = DEFAULT_ACCOUNT
    venue: VenueField = DEFAULT_VENUE


class VenueRefusal(OrderEvent):
    """The venue said no: `code` is its retCode, `reason` its retMsg or rejectReason."""

    code: int
    reason: str


class OrderDenied(OrderEvent):
    """Risk (or the order state machine) refused a command; `reason` says why, with numbers."""

    TYPE = "OrderDenied"
    reason: Text


class OrderSubmitted(OrderEvent):
    """The router wrote the order as Pending and sent it to the venue."""

    TYPE = "OrderSubmitted"


class OrderAcknowledged(OrderEvent):
    """The venue accepted the order."""

    TYPE = "OrderAcknowledged"
    venue_order_id: VenueOrderId


class OrderRejected(VenueRefusal):
    """The venue refused the order. A timeout is never a reject: it is an unknown outcome."""

    TYPE = "OrderRejected"


class OrderFilled(Event):
    """One execution. `exec_id` is the dedupe key; `fee` > 0 is paid, < 0 a rebate."""

    TYPE = "OrderFilled"
    client_order_id: ClientOrderIdField | None
    """None for an order that is not ours (e.g. placed by hand on the account)."""
    venue_order_id: VenueOrderId
    symbol: SymbolField
    exec_id: ExecId
    side: Side
    qty: PositiveDecimal
    price: PositiveDecimal
    fee: Decimal
    is_maker: bool
    ts_event_ns: int = Field(ge=0)
    account: AccountField = DEFAULT_ACCOUNT
    venue: VenueField = DEFAULT_VENUE

    def to_fill(self) -> Fill:
        """The fill as the position fold takes it."""
        return Fill(
            exec_id=self.exec_id,
            symbol=self.symbol,
            side=self.side,
            qty=self.qty,
            price=self.price,
            fee=self.fee,
            ts_ns=self.ts_event_ns,
            client_order_id=self.client_order_id,
            is_maker=self.is_maker,
            account=self.account,
            venue=self.venue,
        )


class FundingSettled(Event):
    """One funding settlement on a position (Bybit: an execution of execType `Funding`).
    `exec_id` is the dedupe key; `amount` > 0 is paid, < 0 received."""

    TYPE = "FundingSettled"
    symbol: SymbolField
    exec_id: ExecId
    amount: Decimal
    rate: Decimal
    position_qty: Decimal
    """Signed: positive long, negative short."""
    mark_price: PositiveDecimal
    ts_event_ns: int = Field(ge=0)
    account: AccountField = DEFAULT_ACCOUNT
    venue: VenueField = DEFAULT_VENUE

    def to_funding(self) -> Funding:
        """The settlement as the position fold takes it."""
        return Funding(
            exec_id=self.exec_id,
            symbol=self.symbol,
            amount=self.amount,
            rate=self.rate,
            position_qty=self.position_qty,
            mark_price=self.mark_price,
            ts_ns=self.ts_event_ns,
            account=self.account,
            venue=self.venue,
        )


class OrderCanceled(OrderEvent):
    """The venue cancelled the order; `reason` is its cancelType when known."""

    TYPE = "OrderCanceled"
    reason: str = ""


class OrderCancelRejected(VenueRefusal):
    """The venue refused a cancel, e.g. 110001 "too late to cancel"."""

    TYPE = "OrderCancelRejected"


class OrderAmended(OrderEvent):
    """The venue accepted an amend; the order now has this qty and price."""

    TYPE = "OrderAmended"
    qty: PositiveDecimal
    price: PositiveDecimal | None


class OrderAmendRejected(VenueRefusal):
    """The venue refused an amend, e.g. 110001 "too late to replace"."""

    TYPE = "OrderAmendRejected"


class PositionUpdated(Event):
    """A position after a fill, a funding settlement or a mark; unrealized P&L is at `mark`
    when one is given."""

    TYPE = "PositionUpdated"
    symbol: SymbolField
    qty: Decimal
    avg_entry_price: PositiveDecimal | None
    realized_pnl: Decimal
    fees_paid: Decimal
    funding_paid: Decimal = Decimal(0)
    mark: PositiveDecimal | None = None
    unrealized_pnl: Decimal | None = None
    ts_event_ns: int = Field(ge=0)
    account: AccountField = DEFAULT_ACCOUNT
    venue: VenueField = DEFAULT_VENUE

    @classmethod
    def from_position(cls, position: Position, mark: Decimal | None = None) -> PositionUpdated:
        """Describe `position`, marked at `mark` if given."""
        return cls(
            symbol=position.symbol,
            qty=position.qty,
            avg_entry_price=position.avg_entry_price,
            realized_pnl=position.realized_pnl,
            fees_paid=position.fees_paid,
            funding_paid=position.funding_paid,
            mark=mark,
            unrealized_pnl=None if mark is None else unrealized_pnl(position, mark),
            ts_event_ns=position.updated_ts_ns,
            account=position.account,
            venue=position.venue,
        )


class TradingStateChanged(Event):
    """Trading state moved. `epoch` increases on every change within a `generation` of the
    freeze key (a new one after Redis lost its data), so stale news is spotted."""

    TYPE = "TradingStateChanged"
    state: TradingState
    reason: Text
    actor: Text
    epoch: int = Field(ge=0)
    generation: str = Field(default="", max_length=64)
    account: AccountField | None = None
    """The account whose own state moved; None: the desk's (every account)."""


class EdgeMeasured(Event):
    """Edge of one fill against the mid at fill time, in bps (positive = earned)."""

    TYPE = "EdgeMeasured"
    symbol: SymbolField
    exec_id: ExecId
    side: Side
    fill_price: PositiveDecimal
    mid: PositiveDecimal
    edge_bps: Decimal
    account: AccountField = DEFAULT_ACCOUNT
    venue: VenueField = DEFAULT_VENUE


M = TypeVar("M", bound=Message)


class Envelope(BaseModel):
    """What travels on a stream: the message as JSON plus who, when and why."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    type: str
    schema_version: int = Field(ge=1)
    event_id: EventId
    """Unique per envelope: the dedupe key for consumers. Reuse it when re-publishing."""
    correlation_id: CorrelationId
    """Shared by every message caused by the same original command."""
    ts_ns: int = Field(ge=0)
    payload: dict[str, JsonValue]

    @classmethod
    def wrap(
        cls,
        message: Message,
        correlation_id: CorrelationId | None = None,
        *,
        event_id: EventId | None = None,
        ts_ns: int | None = None,
    ) -> Envelope:
        """Put `message` in an envelope; with no correlation id it starts a new chain.

        Built without validating again: `message` was validated when it was made, and its
        JSON dump is what `payload` holds (the hot path of every publisher)."""
        event_id = event_id or new_event_id()
        return cls.model_construct(
            type=message.TYPE,
            schema_version=message.SCHEMA_VERSION,
            event_id=event_id,
            correlation_id=correlation_id or CorrelationId(event_id),
            ts_ns=time.time_ns() if ts_ns is None else ts_ns,
            payload=message.model_dump(mode="json"),
        )

    def open(self) -> Message:
        """Validate the payload back into its message class."""
        message_cls = MESSAGE_TYPES.get(self.type)
        if message_cls is None:
            raise MessageError(f"unknown message type {self.type!r} (event {self.event_id})")
        if self.schema_version != message_cls.SCHEMA_VERSION:
            raise MessageError(
                f"{self.type} schema version {self.schema_version} is not supported: "
                f"expected {message_cls.SCHEMA_VERSION} (event {self.event_id})"
            )
        return message_cls.model_validate(self.payload)

    def open_as(self, message_cls: builtins.type[M]) -> M:
        """Open the envelope, insisting on one message class."""
        message = self.open()
        if not isinstance(message, message_cls):
            raise MessageError(f"expected {message_cls.TYPE}, was {self.type} ({self.event_id})")
        return message

    def to_json(self) -> bytes:
        """Serialize for the wire (what `model_dump_json` gives, by orjson: faster)."""
        return orjson.dumps(
            {
                "type": self.type,
                "schema_version": self.schema_version,
                "event_id": self.event_id,
                "correlation_id": self.correlation_id,
                "ts_ns": self.ts_ns,
                "payload": self.payload,
            }
        )

    @classmethod
    def raw_json(
        cls,
        message_type: builtins.type[Message],
        payload: Mapping[str, JsonValue],
        *,
        event_id: EventId,
        correlation_id: CorrelationId,
        ts_ns: int,
    ) -> bytes:
        """The wire form of an envelope whose payload is already the JSON of a valid
        `message_type` (e.g. a command's payload, opened and checked, inside the event that
        approves it), without validating it again: what `wrap(...).to_json()` gives."""
        return orjson.dumps(
            {
                "type": message_type.TYPE,
                "schema_version": message_type.SCHEMA_VERSION,
                "event_id": event_id,
                "correlation_id": correlation_id,
                "ts_ns": ts_ns,
                "payload": payload,
            }
        )

    @classmethod
    def from_json(cls, data: bytes | str) -> Envelope:
        """Parse an envelope from the wire (the payload is checked by `open`)."""
        return cls.model_validate_json(data)


def _refuse_float(value: object, where: str) -> None:
    """Raise, naming its path, if `value` holds a float anywhere."""
    if _has_float(value):  # the path is built only when there is something to report
        _name_float(value, where)


def _has_float(value: object) -> bool:
    if isinstance(value, float):
        return True
    if isinstance(value, dict):
        return any(_has_float(item) for item in value.values())
    if isinstance(value, list | tuple):
        return any(_has_float(item) for item in value)
    if isinstance(value, Mapping):
        return any(_has_float(item) for item in value.values())
    return False


def _name_float(value: object, where: str) -> None:
    if isinstance(value, float):
        raise ValueError(f"{where} is a float ({value!r}): send numbers as strings")
    if isinstance(value, Mapping):
        for key, item in value.items():
            _name_float(item, f"{where}.{key}")
    elif isinstance(value, list | tuple):
        for index, item in enumerate(value):
            _name_float(item, f"{where}[{index}]")
