"""EdgeMeasured shows its edge in bps to 2 decimals, however many digits the division gave."""

from __future__ import annotations

from decimal import Decimal

from libs.common.display import bps as shown_bps
from libs.common.domain.enums import Side
from libs.common.domain.ids import ExecId, Symbol
from libs.common.domain.risk_checks import measured_edge_bps
from libs.common.messages import EdgeMeasured


def test_a_measured_edge_is_shown_with_2_places_rounded_half_even() -> None:
    exact = measured_edge_bps(Side.BUY, Decimal("60000.1"), Decimal("60003.3"))
    message = EdgeMeasured(symbol=Symbol("BTCUSDT"), exec_id=ExecId("e1"), side=Side.BUY,
                           fill_price=Decimal("60000.1"), mid=Decimal("60003.3"),
                           edge_bps=shown_bps(exact))  # fmt: skip

    assert len(str(exact)) > 20  # what the event carried before
    assert message.model_dump(mode="json")["edge_bps"] == "0.53"
    assert shown_bps(Decimal("0.125")) == Decimal("0.12")
    assert shown_bps(Decimal("-40")) == Decimal("-40.00")
