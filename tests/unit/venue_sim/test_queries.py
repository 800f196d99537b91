"""Read-side queries: open/closed orders, history, executions, positions, pagination."""

from __future__ import annotations

from decimal import Decimal

import pytest

from libs.common.domain.enums import Category
from services.venue_sim.engine import Exchange, SimError, queries

from .helpers import FakeClock, limit, market

D = Decimal
LIN = Category.LINEAR


def test_realtime_lists_open_orders_newest_first(ex: Exchange, clock: FakeClock) -> None:
    ids = []
    for i in range(3):
        clock.advance()
        ids.append(limit(ex, "Buy", "0.01", f"5900{i}").order_id)
    market(ex, "Buy", "0.01")
    page, cursor = queries.orders(ex, LIN, {"symbol": "BTCUSDT"}, history=False)
    assert [o.order_id for o in page] == ids[::-1]
    assert cursor == ""


def test_open_only_1_lists_closed_orders(ex: Exchange) -> None:
    resting = limit(ex, "Buy", "0.01", "59000")
    filled = market(ex, "Buy", "0.01")
    page, _ = queries.orders(ex, LIN, {"symbol": "BTCUSDT", "openOnly": "1"}, history=False)
    assert [o.order_id for o in page] == [filled.order_id]
    assert resting not in page


def test_lookup_by_id_returns_closed_orders_too(ex: Exchange) -> None:
    filled = market(ex, "Buy", "0.01", orderLinkId="gone")
    page, _ = queries.orders(ex, LIN, {"orderLinkId": "gone"}, history=False)
    assert page == [filled]
    page, _ = queries.orders(
        ex, LIN, {"orderId": filled.order_id, "symbol": "ETHUSDT"}, history=False
    )
    assert page == []


def test_linear_realtime_needs_a_symbol_or_coin(ex: Exchange) -> None:
    with pytest.raises(SimError) as info:
        queries.orders(ex, LIN, {}, history=False)
    assert info.value.code == 10001
    page, _ = queries.orders(ex, LIN, {"settleCoin": "USDT"}, history=False)
    assert page == []


def test_cursor_pagination_visits_every_order_once(ex: Exchange) -> None:
    placed = [limit(ex, "Buy", "0.01", str(59000 + i)).order_id for i in range(7)]
    seen: list[str] = []
    params = {"symbol": "BTCUSDT", "limit": "3"}
    while True:
        page, cursor = queries.orders(ex, LIN, params, history=False)
        seen += [o.order_id for o in page]
        if not cursor:
            break
        params["cursor"] = cursor
    assert seen == placed[::-1]


def test_history_filters_by_status(ex: Exchange) -> None:
    limit(ex, "Buy", "0.01", "59000")
    filled = market(ex, "Buy", "0.01")
    page, _ = queries.orders(ex, LIN, {"orderStatus": "Filled"}, history=True)
    assert page == [filled]
    page, _ = queries.orders(ex, LIN, {}, history=True)
    assert len(page) == 2


def test_limit_is_bounded(ex: Exchange) -> None:
    with pytest.raises(SimError):
        queries.orders(ex, LIN, {"symbol": "BTCUSDT", "limit": "51"}, history=False)


def test_executions_newest_first_with_filters_and_cursor(ex: Exchange, clock: FakeClock) -> None:
    first = market(ex, "Buy", "0.01", orderLinkId="e1")
    clock.advance(10)
    second = market(ex, "Buy", "0.02")
    clock.advance(10)
    market(ex, "Buy", "0.1", symbol="ETHUSDT")
    page, _ = queries.executions(ex, LIN, {"symbol": "BTCUSDT"})
    assert [e.order_id for e in page] == [second.order_id, first.order_id]
    page, _ = queries.executions(ex, LIN, {"orderLinkId": "e1"})
    assert [e.order_id for e in page] == [first.order_id]
    page, cursor = queries.executions(ex, LIN, {"limit": "2"})
    assert len(page) == 2 and cursor
    rest, cursor = queries.executions(ex, LIN, {"limit": "2", "cursor": cursor})
    assert [e.order_id for e in rest] == [first.order_id] and cursor == ""
    page, _ = queries.executions(ex, LIN, {"startTime": str(clock.now - 5)})
    assert len(page) == 1


def test_position_row_even_when_flat(ex: Exchange) -> None:
    [row] = queries.positions(ex, LIN, {"symbol": "ETHUSDT"})
    assert row.size == 0
    assert queries.positions(ex, LIN, {"settleCoin": "USDT"}) == []
    market(ex, "Sell", "0.01")
    [row] = queries.positions(ex, LIN, {"settleCoin": "USDT"})
    assert row.size == D("-0.01")
    with pytest.raises(SimError):
        queries.positions(ex, Category.SPOT, {"symbol": "BTCUSDT"})
