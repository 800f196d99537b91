"""Bybit V5 wire format: request bodies from our models, our models from response items.

Pure functions, no I/O. Prices and quantities travel as plain decimal strings.
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping, Sequence
from decimal import Decimal, InvalidOperation
from typing import Any, TypeVar

from libs.common.domain.enums import Category, OrderType, Side, TimeInForce, VenueOrderStatus
from libs.common.domain.errors import InvalidOrder
from libs.common.domain.ids import ClientOrderId, ExecId, VenueOrderId
from libs.common.domain.instruments import InstrumentRules, normalize_order, round_price
from libs.common.venue.errors import InvalidOrderRequest
from libs.common.venue.models import (
    AmendOrder,
    CancelOrder,
    Execution,
    PlaceOrder,
    Ticker,
    VenueOrder,
    VenuePosition,
)

Json = Mapping[str, Any]
T = TypeVar("T")

BATCH_LIMITS = {Category.LINEAR: 20, Category.SPOT: 10}
_HUGE = Decimal("1e15")


def fmt(value: Decimal) -> str:
    """A Decimal as Bybit wants it: plain notation, no exponent, no trailing zeros."""
    return format(value.normalize(), "f")


def dec(value: Any) -> Decimal:
    """Parse a venue number (a string, possibly empty) into a Decimal; empty is zero."""
    if value is None or value == "":
        return Decimal(0)
    try:
        return Decimal(str(value))
    except InvalidOperation as exc:
        raise ValueError(f"expected a decimal number from the venue, got {value!r}") from exc


def opt_dec(value: Any) -> Decimal | None:
    """Like `dec`, but empty and zero are None (e.g. the price of a Market order)."""
    parsed = dec(value)
    return parsed if parsed != 0 else None


def ms(value: Any) -> int:
    return int(value) if value not in (None, "") else 0


def link_id(value: Any) -> ClientOrderId | None:
    return ClientOrderId(str(value)) if value else None


def chunks(items: Sequence[T], size: int) -> Iterator[Sequence[T]]:
    for start in range(0, len(items), size):
        yield items[start : start + size]


# -- requests -------------------------------------------------------------------------------


def normalize_place(rules: InstrumentRules, order: PlaceOrder) -> tuple[Decimal, Decimal | None]:
    """Round the order to the instrument or raise InvalidOrderRequest (the order is not sent)."""
    if order.reduce_only and order.category is Category.SPOT:
        raise InvalidOrderRequest(f"{order.symbol}: reduce_only is not supported on spot")
    try:
        return normalize_order(
            rules,
            side=order.side,
            order_type=order.order_type,
            qty=order.qty,
            price=order.price,
            reference_price=order.reference_price,
        )
    except InvalidOrder as exc:
        raise InvalidOrderRequest(str(exc), cause=exc) from exc


def normalize_amend(
    rules: InstrumentRules, amend: AmendOrder
) -> tuple[Decimal | None, Decimal | None]:
    """Round an amend's new qty and price, or raise InvalidOrderRequest."""
    try:
        if amend.qty is not None and amend.price is not None:
            qty, price = normalize_order(
                rules, side=amend.side, order_type=OrderType.LIMIT, qty=amend.qty, price=amend.price
            )
            return qty, price
        if amend.qty is not None:
            qty, _ = normalize_order(
                rules, side=amend.side, order_type=OrderType.MARKET, qty=amend.qty, price=None
            )
            return qty, None
        assert amend.price is not None
        price = round_price(rules, amend.side, amend.price)
        if not amend.price.is_finite() or not rules.min_price <= price <= rules.max_price:
            raise InvalidOrder(
                f"{rules.symbol} amend: price {amend.price} is outside "
                f"[{rules.min_price}, {rules.max_price}]"
            )
        return None, price
    except InvalidOrder as exc:
        raise InvalidOrderRequest(str(exc), cause=exc) from exc


def place_item(order: PlaceOrder, qty: Decimal, price: Decimal | None) -> dict[str, Any]:
    """The create body without `category` (a batch `request` item)."""
    body: dict[str, Any] = {
        "symbol": order.symbol,
        "side": order.side.value,
        "orderType": order.order_type.value,
        "qty": fmt(qty),
        "orderLinkId": order.client_order_id,
    }
    if order.order_type is OrderType.LIMIT:
        assert price is not None
        body["price"] = fmt(price)
        body["timeInForce"] = order.time_in_force.value
    elif order.category is Category.SPOT:
        body["marketUnit"] = "baseCoin"  # spot Market Buy qty is in the quote coin otherwise
    if order.reduce_only:
        body["reduceOnly"] = True
    return body


def place_body(order: PlaceOrder, qty: Decimal, price: Decimal | None) -> dict[str, Any]:
    return {"category": order.category.value, **place_item(order, qty, price)}


def _ids(req: AmendOrder | CancelOrder) -> dict[str, Any]:
    # Bybit prefers orderId when both are given; send the one we trust most.
    if req.venue_order_id is not None:
        return {"orderId": req.venue_order_id}
    return {"orderLinkId": req.client_order_id}


def amend_item(amend: AmendOrder, qty: Decimal | None, price: Decimal | None) -> dict[str, Any]:
    body: dict[str, Any] = {"symbol": amend.symbol, **_ids(amend)}
    if qty is not None:
        body["qty"] = fmt(qty)
    if price is not None:
        body["price"] = fmt(price)
    return body


def amend_body(amend: AmendOrder, qty: Decimal | None, price: Decimal | None) -> dict[str, Any]:
    return {"category": amend.category.value, **amend_item(amend, qty, price)}


def cancel_item(cancel: CancelOrder) -> dict[str, Any]:
    return {"symbol": cancel.symbol, **_ids(cancel)}


