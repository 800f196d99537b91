"""Our models from Binance USDⓈ-M answers and user-data pushes. Pure functions, no I/O.

Statuses map to the Bybit-spelled `VenueOrderStatus` the router knows: NEW → New,
PARTIALLY_FILLED → PartiallyFilled, FILLED → Filled, CANCELED / EXPIRED /
EXPIRED_IN_MATCH → Cancelled (its `cancel_type` says which), REJECTED → Rejected.
A fill's `exec_id` is `<symbol>-<tradeId>`: Binance numbers trades per symbol, and the
router dedupes fills account-wide by exec id.
"""

from __future__ import annotations

from collections.abc import Mapping
from decimal import Decimal
from typing import Any

from libs.common.domain.enums import Category, OrderType, Side, TimeInForce, VenueOrderStatus
from libs.common.domain.ids import ExecId, VenueOrderId
from libs.common.domain.instruments import InstrumentRules
from libs.common.venue.models import Execution, Ticker, VenueOrder, VenuePosition
from libs.common.venue.wire import dec, link_id, ms, opt_dec

Json = Mapping[str, Any]
LINEAR = Category.LINEAR
TRADE = "Trade"
"""`Execution.exec_type` of a trade (Bybit's spelling, which the router reads)."""
_HUGE = Decimal("1e15")
_FEE_RATE_PLACES = Decimal("1e-8")

STATUSES = {
    "NEW": VenueOrderStatus.NEW,
    "PARTIALLY_FILLED": VenueOrderStatus.PARTIALLY_FILLED,
    "FILLED": VenueOrderStatus.FILLED,
    "CANCELED": VenueOrderStatus.CANCELLED,
    "EXPIRED": VenueOrderStatus.CANCELLED,
    "EXPIRED_IN_MATCH": VenueOrderStatus.CANCELLED,
    "REJECTED": VenueOrderStatus.REJECTED,
}
CANCEL_TYPES = {"CANCELED": "Canceled", "EXPIRED": "Expired", "EXPIRED_IN_MATCH": "ExpiredInMatch"}
"""`VenueOrder.cancel_type` of each ending Binance status (the router's cancel reason)."""
TIME_IN_FORCE = {
    "GTC": TimeInForce.GTC,
    "IOC": TimeInForce.IOC,
    "FOK": TimeInForce.FOK,
    "GTX": TimeInForce.POST_ONLY,
}
_SIDES = {"BUY": Side.BUY, "SELL": Side.SELL}
_POSITION_IDX = {"BOTH": 0, "LONG": 1, "SHORT": 2}
"""positionSide as Bybit's positionIdx: 0 one-way, 1 / 2 the legs of hedge mode."""


def side(value: Any) -> Side:
    try:
        return _SIDES[str(value).upper()]
    except KeyError:
        raise ValueError(f"expected side BUY or SELL from Binance, got {value!r}") from None


def status(value: Any) -> VenueOrderStatus:
    try:
        return STATUSES[str(value)]
    except KeyError:
        raise ValueError(
            f"expected an order status {sorted(STATUSES)} from Binance, got {value!r}"
        ) from None


def order_type(value: Any) -> OrderType:
    """LIMIT / STOP / TAKE_PROFIT rest at a price; MARKET and the *_MARKET kinds do not."""
    return OrderType.MARKET if "MARKET" in str(value) or value == "LIQUIDATION" else OrderType.LIMIT


def exec_id(symbol: str, trade_id: Any) -> ExecId:
    """The dedupe key of one fill: Binance's trade id, qualified by its symbol."""
    return ExecId(f"{symbol}-{trade_id}")


def fee_rate(fee: Decimal, price: Decimal, qty: Decimal) -> Decimal:
    """Binance reports the fee, not its rate: fee / notional, to 8 places (0 if no notional)."""
    notional = price * qty
    return (fee / notional).quantize(_FEE_RATE_PLACES) if notional else Decimal(0)


def _leaves(venue_status: VenueOrderStatus, qty: Decimal, filled: Decimal) -> Decimal:
    return max(Decimal(0), qty - filled) if venue_status.is_open else Decimal(0)


