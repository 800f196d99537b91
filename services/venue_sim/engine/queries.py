"""Read-side queries of the private REST API: orders, executions, positions (newest first),
each of one account (`uid`; None is the first account)."""

from __future__ import annotations

from collections.abc import Iterable, Iterator
from typing import TypeVar

from libs.common.domain.enums import Category
from services.venue_sim.engine import errors, validate
from services.venue_sim.engine.exchange import Exchange
from services.venue_sim.engine.model import Execution, Position, SimOrder
from services.venue_sim.engine.validate import Params

RECENT_CLOSED = 500
T = TypeVar("T", SimOrder, Execution)


def integer(params: Params, name: str, default: int, low: int, high: int) -> int:
    """An integer parameter within [low, high]."""
    value = params.get(name)
    if value is None or value == "":
        return default
    try:
        number = int(value)
    except (TypeError, ValueError):
        raise errors.params(f"params error: {name} {value!r} is not an integer") from None
    if not low <= number <= high:
        raise errors.params(f"params error: {name} {number} is outside [{low}, {high}]")
    return number


def _cursor(params: Params) -> int | None:
    value = validate.text(params, "cursor")
    if not value:
        return None
    if not value.isdigit():
        raise errors.params(f"params error: cursor {value!r} is invalid")
    return int(value)


def _page(items: Iterable[T], limit: int) -> tuple[list[T], str]:
    """Take `limit` items; the cursor names the last one when more follow."""
    page: list[T] = []
    for item in items:
        if len(page) == limit:
            return page, str(page[-1].seq)
        page.append(item)
    return page, ""


def _coin_filter(ex: Exchange, category: Category, params: Params) -> tuple[str, str, str]:
    symbol = validate.text(params, "symbol")
    base = validate.text(params, "baseCoin")
    settle = validate.text(params, "settleCoin")
    if symbol:
        ex.market(category, symbol)
    return symbol, base, settle


def _matches(ex: Exchange, order: SimOrder, symbol: str, base: str, settle: str) -> bool:
    if symbol:
        return order.symbol == symbol
    rules = ex.markets[(order.category, order.symbol)].spec.rules
    return (not base or rules.base_coin == base) and (not settle or rules.quote_coin == settle)


def orders(
    ex: Exchange, category: Category, params: Params, *, history: bool, uid: str | None = None
) -> tuple[list[SimOrder], str]:
    """GET /v5/order/realtime (history=False) or /v5/order/history: (page, nextPageCursor)."""
    ledger = ex.ledger(uid)
    symbol, base, settle = _coin_filter(ex, category, params)
    order_id = validate.text(params, "orderId")
    link = validate.text(params, "orderLinkId")
    limit = integer(params, "limit", 20, 1, 50)
    cursor = _cursor(params)
    if order_id or link:
        found = ledger.find(category, order_id, link)
        hit = found is not None and _matches(ex, found, symbol, base, settle)
        return ([found] if hit and found is not None else []), ""
    if not history and category is Category.LINEAR and not (symbol or base or settle):
        raise errors.params("params error: symbol, baseCoin or settleCoin is required")
    status = validate.text(params, "orderStatus")
    start = integer(params, "startTime", 0, 0, 2**63)
    end = integer(params, "endTime", 2**63, 0, 2**63)

    def selected() -> Iterator[SimOrder]:
        if history:
            source: Iterable[SimOrder] = reversed(ledger.orders.values())
        elif integer(params, "openOnly", 0, 0, 2) == 0:
            source = reversed(ledger.open_orders.values())
        else:
            source = (o for o in reversed(ledger.orders.values()) if not o.is_open)
        closed_seen = 0
        for order in source:
            if cursor is not None and order.seq >= cursor:
                continue
            if not history and not order.is_open:
                closed_seen += 1
                if closed_seen > RECENT_CLOSED:
                    return
            if order.category is not category or not _matches(ex, order, symbol, base, settle):
                continue
            if status and order.status != status:
                continue
            if history and not start <= order.created <= end:
                continue
            yield order

    return _page(selected(), limit)


def executions(
    ex: Exchange, category: Category, params: Params, uid: str | None = None
) -> tuple[list[Execution], str]:
    """GET /v5/execution/list: executions (fills, funding), newest first; `execType` picks
    one kind."""
    ledger = ex.ledger(uid)
    symbol, base, _ = _coin_filter(ex, category, params)
    order_id = validate.text(params, "orderId")
    link = validate.text(params, "orderLinkId")
    limit = integer(params, "limit", 50, 1, 100)
    cursor = _cursor(params)
    start = integer(params, "startTime", 0, 0, 2**63)
    end = integer(params, "endTime", 2**63, 0, 2**63)
    exec_type = validate.text(params, "execType")
    if order_id or link:
        order = ledger.find(category, order_id, link)
        source: list[Execution] = ledger.execs_by_order.get(order.order_id, []) if order else []
    else:
        source = ledger.executions[category]

    def selected() -> Iterator[Execution]:
        items = source
        if cursor is not None and source is ledger.executions[category]:
            items = source[: min(cursor, len(source))]
        for item in reversed(items):
            if cursor is not None and item.seq >= cursor:
                continue
            if symbol and item.symbol != symbol:
                continue
            if exec_type and item.exec_type != exec_type:
                continue
            if base and ex.markets[(category, item.symbol)].spec.rules.base_coin != base:
                continue
            if start <= item.time <= end:
                yield item

    return _page(selected(), limit)


def positions(
    ex: Exchange, category: Category, params: Params, uid: str | None = None
) -> list[Position]:
    """GET /v5/position/list: the symbol's row even when flat, else open positions."""
    if category is not Category.LINEAR:
        raise errors.params(f"params error: category {category} has no positions")
    account = ex.ledger(uid).account
    symbol, base, settle = _coin_filter(ex, category, params)
    if symbol:
        return [account.position(symbol)]
    if not base and not settle:
        raise errors.params("params error: symbol or settleCoin is required")
    rows = []
    for name, pos in account.positions.items():
        rules = ex.markets[(category, name)].spec.rules
        coin_ok = (not base or rules.base_coin == base) and (
            not settle or rules.quote_coin == settle
        )
        if pos.size and coin_ok:
            rows.append(pos)
    return rows
