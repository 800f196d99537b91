"""The fault suite's counting (`tests/faults/ledger.py`): each count catches its fault."""

from __future__ import annotations

from decimal import Decimal
from typing import Any

from libs.common.domain.enums import OrderType, Side
from libs.common.domain.ids import ClientOrderId, Symbol
from libs.common.domain.orders import Order, OrderStatus
from tests.faults.ledger import Books, count


def record(cid: str, status: OrderStatus, *, filled: str = "0", reason: str = "") -> Order:
    return Order(
        client_order_id=ClientOrderId(cid),
        symbol=Symbol("BTCUSDT"),
        side=Side.BUY,
        order_type=OrderType.LIMIT,
        qty=Decimal("0.002"),
        price=Decimal("59000"),
        status=status,
        filled_qty=Decimal(filled),
        avg_fill_price=Decimal("59000") if Decimal(filled) else None,
        created_ts_ns=1,
        updated_ts_ns=1,
        reason=reason,
    )


def venue(cid: str, status: str, cum: str = "0") -> dict[str, Any]:
    return {"orderLinkId": cid, "orderStatus": status, "cumExecQty": cum}


def books(
    orders: list[dict[str, Any]],
    records: dict[str, Order | None],
    *,
    executions: list[dict[str, Any]] = (),  # type: ignore[assignment]
    folded: set[str] = frozenset(),  # type: ignore[assignment]
    venue_qty: str = "0",
    engine_qty: str = "0",
) -> Books:
    return Books(
        venue_orders=orders,
        venue_executions=list(executions),
        venue_positions={"BTCUSDT": Decimal(venue_qty)},
        records=records,
        folded=set(folded),
        engine_positions={"BTCUSDT": Decimal(engine_qty)},
    )


def test_agreeing_books_count_nothing() -> None:
    row = count(
        "ok",
        books(
            [venue("a", "New"), venue("b", "Filled", "0.002")],
            {
                "a": record("a", OrderStatus.NEW),
                "b": record("b", OrderStatus.FILLED, filled="0.002"),
                "c": record("c", OrderStatus.REJECTED, reason="inventory"),
            },
            executions=[{"execId": "e1", "orderLinkId": "b"}],
            folded={"e1"},
            venue_qty="0.002",
            engine_qty="0.002",
        ),
        placed=["a", "b", "c"],
    )
    assert row.faults == {}


def test_each_fault_is_counted_in_its_own_column() -> None:
    row = count(
        "bad",
        books(
            [
                venue("dup", "New"),
                venue("dup", "New"),
                venue("orphan", "New"),
                venue("stale", "Cancelled"),
                venue("short", "Filled", "0.002"),
            ],
            {
                "dup": record("dup", OrderStatus.NEW),
                "orphan": record("orphan", OrderStatus.CANCELED),
                "stale": record("stale", OrderStatus.NEW),
                "short": record("short", OrderStatus.FILLED, filled="0.001"),
                "gone": None,
                "silent": record("silent", OrderStatus.REJECTED),
                "told": None,
            },
            executions=[{"execId": "e1", "orderLinkId": "short"}],
            venue_qty="0.002",
        ),
        placed=["dup", "orphan", "stale", "short", "gone", "silent"],
        tried=["told"],
        after_freeze=True,
    )
    assert row.faults == {
        "duplicates": 1,
        "lost": 2,  # "gone" has no record, "silent" was rejected without a reason
        "orphans": 1,
        "left_after_freeze": 3,  # dup twice and the orphan
        "missed_or_double_fills": 2,  # e1 never folded; "short" filled 0.001 of 0.002
        "position_drift": 1,
        "state_mismatch": 1,  # "stale": New in the engine, Cancelled at the venue
    }