def parse_order(d: Json) -> VenueOrder:
    """An order object (`/fapi/v1/order`, `openOrders`, `allOrders`, batch items)."""
    raw_status = str(d["status"])
    st = status(raw_status)
    qty, filled = dec(d.get("origQty")), dec(d.get("executedQty"))
    avg = opt_dec(d.get("avgPrice"))
    value = d.get("cumQuote")
    return VenueOrder(
        category=LINEAR,
        symbol=str(d["symbol"]),
        venue_order_id=VenueOrderId(str(d["orderId"])),
        client_order_id=link_id(d.get("clientOrderId")),
        side=side(d["side"]),
        order_type=order_type(d.get("origType") or d.get("type")),
        status=st,
        qty=qty,
        price=opt_dec(d.get("price")),
        cum_exec_qty=filled,
        cum_exec_value=dec(value) if value not in (None, "") else filled * (avg or 0),
        avg_price=avg,
        leaves_qty=_leaves(st, qty, filled),
        time_in_force=TIME_IN_FORCE.get(str(d.get("timeInForce"))),
        reduce_only=bool(d.get("reduceOnly", False)),
        reject_reason="Rejected" if st is VenueOrderStatus.REJECTED else "",
        cancel_type=CANCEL_TYPES.get(raw_status, ""),
        created_ms=ms(d.get("time") or d.get("updateTime")),
        updated_ms=ms(d.get("updateTime") or d.get("time")),
    )


def parse_order_push(o: Json, event_ms: int = 0) -> VenueOrder:
    """The `o` object of an ORDER_TRADE_UPDATE push."""
    raw_status = str(o["X"])
    st = status(raw_status)
    qty, filled = dec(o.get("q")), dec(o.get("z"))
    avg = opt_dec(o.get("ap"))
    updated = ms(o.get("T")) or event_ms
    expiry = o.get("er")
    cancel_type = CANCEL_TYPES.get(raw_status, "")
    if cancel_type == "Expired" and expiry not in (None, "", "0", 0):
        cancel_type = f"Expired({expiry})"
    return VenueOrder(
        category=LINEAR,
        symbol=str(o["s"]),
        venue_order_id=VenueOrderId(str(o["i"])),
        client_order_id=link_id(o.get("c")),
        side=side(o["S"]),
        order_type=order_type(o.get("ot") or o.get("o")),
        status=st,
        qty=qty,
        price=opt_dec(o.get("p")),
        cum_exec_qty=filled,
        cum_exec_value=filled * (avg or 0),
        avg_price=avg,
        leaves_qty=_leaves(st, qty, filled),
        time_in_force=TIME_IN_FORCE.get(str(o.get("f"))),
        reduce_only=bool(o.get("R", False)),
        reject_reason="Rejected" if st is VenueOrderStatus.REJECTED else "",
        cancel_type=cancel_type,
        created_ms=updated,
        updated_ms=updated,
    )


def parse_execution(d: Json) -> Execution:
    """A `/fapi/v1/userTrades` item. It names no client order id and no leaves quantity:
    those are None and 0 (the router books fills by venue order id)."""
    price, qty, fee = dec(d.get("price")), dec(d.get("qty")), dec(d.get("commission"))
    return Execution(
        category=LINEAR,
        exec_id=exec_id(str(d["symbol"]), d["id"]),
        venue_order_id=VenueOrderId(str(d["orderId"])),
        client_order_id=None,
        symbol=str(d["symbol"]),
        side=side(d["side"]),
        price=price,
        qty=qty,
        fee=fee,
        fee_rate=fee_rate(fee, price, qty),
        fee_currency=d.get("commissionAsset") or None,
        is_maker=bool(d.get("maker", False)),
        exec_time_ms=ms(d.get("time")),
        leaves_qty=Decimal(0),
        exec_type=TRADE,
    )


def parse_execution_push(o: Json, event_ms: int = 0) -> Execution:
    """The fill of an ORDER_TRADE_UPDATE push whose execution type `x` is TRADE."""
    price, qty, fee = dec(o.get("L")), dec(o.get("l")), dec(o.get("n"))
    return Execution(
        category=LINEAR,
        exec_id=exec_id(str(o["s"]), o["t"]),
        venue_order_id=VenueOrderId(str(o["i"])),
        client_order_id=link_id(o.get("c")),
        symbol=str(o["s"]),
        side=side(o["S"]),
        price=price,
        qty=qty,
        fee=fee,
        fee_rate=fee_rate(fee, price, qty),
        fee_currency=o.get("N") or None,
        is_maker=bool(o.get("m", False)),
        exec_time_ms=ms(o.get("T")) or event_ms,
        leaves_qty=max(Decimal(0), dec(o.get("q")) - dec(o.get("z"))),
        exec_type=TRADE,
    )


