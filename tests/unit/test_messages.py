"""Bus messages and the envelope: round trips, exact Decimals, strictness."""

from __future__ import annotations

import json
from decimal import Decimal
from typing import Any

import pytest
from pydantic import ValidationError

from libs.common.domain.enums import OrderType, Side
from libs.common.domain.ids import (
    ClientOrderId,
    CorrelationId,
    EventId,
    ExecId,
    Symbol,
    VenueOrderId,
)
from libs.common.domain.orders import OrderStatus
from libs.common.domain.positions import Fill, Position, apply_fill
from libs.common.domain.risk_checks import RiskLimits, TradingState
from libs.common.messages import (
    MESSAGE_TYPES,
    AmendOrder,
    CancelAllOrders,
    CancelOrder,
    EdgeMeasured,
    Envelope,
    ExposureRepaired,
    FreezeTrading,
    FundingSettled,
    LimitsScaled,
    Message,
    MessageError,
    OperatorAction,
    OrderAcknowledged,
    OrderAmended,
    OrderAmendRejected,
    OrderApproved,
    OrderCanceled,
    OrderCancelRejected,
    OrderDenied,
    OrderFilled,
    OrderRejected,
    OrderSubmitted,
    PlaceOrder,
    PositionUpdated,
    ReportEdge,
    SetRiskLimits,
    TradingStateChanged,
    UnfreezeTrading,
)

D = Decimal
COID = ClientOrderId("mmx-abc123")
BTC = Symbol("BTCUSDT")
REF: dict[str, Any] = {"client_order_id": COID, "symbol": BTC, "ts_event_ns": 7}
PLACE = PlaceOrder(
    client_order_id=COID,
    symbol=BTC,
    side=Side.BUY,
    order_type=OrderType.LIMIT,
    qty=D("0.001"),
    price=D("50000.10"),
)
FILLED = OrderFilled(
    client_order_id=COID,
    venue_order_id=VenueOrderId("v-1"),
    symbol=BTC,
    exec_id=ExecId("x-1"),
    side=Side.SELL,
    qty=D("0.001"),
    price=D("50000.1"),
    fee=D("-0.0000125"),
    is_maker=True,
    ts_event_ns=7,
)

SAMPLES: list[Message] = [
    PLACE,
    PLACE.model_copy(update={"order_type": OrderType.MARKET, "price": None}),
    AmendOrder(client_order_id=COID, symbol=BTC, price=D("49999.9")),
    CancelOrder(client_order_id=COID, symbol=BTC),
    CancelAllOrders(symbol=BTC),
    FreezeTrading(reason="edge collapse", actor="risk"),
    UnfreezeTrading(reason="resolved", actor="alice", force=True),
    ReportEdge(symbol=BTC, edge_bps=D("-3.25"), source="quoter-1"),
    SetRiskLimits(limits=RiskLimits(max_inventory_usd=D("5000")), actor="alice"),
    OperatorAction(
        action="cancel_all",
        actor="alice [3f9a2b1c0d4e]",
        reason="flatten",
        details={"symbol": "BTCUSDT", "category": "linear", "openOrders": "2"},
    ),
    ExposureRepaired(symbol=BTC, kind="order", key="o-1", recorded=D("0"), expected=D("500.5")),
    LimitsScaled(
        symbol="BTCUSDT",
        factors={"max_inventory_usd": D("0.25")},
        limits={"max_inventory_usd": D("2500")},
        reason="volatility x0.25",
    ),
    OrderApproved(order=PLACE),
    OrderDenied(**REF, reason="inventory BTCUSDT would be 12000 USD, limit 10000 USD"),
    OrderSubmitted(**REF),
    OrderAcknowledged(**REF, venue_order_id=VenueOrderId("v-1")),
    OrderRejected(**REF, code=110094, reason="Order does not meet minimum order value 5USDT"),
    FILLED,
    FILLED.model_copy(update={"client_order_id": None}),
    FundingSettled(
        symbol=BTC,
        exec_id=ExecId("f-1"),
        amount=D("-0.01495"),
        rate=D("0.0001"),
        position_qty=D("-0.05"),
        mark_price=D("2990"),
        ts_event_ns=8,
    ),
    OrderCanceled(**REF, reason="CancelByUser"),
    OrderCancelRejected(**REF, code=110001, reason="too late to cancel"),
    OrderAmended(**REF, qty=D("0.002"), price=D("49000")),
    OrderAmendRejected(**REF, code=110001, reason="too late to replace"),
    PositionUpdated.from_position(Position(symbol=BTC), D("50000")),
    TradingStateChanged(state=TradingState.FROZEN, reason="edge collapse", actor="risk", epoch=3),
    EdgeMeasured(
        symbol=BTC,
        exec_id=ExecId("x-1"),
        side=Side.BUY,
        fill_price=D("99.9"),
        mid=D("100"),
        edge_bps=D("10"),
    ),
]


