"""What goes to and comes back from the venue: frozen models, Decimal money, typed ids."""

from __future__ import annotations

from decimal import Decimal
from enum import StrEnum

from pydantic import BaseModel, ConfigDict, field_validator, model_validator

from libs.common.domain.enums import Category, OrderType, Side, TimeInForce, VenueOrderStatus
from libs.common.domain.ids import (
    ClientOrderId,
    ExecId,
    VenueOrderId,
    parse_client_order_id,
    parse_symbol,
)


class _Frozen(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")


class _Request(_Frozen):
    category: Category
    symbol: str

    @field_validator("symbol")
    @classmethod
    def _symbol(cls, value: str) -> str:
        return parse_symbol(value)


def _opt_coid(value: str | None) -> ClientOrderId | None:
    return None if value is None else parse_client_order_id(value)


class PlaceOrder(_Request):
    """A new order. `client_order_id` is sent as `orderLinkId`: the idempotency key."""

    side: Side
    order_type: OrderType
    qty: Decimal
    """Base-coin quantity (spot Market orders are sent with `marketUnit=baseCoin`)."""
    price: Decimal | None = None
    time_in_force: TimeInForce = TimeInForce.GTC
    reduce_only: bool = False
    client_order_id: ClientOrderId
    reference_price: Decimal | None = None
    """Mark or mid used to check a Market order's notional; not sent."""

    @field_validator("client_order_id")
    @classmethod
    def _coid(cls, value: str) -> ClientOrderId:
        return parse_client_order_id(value)


class _ByOrder(_Request):
    client_order_id: ClientOrderId | None = None
    venue_order_id: VenueOrderId | None = None

    @field_validator("client_order_id")
    @classmethod
    def _coid(cls, value: str | None) -> ClientOrderId | None:
        return _opt_coid(value)

    @model_validator(mode="after")
    def _one_id(self) -> _ByOrder:
        if self.client_order_id is None and self.venue_order_id is None:
            raise ValueError("expected client_order_id or venue_order_id, got neither")
        return self

    @property
    def ident(self) -> str:
        return str(self.client_order_id or self.venue_order_id)


class AmendOrder(_ByOrder):
    """Change the price and/or total quantity of a live order.

    `side` is needed to round the price away from crossing; `qty` is the new total quantity.
    """

    side: Side
    qty: Decimal | None = None
    price: Decimal | None = None

    @model_validator(mode="after")
    def _something(self) -> AmendOrder:
        if self.qty is None and self.price is None:
            raise ValueError("an amend needs a new qty or price, got neither")
        return self


class CancelOrder(_ByOrder):
    """Cancel one order by `client_order_id` (orderLinkId) or `venue_order_id` (orderId)."""


class VenueOrder(_Frozen):
    """A snapshot of one order as the venue reports it (REST or the private `order` topic)."""

    category: Category
    symbol: str
    venue_order_id: VenueOrderId
    client_order_id: ClientOrderId | None
    side: Side
    order_type: OrderType
    status: VenueOrderStatus
    qty: Decimal
    price: Decimal | None
    cum_exec_qty: Decimal
    cum_exec_value: Decimal
    avg_price: Decimal | None
    leaves_qty: Decimal
    time_in_force: TimeInForce | None
    """None when the venue reports a kind mmx does not model (e.g. RPI)."""
    reduce_only: bool
    reject_reason: str
    cancel_type: str
    created_ms: int
    updated_ms: int


class OrderAck(_Frozen):
    """The venue accepted (or had already accepted) a create / amend / cancel.

    `recovered` is True when the outcome was learned by querying after an ambiguous failure
    or a duplicate orderLinkId, not from the direct answer; `order` then holds the snapshot
    found. `attempts` counts requests sent (2 after the single resend).
    """

    category: Category
    symbol: str
    client_order_id: ClientOrderId | None
    venue_order_id: VenueOrderId
    recovered: bool = False
    attempts: int = 1
    order: VenueOrder | None = None


class BatchErrorKind(StrEnum):
    REJECTED = "rejected"
    """The venue refused this item (see `code`)."""
    INVALID = "invalid"
    """The item cannot be made valid for its instrument; not sent."""
    UNKNOWN = "unknown"
    """The outcome could not be established; reconcile before acting."""
    NOT_SENT = "not_sent"
    """Refused before the venue acted (rate limit, IP ban, auth); safe to retry later."""
    REFUSED = "refused"
    """Refused by the send barrier (trading is frozen): never sent, not to be retried."""


class BatchItemResult(_Frozen):
    """One item of a batch call, in input order: an ack or an error."""

    client_order_id: ClientOrderId | None
    venue_order_id: VenueOrderId | None = None
    ack: OrderAck | None = None
    error_kind: BatchErrorKind | None = None
    code: int = 0
    message: str = ""

    @property
    def ok(self) -> bool:
        return self.ack is not None


class Execution(_Frozen):
    """One fill. `exec_id` is the dedupe key."""

    category: Category
    exec_id: ExecId
    venue_order_id: VenueOrderId
    client_order_id: ClientOrderId | None
    symbol: str
    side: Side
    price: Decimal
    qty: Decimal
    fee: Decimal
    fee_rate: Decimal
    fee_currency: str | None
    is_maker: bool
    exec_time_ms: int
    leaves_qty: Decimal
    exec_type: str


class VenuePosition(_Frozen):
    """A position as the venue reports it; `size` is always >= 0, `side` None when flat."""

    category: Category
    symbol: str
    position_idx: int
    side: Side | None
    size: Decimal
    avg_price: Decimal
    mark_price: Decimal | None
    unrealised_pnl: Decimal
    cum_realised_pnl: Decimal
    leverage: Decimal | None
    updated_ms: int


class Ticker(_Frozen):
    """Best bid/ask, last and mark (None where the venue gives none, e.g. spot mark)."""

    category: Category
    symbol: str
    bid: Decimal | None
    ask: Decimal | None
    last: Decimal | None
    mark: Decimal | None
    ts_ms: int

    @property
    def mid(self) -> Decimal | None:
        if self.bid is None or self.ask is None:
            return None
        return (self.bid + self.ask) / 2


class RateLimitStatus(_Frozen):
    """The `X-Bapi-Limit*` headers of the last answer on one endpoint."""

    limit: int | None
    remaining: int | None
    reset_ms: int | None


class PrivateSnapshot(_Frozen):
    """The REST snapshot the private stream emits after every (re)connect, before the
    pushes buffered meanwhile. `open_orders` and `positions` are complete; `executions`
    holds only fills not emitted before (deduped by execId), oldest first."""

    connection: int
    """0 for the first connection, then the reconnect count."""
    taken_ms: int
    open_orders: tuple[VenueOrder, ...]
    executions: tuple[Execution, ...]
    positions: tuple[VenuePosition, ...]


PrivateEvent = PrivateSnapshot | VenueOrder | Execution | VenuePosition


class OrderBook(_Frozen):
    """The top of one symbol's book: (price, qty) levels, best first (bids high to low, asks
    low to high), as the venue gave them at `ts_ms` (its clock)."""

    symbol: str
    bids: tuple[tuple[Decimal, Decimal], ...]
    asks: tuple[tuple[Decimal, Decimal], ...]
    ts_ms: int


class FeeRates(_Frozen):
    """The account's fee rates on one symbol, as fractions (0.00055 = 5.5 bps); a negative
    maker rate is a rebate."""

    symbol: str
    maker: Decimal
    taker: Decimal