def cancel_body(cancel: CancelOrder) -> dict[str, Any]:
    return {"category": cancel.category.value, **cancel_item(cancel)}


# -- responses ------------------------------------------------------------------------------


def _category(d: Json, default: Category | None) -> Category:
    raw = d.get("category")
    if raw:
        return Category(raw)
    if default is None:
        raise ValueError("expected a category in the item or from the request, got neither")
    return default


def _tif(value: Any) -> TimeInForce | None:
    try:
        return TimeInForce(value)
    except ValueError:
        return None


def parse_order(d: Json, category: Category | None = None) -> VenueOrder:
    """A `/v5/order/realtime|history` item or an `order` topic push."""
    return VenueOrder(
        category=_category(d, category),
        symbol=d["symbol"],
        venue_order_id=VenueOrderId(d["orderId"]),
        client_order_id=link_id(d.get("orderLinkId")),
        side=Side(d["side"]),
        order_type=OrderType(d["orderType"]),
        status=VenueOrderStatus(d["orderStatus"]),
        qty=dec(d.get("qty")),
        price=opt_dec(d.get("price")),
        cum_exec_qty=dec(d.get("cumExecQty")),
        cum_exec_value=dec(d.get("cumExecValue")),
        avg_price=opt_dec(d.get("avgPrice")),
        leaves_qty=dec(d.get("leavesQty")),
        time_in_force=_tif(d.get("timeInForce")),
        reduce_only=bool(d.get("reduceOnly", False)),
        reject_reason=str(d.get("rejectReason") or ""),
        cancel_type=str(d.get("cancelType") or ""),
        created_ms=ms(d.get("createdTime")),
        updated_ms=ms(d.get("updatedTime")),
    )


def parse_execution(d: Json, category: Category | None = None) -> Execution:
    """A `/v5/execution/list` item or an `execution` topic push."""
    return Execution(
        category=_category(d, category),
        exec_id=ExecId(d["execId"]),
        venue_order_id=VenueOrderId(d["orderId"]),
        client_order_id=link_id(d.get("orderLinkId")),
        symbol=d["symbol"],
        side=Side(d["side"]),
        price=dec(d.get("execPrice")),
        qty=dec(d.get("execQty")),
        fee=dec(d.get("execFee")),
        fee_rate=dec(d.get("feeRate")),
        fee_currency=d.get("feeCurrency") or None,
        is_maker=bool(d.get("isMaker", False)),
        exec_time_ms=ms(d.get("execTime")),
        leaves_qty=dec(d.get("leavesQty")),
        exec_type=str(d.get("execType") or "Trade"),
    )


def parse_position(d: Json, category: Category | None = None) -> VenuePosition:
    """A `/v5/position/list` item (`avgPrice`) or a `position` push (`entryPrice`)."""
    side = d.get("side")
    lev = d.get("leverage")
    return VenuePosition(
        category=_category(d, category),
        symbol=d["symbol"],
        position_idx=int(d.get("positionIdx") or 0),
        side=Side(side) if side in ("Buy", "Sell") else None,
        size=dec(d.get("size")),
        avg_price=dec(d.get("avgPrice", d.get("entryPrice"))),
        mark_price=opt_dec(d.get("markPrice")),
        unrealised_pnl=dec(d.get("unrealisedPnl")),
        cum_realised_pnl=dec(d.get("cumRealisedPnl")),
        leverage=opt_dec(lev),
        updated_ms=ms(d.get("updatedTime")),
    )


def parse_ticker(d: Json, category: Category, ts_ms: int) -> Ticker:
    """A `/v5/market/tickers` item or a merged `tickers.{symbol}` state."""
    return Ticker(
        category=category,
        symbol=d["symbol"],
        bid=opt_dec(d.get("bid1Price")),
        ask=opt_dec(d.get("ask1Price")),
        last=opt_dec(d.get("lastPrice")),
        mark=opt_dec(d.get("markPrice")),
        ts_ms=ts_ms,
    )


def parse_instrument(d: Json, category: Category) -> InstrumentRules:
    """A `/v5/market/instruments-info` item (linear or spot shape, fact sheet §7)."""
    pf: Json = d.get("priceFilter") or {}
    lf: Json = d.get("lotSizeFilter") or {}
    tick = dec(pf.get("tickSize"))
    if category is Category.SPOT:
        step = dec(lf.get("basePrecision") or lf.get("qtyStep"))
        min_qty = max(dec(lf.get("minOrderQty")), step)
        max_qty = dec(lf.get("maxLimitOrderQty") or lf.get("maxOrderQty")) or _HUGE
        max_mkt = dec(lf.get("maxMarketOrderQty")) or max_qty
        min_notional = dec(lf.get("minOrderAmt"))
    else:
        step = dec(lf.get("qtyStep"))
        min_qty = dec(lf.get("minOrderQty")) or step
        max_qty = dec(lf.get("maxOrderQty")) or _HUGE
        max_mkt = dec(lf.get("maxMktOrderQty")) or max_qty
        min_notional = dec(lf.get("minNotionalValue"))
    return InstrumentRules(
        symbol=d["symbol"],
        category=category,
        status=str(d.get("status") or "Trading"),
        base_coin=str(d.get("baseCoin") or ""),
        quote_coin=str(d.get("quoteCoin") or "USDT"),
        tick_size=tick,
        min_price=dec(pf.get("minPrice")) or tick,
        max_price=dec(pf.get("maxPrice")) or _HUGE,
        qty_step=step,
        min_qty=min_qty,
        max_qty=max_qty,
        max_mkt_qty=max_mkt,
        min_notional=min_notional,
    )