def test_samples_cover_every_registered_message_type() -> None:
    assert {m.TYPE for m in SAMPLES} == set(MESSAGE_TYPES)


def test_registry_maps_each_type_to_its_class() -> None:
    for name, cls in MESSAGE_TYPES.items():
        assert name == cls.TYPE


def test_declaring_a_message_type_twice_fails_at_declaration() -> None:
    with pytest.raises(TypeError, match="'PlaceOrder' is declared twice"):

        class Impostor(Message):
            TYPE = "PlaceOrder"

    assert MESSAGE_TYPES["PlaceOrder"] is PlaceOrder


@pytest.mark.parametrize("message", SAMPLES, ids=lambda m: m.TYPE)
def test_envelope_json_round_trip_returns_an_equal_message(message: Message) -> None:
    envelope = Envelope.wrap(message)
    again = Envelope.from_json(envelope.to_json())
    assert again == envelope
    assert again.open() == message
    assert type(again.open()) is type(message)


def test_envelope_keeps_decimals_exact_including_their_exponent() -> None:
    qty = D("0.100000000000000000000000000000001")
    envelope = Envelope.wrap(PLACE.model_copy(update={"qty": qty, "price": D("50000.10")}))
    opened = Envelope.from_json(envelope.to_json()).open_as(PlaceOrder)
    assert str(opened.qty) == "0.100000000000000000000000000000001"
    assert str(opened.price) == "50000.10"


def test_envelope_json_carries_decimals_as_strings() -> None:
    payload = json.loads(Envelope.wrap(FILLED).to_json())["payload"]
    assert payload["qty"] == "0.001"
    assert payload["fee"] == "-0.0000125"


def test_envelope_wrap_sets_type_version_ids_and_time() -> None:
    envelope = Envelope.wrap(PLACE, ts_ns=123)
    assert (envelope.type, envelope.schema_version, envelope.ts_ns) == ("PlaceOrder", 1, 123)
    assert str(envelope.correlation_id) == str(envelope.event_id)  # a new chain starts here


def test_envelope_wrap_keeps_the_given_correlation_and_event_id() -> None:
    envelope = Envelope.wrap(PLACE, CorrelationId("corr-1"), event_id=EventId("ev-1"), ts_ns=1)
    assert (envelope.correlation_id, envelope.event_id) == ("corr-1", "ev-1")
    assert Envelope.wrap(PLACE).event_id != Envelope.wrap(PLACE).event_id


def test_envelope_open_unknown_type_raises_message_error() -> None:
    envelope = Envelope.wrap(PLACE).model_copy(update={"type": "Teleport"})
    with pytest.raises(MessageError, match="unknown message type 'Teleport'"):
        envelope.open()


def test_envelope_open_unsupported_schema_version_raises_message_error() -> None:
    envelope = Envelope.wrap(PLACE).model_copy(update={"schema_version": 2})
    with pytest.raises(MessageError, match="PlaceOrder schema version 2 is not supported"):
        envelope.open()


def test_envelope_open_as_the_wrong_class_raises_message_error() -> None:
    with pytest.raises(MessageError, match="expected CancelOrder, was PlaceOrder"):
        Envelope.wrap(PLACE).open_as(CancelOrder)


def test_envelope_refuses_unknown_fields() -> None:
    raw = json.loads(Envelope.wrap(PLACE).to_json())
    with pytest.raises(ValidationError, match="extra_forbidden"):
        Envelope.from_json(json.dumps(raw | {"surprise": 1}))


def test_envelope_open_refuses_unknown_payload_fields() -> None:
    raw = json.loads(Envelope.wrap(PLACE).to_json())
    raw["payload"]["surprise"] = 1
    with pytest.raises(ValidationError, match="extra_forbidden"):
        Envelope.from_json(json.dumps(raw)).open()


