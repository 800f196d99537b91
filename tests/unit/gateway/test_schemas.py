"""Request bodies of the gateway: what they accept, refuse, and say when refusing."""

from __future__ import annotations

from decimal import Decimal
from typing import Any

import pytest
from pydantic import ValidationError

from libs.common.domain.enums import OrderType, Side
from libs.common.domain.ids import ClientOrderId
from libs.common.domain.limit_scaling import ScalingRule, VolatilityRule, Window
from libs.common.domain.risk_checks import RiskLimits
from services.gateway.routing import loads_exact
from services.gateway.schemas import AmendBody, OrderBody
from services.gateway.schemas_risk import Limits


def body(**changes: Any) -> dict[str, Any]:
    fields: dict[str, Any] = {
        "symbol": "BTCUSDT",
        "side": "Sell",
        "orderType": "Limit",
        "qty": "0.001",
        "price": "70000",
    }
    return {k: v for k, v in (fields | changes).items() if v is not None}


def error_of(data: dict[str, Any], model: type[OrderBody] | type[AmendBody] = OrderBody) -> str:
    with pytest.raises(ValidationError) as invalid:
        model.model_validate(data)
    return str(invalid.value)


def test_order_body_becomes_a_place_order_command() -> None:
    command = OrderBody.model_validate(body(reduceOnly=True)).to_command(ClientOrderId("c-1"))

    assert (command.client_order_id, command.side, command.order_type) == (
        "c-1",
        Side.SELL,
        OrderType.LIMIT,
    )
    assert (command.qty, command.price, command.reduce_only) == (
        Decimal("0.001"),
        Decimal(70000),
        True,
    )


def test_order_body_keeps_exact_json_numbers() -> None:
    data = loads_exact(b'{"symbol":"BTCUSDT","side":"Buy","orderType":"Limit","qty":0.1,"price":1}')

    parsed = OrderBody.model_validate(data)

    assert (parsed.qty, parsed.price) == (Decimal("0.1"), Decimal(1))
    assert str(parsed.qty) == "0.1"


@pytest.mark.parametrize(
    ("changes", "says"),
    [
        ({"qty": 0.1}, "not an exact number"),
        ({"qty": True}, "not an exact number"),
        ({"qty": "-0.1"}, "must be above 0"),
        ({"qty": "Infinity"}, "finite number"),
        ({"qty": "1e16"}, "out of range"),
        ({"price": "0.0000000000000000001"}, "too many decimal places"),
        ({"price": None}, "a Limit order needs a price"),
        ({"orderType": "Market"}, "a Market order takes no price"),
        ({"clientOrderId": "a/b"}, "expected 1-36 characters of [A-Za-z0-9_-]"),
        ({"symbol": "BTC/USDT"}, "expected 2-30 upper-case letters or digits"),
        ({"order_type": "Limit"}, "Extra inputs are not permitted"),
    ],
)
def test_order_body_refuses_with_a_reason(changes: dict[str, Any], says: str) -> None:
    assert says in error_of(body(**changes))


def test_amend_body_needs_a_change() -> None:
    assert "needs a new qty or a new price" in error_of({}, AmendBody)
    assert AmendBody.model_validate({"qty": "2"}).qty == Decimal(2)


def test_limits_merge_keeps_fields_the_body_left_out() -> None:
    current = RiskLimits(max_inventory_usd=Decimal(7_000), max_orders_per_second=3)

    merged = Limits.model_validate({"maxInventoryUsd": "9000"}).merged_into(current)

    assert (merged.max_inventory_usd, merged.max_orders_per_second) == (Decimal(9000), 3)


def test_limits_show_in_camel_case() -> None:
    shown = Limits.of(RiskLimits(), None).model_dump(mode="json", by_alias=True)

    assert shown["maxInventoryUsd"] == "10000"
    assert shown["maxOpenOrdersPerSymbol"] == 50
    assert shown["scaling"] is None


def test_the_scaling_rule_shows_in_camel_case_and_reads_back_as_the_rule() -> None:
    rule = ScalingRule(
        volatility=VolatilityRule(limits=("max_inventory_usd",), reference_bps=Decimal(30)),
        schedule=(
            Window(
                name="f",
                start="07:45",
                end="08:15",
                factor=Decimal("0.5"),
                limits=("price_band_bps",),
            ),
        ),
    )

    shown = Limits.of(RiskLimits(), rule).model_dump(mode="json", by_alias=True)["scaling"]
    body = Limits.model_validate({"scaling": shown})

    assert shown["volatility"] == {
        "limits": ["max_inventory_usd"],
        "referenceBps": "30",
        "symbolReferenceBps": {},
        "floor": "0.25",
        "halfLifeS": 300,
    }
    assert shown["schedule"][0]["days"] == ["mon", "tue", "wed", "thu", "fri", "sat", "sun"]
    assert body.scaling_rule(None) == rule
    assert Limits.model_validate({}).scaling_rule(rule) == rule  # not named: kept
    assert Limits.model_validate({"scaling": None}).scaling_rule(rule) is None