def _position(
    symbol: str, position_side: Any, amount: Decimal, entry: Any, **rest: Any
) -> VenuePosition:
    return VenuePosition(
        category=LINEAR,
        symbol=symbol,
        position_idx=_POSITION_IDX.get(str(position_side or "BOTH"), 0),
        side=None if amount == 0 else (Side.BUY if amount > 0 else Side.SELL),
        size=abs(amount),
        avg_price=dec(entry),
        **rest,
    )


def parse_position(d: Json) -> VenuePosition:
    """A `/fapi/v3/positionRisk` item (one-way mode: positionSide BOTH, signed amount).
    v3 reports no realised P&L and no leverage: 0 and None."""
    lev = d.get("leverage")
    return _position(
        str(d["symbol"]),
        d.get("positionSide"),
        dec(d.get("positionAmt")),
        d.get("entryPrice"),
        mark_price=opt_dec(d.get("markPrice")),
        unrealised_pnl=dec(d.get("unRealizedProfit")),
        cum_realised_pnl=Decimal(0),
        leverage=opt_dec(lev),
        updated_ms=ms(d.get("updateTime")),
    )


def parse_position_push(p: Json, event_ms: int) -> VenuePosition:
    """One `a.P` item of an ACCOUNT_UPDATE push (`cr` is the accumulated realised P&L)."""
    return _position(
        str(p["s"]),
        p.get("ps"),
        dec(p.get("pa")),
        p.get("ep"),
        mark_price=None,
        unrealised_pnl=dec(p.get("up")),
        cum_realised_pnl=dec(p.get("cr")),
        leverage=None,
        updated_ms=event_ms,
    )


def parse_ticker(book: Json, premium: Json | None) -> Ticker:
    """A `bookTicker` item with the mark of its `premiumIndex` item (None if absent).
    Binance's book ticker has no last price: `last` is None."""
    mark = opt_dec(premium.get("markPrice")) if premium is not None else None
    return Ticker(
        category=LINEAR,
        symbol=str(book["symbol"]),
        bid=opt_dec(book.get("bidPrice")),
        ask=opt_dec(book.get("askPrice")),
        last=None,
        mark=mark,
        ts_ms=ms(book.get("time")) or ms((premium or {}).get("time")),
    )


def _filters(d: Json) -> dict[str, Json]:
    return {str(f.get("filterType")): f for f in d.get("filters") or [] if isinstance(f, dict)}


def parse_instrument(d: Json) -> InstrumentRules:
    """An exchangeInfo `symbols[]` item: tick from PRICE_FILTER, step and min from LOT_SIZE,
    the Market maximum from MARKET_LOT_SIZE, min notional from MIN_NOTIONAL (a 0 bound
    means none)."""
    filters = _filters(d)
    pf, lot = filters.get("PRICE_FILTER", {}), filters.get("LOT_SIZE", {})
    mkt = filters.get("MARKET_LOT_SIZE", {})
    tick, step = dec(pf.get("tickSize")), dec(lot.get("stepSize"))
    if tick <= 0 or step <= 0:
        raise ValueError(
            f"{d.get('symbol')}: expected PRICE_FILTER tickSize and LOT_SIZE stepSize > 0, "
            f"got {pf.get('tickSize')!r} and {lot.get('stepSize')!r}"
        )
    max_qty = dec(lot.get("maxQty")) or _HUGE
    raw_status = str(d.get("status") or "TRADING")
    return InstrumentRules(
        symbol=str(d["symbol"]),
        category=LINEAR,
        status="Trading" if raw_status == "TRADING" else raw_status,
        base_coin=str(d.get("baseAsset") or ""),
        quote_coin=str(d.get("quoteAsset") or d.get("marginAsset") or "USDT"),
        tick_size=tick,
        min_price=dec(pf.get("minPrice")) or tick,
        max_price=dec(pf.get("maxPrice")) or _HUGE,
        qty_step=step,
        min_qty=dec(lot.get("minQty")) or step,
        max_qty=max_qty,
        max_mkt_qty=dec(mkt.get("maxQty")) or max_qty,
        min_notional=dec(filters.get("MIN_NOTIONAL", {}).get("notional")),
    )