def test_envelope_open_refuses_float_numbers_in_the_payload() -> None:
    raw = json.loads(Envelope.wrap(PLACE).to_json())
    raw["payload"]["qty"] = 0.001
    with pytest.raises(ValidationError, match=r"PlaceOrder.qty is a float"):
        Envelope.from_json(json.dumps(raw)).open()


def test_message_refuses_floats_even_nested() -> None:
    with pytest.raises(ValidationError, match="float"):
        PlaceOrder.model_validate(PLACE.model_dump() | {"qty": 0.1})
    with pytest.raises(ValidationError, match=r"SetRiskLimits.limits.max_inventory_usd"):
        SetRiskLimits.model_validate({"limits": {"max_inventory_usd": 5000.0}, "actor": "a"})


def test_message_refuses_unknown_fields() -> None:
    with pytest.raises(ValidationError, match="extra_forbidden"):
        CancelOrder.model_validate({"client_order_id": COID, "symbol": BTC, "surprise": 1})


def test_message_is_frozen() -> None:
    with pytest.raises(ValidationError, match="frozen"):
        PLACE.qty = D(2)  # type: ignore[misc]


@pytest.mark.parametrize(
    "fields",
    [
        {"client_order_id": "has spaces"},
        {"client_order_id": "x" * 37},
        {"symbol": "btcusdt"},
        {"qty": D(0)},
        {"price": D(-1)},
        {"price": None},  # a Limit needs one
        {"order_type": OrderType.MARKET},  # a Market has none
    ],
)
def test_place_order_invalid_fields_are_refused(fields: dict[str, Any]) -> None:
    with pytest.raises(ValidationError):
        PlaceOrder.model_validate(PLACE.model_dump() | fields)


def test_amend_order_needs_a_change() -> None:
    with pytest.raises(ValidationError, match="new qty or a new price"):
        AmendOrder(client_order_id=COID, symbol=BTC)


def test_freeze_needs_a_reason() -> None:
    with pytest.raises(ValidationError):
        FreezeTrading(reason="", actor="alice")


def test_place_order_to_order_is_a_pending_record() -> None:
    order = PLACE.to_order(ts_ns=5)
    assert (order.status, order.qty, order.price, order.created_ts_ns) == (
        OrderStatus.PENDING,
        D("0.001"),
        D("50000.10"),
        5,
    )


def test_place_order_to_intent_carries_what_risk_checks() -> None:
    intent = PLACE.to_intent()
    assert (intent.symbol, intent.side, intent.qty, intent.price) == (
        BTC,
        Side.BUY,
        D("0.001"),
        D("50000.10"),
    )


def test_order_filled_to_fill_keeps_every_field() -> None:
    assert FILLED.to_fill() == Fill(
        exec_id=ExecId("x-1"),
        symbol=BTC,
        side=Side.SELL,
        qty=D("0.001"),
        price=D("50000.1"),
        fee=D("-0.0000125"),
        ts_ns=7,
        client_order_id=COID,
        is_maker=True,
    )


def test_position_updated_from_position_marks_unrealized_pnl() -> None:
    position = apply_fill(Position(symbol=BTC), FILLED.to_fill())
    update = PositionUpdated.from_position(position, D("49000.1"))
    assert (update.qty, update.avg_entry_price, update.unrealized_pnl) == (
        D("-0.001"),
        D("50000.1"),
        D("1.000"),
    )
    assert PositionUpdated.from_position(position).unrealized_pnl is None


def test_message_refuses_floats_hidden_in_a_list() -> None:
    with pytest.raises(ValidationError, match=r"PlaceOrder.qty\[0\] is a float"):
        PlaceOrder.model_validate(PLACE.model_dump() | {"qty": [0.1]})


def test_raw_json_is_the_wire_form_of_wrap_for_an_already_checked_payload() -> None:
    command = Envelope.wrap(PLACE)
    raw = Envelope.raw_json(
        OrderApproved,
        {"order": command.payload},
        event_id=command.event_id,
        correlation_id=command.correlation_id,
        ts_ns=123,
    )
    wrapped = Envelope.wrap(
        OrderApproved(order=PLACE), command.correlation_id, event_id=command.event_id, ts_ns=123
    )
    assert Envelope.from_json(raw) == Envelope.from_json(wrapped.to_json())
    assert Envelope.from_json(raw).open() == OrderApproved(order=PLACE)
