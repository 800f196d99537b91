"""A clientOrderId's name (`orderLinkId` too), its terms, and the outcome its record tells."""

from __future__ import annotations

from decimal import Decimal
from typing import Any

import pytest
from pydantic import ValidationError

from libs.common.domain.ids import ClientOrderId
from libs.common.domain.orders import Order, admit, reject
from libs.common.stores.idempotency import InMemoryFirstValueStore
from services.gateway import terms
from services.gateway.errors import Conflict
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


async def test_keep_refuses_other_terms_and_leaves_nothing_of_the_refused_call() -> None:
    store = InMemoryFirstValueStore()
    assert await terms.keep(store, [command("c-1")]) == [True]
    assert await terms.keep(store, [command("c-1")]) == [False]

    with pytest.raises(Conflict) as refused:
        await terms.keep(store, [command("c-2"), command("c-1", orderType="Market", price=None)])

    assert [d["field"] for d in refused.value.details] == ["orderType", "price"]
    assert "clientOrderId c-1 is taken by an order with other terms" in refused.value.message
    assert await terms.keep(store, [command("c-2", side="Sell")]) == [True]  # c-2 was let go


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
