"""Binance's user-data events of one account, from what an operation changed.

Per order touched, in this order: `ORDER_TRADE_UPDATE` x=NEW when the operation created it,
x=AMENDMENT when it modified it, x=TRADE per fill (with the trade's `t`, `l`, `L`, `n`, `N`,
`m`, `rp`, and the running `z` / `ap`), then x=CANCELED, EXPIRED or REJECTED
(whichever final status other than FILLED it reached) when it ended without filling in
full. After the orders, `ACCOUNT_UPDATE` (reason ORDER, or FUNDING_FEE) when the account
had fills or a funding settlement: its USDT balance and the positions of the symbols
concerned. Resting and cancelling alone change no balance, so they send none.
"""

from __future__ import annotations

from collections.abc import Callable, Collection
from typing import Any

from libs.common.domain.enums import Category, Side
from services.venue_sim.binance.wire import FINAL, SIDE_NAMES, TIF_NAMES, TYPE_NAMES, number, status
from services.venue_sim.binance.wire_account import symbol_view
from services.venue_sim.engine import Changes, Exchange, Execution, SimOrder
from services.venue_sim.engine.account import SETTLE
from services.venue_sim.engine.model import ZERO
from services.venue_sim.wire import fmt, num

Json = dict[str, Any]
MarginTypeOf = Callable[[str, str], str]
"""(uid, symbol) -> "cross" / "isolated"."""


def _notional(ex: Exchange, uid: str, symbol: str, side: Side) -> str:
    open_orders = ex.ledger(uid).open_orders.values()
    total = sum(
        (o.leaves * o.price for o in open_orders if o.symbol == symbol and o.side is side), ZERO
    )
    return num(total)


class _Running:
    """An order's filled quantity and value as its fills of one operation are replayed."""

    def __init__(self, order: SimOrder, fills: list[Execution]) -> None:
        self.qty = order.cum_qty - sum((e.qty for e in fills), ZERO)
        self.value = order.cum_value - sum((e.value for e in fills), ZERO)

    def add(self, execution: Execution) -> None:
        """Count one more fill."""
        self.qty += execution.qty
        self.value += execution.value

    @property
    def avg(self) -> str:
        """The average fill price so far ("0" before any)."""
        return num(self.value / self.qty) if self.qty else "0"


def _order_event(
    ex: Exchange, order: SimOrder, kind: str, state: str, running: _Running, stp: str, now: int
) -> Json:
    return {
        "s": order.symbol,
        "c": order.link_id,
        "S": SIDE_NAMES[order.side],
        "o": TYPE_NAMES[order.order_type],
        "f": TIF_NAMES[order.tif],
        "q": fmt(order.qty),
        "p": fmt(order.price) if TYPE_NAMES[order.order_type] == "LIMIT" else "0",
        "ap": running.avg,
        "sp": "0",
        "x": kind,
        "X": state,
        "i": number(order.order_id),
        "l": "0",
        "z": fmt(running.qty),
        "L": "0",
        "N": SETTLE,
        "n": "0",
        "T": now,
        "t": 0,
        "b": _notional(ex, order.uid, order.symbol, Side.BUY),
        "a": _notional(ex, order.uid, order.symbol, Side.SELL),
        "m": False,
        "R": order.reduce_only,
        "wt": "CONTRACT_PRICE",
        "ot": TYPE_NAMES[order.order_type],
        "ps": "BOTH",
        "cp": False,
        "rp": "0",
        "pP": False,
        "si": 0,
        "ss": 0,
        "V": stp,
        "pm": "NONE",
        "gtd": 0,
        "er": "0",
    }


def order_updates(
    ex: Exchange,
    changes: Changes,
    uid: str,
    created: Collection[str],
    amended: Collection[str],
    stp_of: Callable[[str], str],
    now: int,
) -> list[Json]:
    """The account's `ORDER_TRADE_UPDATE` events of one operation, in order."""
    events: list[Json] = []
    fills_of: dict[str, list[Execution]] = {}
    for execution in changes.executions:
        fills_of.setdefault(execution.order_id, []).append(execution)
    for order in changes.orders.values():
        if order.uid != uid or order.category is not Category.LINEAR:
            continue
        fills = fills_of.get(order.order_id, [])
        running = _Running(order, fills)
        stp = stp_of(order.order_id)
        objects: list[Json] = []
        if order.order_id in created:
            objects.append(_order_event(ex, order, "NEW", "NEW", running, stp, now))
        if order.order_id in amended:
            state = "PARTIALLY_FILLED" if running.qty else "NEW"
            objects.append(_order_event(ex, order, "AMENDMENT", state, running, stp, now))
        for fill in fills:
            running.add(fill)
            state = "FILLED" if fill.leaves == 0 else "PARTIALLY_FILLED"
            item = _order_event(ex, order, "TRADE", state, running, stp, now)
            item.update(
                {
                    "l": fmt(fill.qty), "L": fmt(fill.price), "n": num(fill.fee),
                    "N": fill.fee_currency, "T": fill.time, "t": number(fill.exec_id),
                    "m": fill.is_maker, "rp": num(fill.exec_pnl),
                }
            )  # fmt: skip
            objects.append(item)
        final = status(order)
        if final in FINAL and final != "FILLED":
            objects.append(_order_event(ex, order, final, final, running, stp, now))
        events += [{"e": "ORDER_TRADE_UPDATE", "E": now, "T": now, "o": o} for o in objects]
    return events


def account_update(
    ex: Exchange, changes: Changes, uid: str, margin_type_of: MarginTypeOf, now: int
) -> Json | None:
    """The account's `ACCOUNT_UPDATE` of one operation, or None when it moved no balance."""
    executions = [e for e in changes.executions if e.uid == uid]
    if not executions:
        return None
    reason = "ORDER" if any(e.exec_type == "Trade" for e in executions) else "FUNDING_FEE"
    ledger = ex.ledger(uid)
    wallet = num(ledger.account.balances[SETTLE])
    positions = []
    for symbol in sorted({e.symbol for e in executions}):
        view = symbol_view(ex, ledger, symbol, margin_type_of(uid, symbol))
        positions.append(
            {
                "s": symbol,
                "pa": fmt(view.amount),
                "ep": num(view.position.avg_price),
                "bep": num(view.break_even),
                "cr": num(view.position.cum_realised),
                "up": num(view.unrealized),
                "mt": view.margin_type,
                "iw": "0",
                "ps": "BOTH",
            }
        )
    balances = [{"a": SETTLE, "wb": wallet, "cw": wallet, "bc": "0"}]
    return {
        "e": "ACCOUNT_UPDATE",
        "E": now,
        "T": now,
        "a": {"m": reason, "B": balances, "P": positions},
    }
