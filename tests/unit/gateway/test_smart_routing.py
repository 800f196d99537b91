"""The gateway's reading of a venue's rate-limit headroom for the smart order router."""

from __future__ import annotations

import json
from decimal import Decimal

from services.gateway.smart_routing import rate_headroom


def entry(group: str, limit: int, remaining: int) -> bytes:
    fields = {"group": group, "limit": limit, "remaining": remaining, "updated_ms": 1}
    return json.dumps(fields).encode()


def test_rate_headroom_is_the_least_fraction_left_of_the_order_quotas() -> None:
    board = {
        b"/v5/order/create": entry("trade", 10, 7),
        b"/v5/order/create-batch": entry("batch", 10, 2),
        b"/v5/order/realtime": entry("query", 50, 0),  # a read quota: not an order's
    }

    assert rate_headroom(board) == Decimal("0.2")


def test_no_figures_leave_the_whole_budget_and_an_overdrawn_window_none() -> None:
    assert rate_headroom({}) == 1
    assert rate_headroom({"/fapi/v1/order": entry("trade", 300, -5)}) == 0
