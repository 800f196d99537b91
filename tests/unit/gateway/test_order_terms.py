"""A clientOrderId's name (`orderLinkId` too), its terms, and the outcome its record tells."""

from __future__ import annotations

from decimal import Decimal
from typing import Any

import pytest
from pydantic import ValidationError

from libs.common.domain.ids import ClientOrderId
from libs.common.domain.orders import (
    Order,
    admit,
    apply_ack,
    apply_amend,
    reject,
    request_amend,
    start_send,
)
from services.gateway import terms
from services.gateway.placing import outcome_of
from services.gateway.schemas import OrderBody, Outcome


def body(**changes: Any) -> dict[str, Any]:
    fields: dict[str, Any] = {
        "symbol": "BTCUSDT",
        "side": "Buy",
        "orderType": "Limit",
        "qty": "0.010",
        "price": "65000.5",
    }
    return {k: v for k, v in (fields | changes).items() if v is not None}


def command(cid: str = "c-1", **changes: Any) -> Any:
    return OrderBody.model_validate(body(**changes)).to_command(ClientOrderId(cid))


@pytest.mark.parametrize(
    "data",
    [
        body(orderLinkId="bb-1"),
        body(clientOrderId="bb-1"),
        body(clientOrderId="bb-1", orderLinkId="bb-1"),
    ],
)
def test_order_link_id_is_the_client_order_id(data: dict[str, Any]) -> None:
    assert OrderBody.model_validate(data).client_order_id == "bb-1"


def test_different_client_order_id_and_order_link_id_are_refused_saying_so() -> None:
    with pytest.raises(ValidationError, match="clientOrderId 'a-1' and orderLinkId 'b-1' differ"):
        OrderBody.model_validate(body(clientOrderId="a-1", orderLinkId="b-1"))


def test_an_invalid_order_link_id_is_refused_as_a_client_order_id() -> None:
    with pytest.raises(ValidationError, match="clientOrderId 'a b' is invalid"):
        OrderBody.model_validate(body(orderLinkId="a b"))


def test_terms_compare_numbers_as_values() -> None:
    same = terms.differences(
        terms.terms_of(command()), terms.terms_of(command(qty="0.01", price="65000.50"))
    )
    other = terms.differences(
        terms.terms_of(command()),
        terms.terms_of(command(reduceOnly=True, price="1", symbol="ETHUSDT")),
    )

    assert same == []
    assert other == ["symbol", "price", "reduceOnly"]


def test_the_requested_terms_still_match_after_the_router_rounded_and_an_amend() -> None:
    placed = command(qty="0.0104", price="65000.55")
    record = placed.to_order(1)
    record = start_send(record, Decimal("0.010"), Decimal("65000.5"), ts_ns=2)
    record = apply_ack(record, None, ts_ns=3)
    record = request_amend(record, Decimal("0.02"), Decimal("64000"), ts_ns=4)
    record = apply_amend(record, Decimal("0.02"), Decimal("64000"), ts_ns=5)

    same = terms.clashes([command(qty="0.01040", price="65000.550")], [(record, False)])
    as_recorded = terms.clashes([command(qty="0.02", price="64000")], [(record, False)])

    assert same == []
    assert [terms.differences(taken, asked) for _, taken, asked in as_recorded] == [
        ["qty", "price"]
    ]
    assert as_recorded[0][1]["qty"] == "0.0104"  # the 409 tells the terms it was placed with


def test_a_record_without_requested_terms_is_compared_without_qty_and_price() -> None:
    old = command().to_order(1).model_copy(update={"requested_qty": None, "requested_price": None})

    rounded = terms.clashes([command(qty="0.0104", price="1")], [(old, False)])
    other_side = terms.clashes([command(side="Sell", qty="0.0104")], [(old, False)])

    assert rounded == []
    assert [terms.differences(t, r) for _, t, r in other_side] == [["side"]]


def test_an_order_created_by_the_call_is_no_clash_and_a_409_names_the_placed_ones() -> None:
    created = command("c-1").to_order(1)
    taken = command("c-2").to_order(1)
    asked = [command("c-1"), command("c-2", orderType="Market", price=None)]

    found = terms.clashes(asked, [(created, True), (taken, False)])
    refused = terms.taken_with_other_terms(found, placed=["c-1"])

    assert [cid for cid, _, _ in found] == ["c-2"]
    assert [d["field"] for d in refused.details] == ["orderType", "price"]
    assert "clientOrderId c-2 is taken by an order with other terms" in refused.message
    assert refused.message.endswith("order(s) c-1 of this batch were placed")


def pending() -> Order:
    return command().to_order(1)


@pytest.mark.parametrize(
    ("order", "expected"),
    [
        (pending(), (Outcome.PENDING, None)),
        (reject(pending(), "inventory over", ts_ns=2), (Outcome.DENIED, "inventory over")),
        (
            reject(admit(pending(), Decimal(65000), ts_ns=2), "venue 110007", ts_ns=3),
            (Outcome.REJECTED, "venue 110007"),
        ),
    ],
)
def test_a_stored_order_tells_its_first_outcome_and_reason(
    order: Order, expected: tuple[Outcome, str | None]
) -> None:
    assert outcome_of(order) == expected
