"""How the `/v1` answers show computed numbers: fixed places, half-even, plain strings."""

from __future__ import annotations

import json
from decimal import Decimal

import pytest

from libs.common.display import bps, money, plain, ratio
from libs.common.domain.enums import OrderType, Side
from libs.common.domain.ids import ClientOrderId, ExecId, Symbol, VenueOrderId
from libs.common.domain.orders import Order, apply_ack, apply_fill
from libs.common.domain.positions import Fill, Position, fold_fills
from libs.common.stores.marks import Mark
from services.gateway.schemas import OrderView
from services.gateway.schemas_positions import PositionList, PositionView
from services.gateway.schemas_risk import Utilisation

BTC, ETH = Symbol("BTCUSDT"), Symbol("ETHUSDT")


def fill(n: int, side: Side, qty: str, price: str, symbol: Symbol = BTC) -> Fill:
    return Fill(exec_id=ExecId(f"e{n}"), symbol=symbol, side=side, qty=Decimal(qty),
                price=Decimal(price), fee=Decimal("0.0123456789"), ts_ns=n)  # fmt: skip


def wire(model: PositionView | PositionList | Utilisation | OrderView) -> dict[str, object]:
    return json.loads(model.model_dump_json(by_alias=True))


@pytest.mark.parametrize(
    ("value", "shown"),
    [
        (Decimal("-0.52448699999999999999999999"), "-0.52448700"),
        (Decimal("0.000000005"), "0.00000000"),  # half to even: down to 0
        (Decimal("0.000000015"), "0.00000002"),  # half to even: up to 2
        (Decimal(0), "0.00000000"),
        (Decimal("97"), "97.00000000"),
        (Decimal("1E+3"), "1000.00000000"),
    ],
)
def test_money_has_exactly_8_places_rounded_half_even(value: Decimal, shown: str) -> None:
    assert plain(money(value)) == shown


def test_bps_have_2_places_and_ratios_4() -> None:
    assert plain(bps(Decimal("-39.99999999999999999999999999"))) == "-40.00"
    assert plain(bps(Decimal("12.345"))) == "12.34"  # half to even
    assert plain(ratio(Decimal("0.60005"))) == "0.6000"
    assert plain(ratio(Decimal("1E-5"))) == "0.0000"


def test_a_vwap_entry_shows_8_places_and_the_store_keeps_it_exact() -> None:
    position = fold_fills(BTC, [fill(1, Side.BUY, "0.001", "60000"),
                                fill(2, Side.BUY, "0.002", "60001")])  # fmt: skip
    mark = Mark(symbol=BTC, mark=Decimal("59999.9"), ts_ns=1, seen_ns=1)

    shown = wire(PositionView.of(position, mark))

    assert position.avg_entry_price == Decimal("60000.66666666666666666666667")  # exact-ish
    assert shown["avgEntryPrice"] == "60000.66666667"
    assert shown["unrealizedPnl"] == "-0.00230000"
    assert shown["qty"] == "0.00300000"
    assert shown["mark"] == "59999.90000000"


def test_every_position_row_shows_each_field_with_the_same_places() -> None:
    rows = [
        PositionView.of(fold_fills(BTC, [fill(1, Side.BUY, "0.5", "60000.5")]), None),
        PositionView.of(fold_fills(ETH, [fill(2, Side.SELL, "12", "3000", ETH)]), None),
        PositionView.of(Position(symbol=Symbol("SOLUSDT")), None),
    ]
    listing = wire(PositionList(positions=rows, net_pnl=sum((r.net_pnl for r in rows),
                                                             Decimal(0))))  # fmt: skip

    positions = listing["positions"]
    assert isinstance(positions, list)
    for field in ("qty", "realizedPnl", "feesPaid", "netPnl"):
        places = {len(str(p[field]).split(".")[1]) for p in positions}
        assert places == {8}, (field, [p[field] for p in positions])
    assert [p["avgEntryPrice"] for p in positions] == ["60000.50000000", "3000.00000000", None]
    assert listing["netPnl"] == "-0.02469136"


def test_utilisation_ratio_shows_4_places() -> None:
    row = Utilisation(limit="max_inventory_usd", symbol="BTCUSDT", limit_value=Decimal(10_000),
                      ratio=Decimal(repr(0.6)))  # fmt: skip

    assert wire(row)["ratio"] == "0.6000"


def test_an_order_average_fill_price_shows_8_places() -> None:
    order = Order(client_order_id=ClientOrderId("c-1"), symbol=BTC, side=Side.BUY,
                  order_type=OrderType.LIMIT, qty=Decimal("0.003"), price=Decimal(60001),
                  created_ts_ns=1, updated_ts_ns=1)  # fmt: skip
    order = apply_ack(order, VenueOrderId("v-1"), ts_ns=2)
    order = apply_fill(order, ExecId("e1"), Decimal("0.001"), Decimal(60000), ts_ns=3)
    order = apply_fill(order, ExecId("e2"), Decimal("0.002"), Decimal(60001), ts_ns=4)

    shown = wire(OrderView.of(order))

    assert (shown["avgFillPrice"], shown["price"], shown["qty"]) == (
        "60000.66666667",
        "60001",
        "0.003",
    )
