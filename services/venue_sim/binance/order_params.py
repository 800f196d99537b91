"""The parameters of `POST /fapi/v1/order` (and each batch item) and `PUT /fapi/v1/order`,
checked the way Binance checks them, as requests for the shared engine.

Supported: LIMIT (GTC, IOC, FOK, GTX = post-only) and MARKET, one-way positions
(`positionSide` BOTH), `reduceOnly`, `newClientOrderId` (generated when absent),
`newOrderRespType` ACK / RESULT and `selfTradePreventionMode` (echoed). Conditional types
are Binance's algo orders (-4120), and GTD, `priceMatch` and hedge-mode sides are refused
with a message that says so.
"""

from __future__ import annotations

import re
import secrets
import string
from dataclasses import dataclass
from decimal import Decimal

from libs.common.domain.enums import OrderType, Side, TimeInForce
from services.venue_sim.binance import errors, params, rules
from services.venue_sim.binance.errors import BinanceError
from services.venue_sim.binance.params import Params
from services.venue_sim.engine import Exchange
from services.venue_sim.engine.model import MarketState
from services.venue_sim.engine.validate import NewOrder

SIDES = {"BUY": Side.BUY, "SELL": Side.SELL}
TYPES = {"LIMIT": OrderType.LIMIT, "MARKET": OrderType.MARKET}
ALGO_TYPES = ("STOP", "STOP_MARKET", "TAKE_PROFIT", "TAKE_PROFIT_MARKET", "TRAILING_STOP_MARKET")
TIFS = {
    "GTC": TimeInForce.GTC,
    "IOC": TimeInForce.IOC,
    "FOK": TimeInForce.FOK,
    "GTX": TimeInForce.POST_ONLY,
}
STP_MODES = ("NONE", "EXPIRE_TAKER", "EXPIRE_MAKER", "EXPIRE_BOTH")
DEFAULT_STP_MODE = "EXPIRE_MAKER"
RESP_TYPES = ("ACK", "RESULT")
CLIENT_ORDER_ID = re.compile(r"[.A-Z:/a-z0-9_-]{1,36}")
_ID_ALPHABET = string.ascii_letters + string.digits


@dataclass(frozen=True, slots=True)
class OrderRequest:
    """A new order that passed Binance's checks: the engine's request plus what only the
    Binance answer needs."""

    req: NewOrder
    resp_type: str
    """ACK: the order as accepted; RESULT: as it stands after matching."""
    stp_mode: str


@dataclass(frozen=True, slots=True)
class ModifyRequest:
    """A `PUT /fapi/v1/order`: which order, its side, and the new quantity and price."""

    market: MarketState
    order_id: str
    link: str
    side: Side
    qty: Decimal
    price: Decimal


def generated_client_order_id() -> str:
    """A clientOrderId like the ones Binance makes up: 22 random letters and digits."""
    return "".join(secrets.choice(_ID_ALPHABET) for _ in range(22))


def _side(p: Params) -> Side:
    value = params.text(p, "side", required=True)
    if value not in SIDES:
        raise BinanceError(
            errors.INVALID_SIDE, f"Invalid side: expected BUY or SELL, was {value!r}."
        )
    return SIDES[value]


def _type(p: Params) -> OrderType:
    value = params.text(p, "type", required=True)
    if value in ALGO_TYPES:
        raise BinanceError(
            errors.ALGO_ORDER_TYPE,
            "Order type not supported for this endpoint. Please use the Algo Order API "
            "endpoints instead.",
        )
    if value not in TYPES:
        raise BinanceError(errors.INVALID_ORDER_TYPE, f"Invalid orderType {value!r}.")
    return TYPES[value]


def _tif(p: Params, order_type: OrderType) -> TimeInForce:
    if order_type is OrderType.MARKET:
        return TimeInForce.IOC
    value = params.text(p, "timeInForce", required=True)
    if value not in TIFS:
        raise BinanceError(
            errors.INVALID_TIF,
            f"Invalid timeInForce {value!r}: the simulator takes GTC, IOC, FOK and GTX.",
        )
    return TIFS[value]


def _position_side(p: Params) -> None:
    value = params.text(p, "positionSide") or "BOTH"
    if value != "BOTH":
        raise BinanceError(
            errors.POSITION_SIDE_NOT_MATCH,
            "Order's position side does not match user's setting: the simulator's accounts "
            f"are in one-way mode (positionSide BOTH), was {value!r}.",
        )


def _client_order_id(p: Params) -> str:
    value = params.text(p, "newClientOrderId")
    if not value:
        return generated_client_order_id()
    if not CLIENT_ORDER_ID.fullmatch(value):
        raise BinanceError(
            errors.INVALID_CLIENT_ORDER_ID,
            "Client order id is not valid: expected 1-36 characters of [.A-Z:/a-z0-9_-], "
            f"was {value!r}.",
        )
    return value


def _price_match(p: Params) -> None:
    if params.text(p, "priceMatch") not in ("", "NONE"):
        raise BinanceError(
            errors.BAD_COMBINATION,
            "Combination of optional parameters invalid: the simulator does not support "
            "priceMatch; send a price.",
        )


def new_order(ex: Exchange, p: Params) -> OrderRequest:
    """Check a new order's parameters against the symbol's filters. Raises BinanceError."""
    market = params.market(ex, p)
    spec = market.spec
    side, order_type = _side(p), _type(p)
    _position_side(p)
    _price_match(p)
    tif = _tif(p, order_type)
    reduce_only = params.boolean(p, "reduceOnly")
    raw_qty = params.decimal(p, "quantity", required=True)
    assert raw_qty is not None
    qty = rules.check_qty(spec, raw_qty, market=order_type is OrderType.MARKET)
    mark = ex.mark(spec.symbol)
    price: Decimal | None = None
    if order_type is OrderType.LIMIT:
        raw_price = params.decimal(p, "price", required=True)
        assert raw_price is not None
        price = rules.check_price(spec, raw_price)
        rules.check_percent_price(spec, side, price, mark)
    elif params.text(p, "price"):
        raise BinanceError(errors.PARAM_NOT_REQUIRED, "Parameter 'price' sent when not required.")
    rules.check_notional(spec, qty * (price or mark), reduce_only=reduce_only)
    req = NewOrder(
        symbol=spec.symbol,
        side=side,
        order_type=order_type,
        qty=qty,
        price=price,
        tif=tif,
        link_id=_client_order_id(p),
        reduce_only=reduce_only,
        close_on_trigger=False,
        market_unit="",
    )
    resp_type = params.choice(p, "newOrderRespType", RESP_TYPES, "ACK")
    stp_mode = params.choice(p, "selfTradePreventionMode", STP_MODES, DEFAULT_STP_MODE)
    return OrderRequest(req, resp_type, stp_mode)


def modify(ex: Exchange, p: Params) -> ModifyRequest:
    """Check a modify request: symbol, side, quantity and price are all required; the
    new price and quantity must pass the filters (the order stays as it was otherwise)."""
    market = params.market(ex, p)
    spec = market.spec
    order_id, link = params.order_ref(p)
    side = _side(p)
    _price_match(p)
    raw_qty = params.decimal(p, "quantity", required=True)
    raw_price = params.decimal(p, "price", required=True)
    assert raw_qty is not None and raw_price is not None
    qty = rules.check_qty(spec, raw_qty, market=False)
    price = rules.check_price(spec, raw_price)
    rules.check_percent_price(spec, side, price, ex.mark(spec.symbol))
    return ModifyRequest(market, order_id, link, side, qty, price)
