"""Bybit V5 JSON shapes of the simulator's records: string numbers, Bybit field names."""

from __future__ import annotations

from decimal import Decimal
from typing import Any

from libs.common.domain.enums import Category
from services.venue_sim.engine import Exchange
from services.venue_sim.engine.account import MAINTENANCE_RATE, SETTLE, Account
from services.venue_sim.engine.model import Execution, Position, SimOrder

PRICE_QUANTUM = Decimal("0.00000001")
MIN_BREAK_EVEN_FEE = Decimal("0.00055")
"""The least fee rate Bybit's break-even price assumes."""
Json = dict[str, Any]


def fmt(value: Decimal) -> str:
    """A Decimal as Bybit writes numbers: plain notation, no exponent, no negative zero."""
    if not value:
        return "0"
    return format(value, "f")


def num(value: Decimal) -> str:
    """A computed amount (avg price, PnL, balance): at most 8 decimals, trailing zeros cut."""
    if not value:
        return "0"
    return format(value.quantize(PRICE_QUANTUM).normalize(), "f")


def order_item(order: SimOrder, *, ws: bool = False) -> Json:
    """An order as `/v5/order/realtime` lists it; `ws` adds the `order` topic's fields."""
    avg = order.avg_price
    spot = order.category is Category.SPOT
    fee = {order.fee_currency: num(order.cum_fee)} if order.cum_fee else {}
    item: Json = {
        "orderId": order.order_id,
        "orderLinkId": order.link_id,
        "blockTradeId": "",
        "symbol": order.symbol,
        "price": fmt(order.price),
        "qty": fmt(order.qty),
        "side": order.side.value,
        "isLeverage": "0" if spot else "",
        "positionIdx": 0,
        "orderStatus": order.status.value,
        "cancelType": order.cancel_type,
        "rejectReason": order.reject_reason,
        "avgPrice": "" if avg is None else num(avg),
        "leavesQty": fmt(order.leaves),
        "leavesValue": num(order.leaves * order.price),
        "cumExecQty": fmt(order.cum_qty),
        "cumExecValue": num(order.cum_value),
        "cumExecFee": num(order.cum_fee),
        "cumFeeDetail": fee,
        "timeInForce": order.tif.value,
        "orderType": order.order_type.value,
        "stopOrderType": "",
        "orderIv": "",
        "marketUnit": order.market_unit,
        "triggerPrice": "",
        "takeProfit": "",
        "stopLoss": "",
        "tpslMode": "",
        "tpLimitPrice": "",
        "slLimitPrice": "",
        "tpTriggerBy": "",
        "slTriggerBy": "",
        "triggerDirection": 0,
        "triggerBy": "",
        "lastPriceOnCreated": fmt(order.last_price_on_created),
        "reduceOnly": order.reduce_only,
        "closeOnTrigger": order.close_on_trigger,
        "placeType": "",
        "smpType": "None",
        "smpGroup": 0,
        "smpOrderId": "",
        "parentOrderLinkId": "",
        "ocoTriggerBy": "OcoTriggerByUnknown" if spot else "",
        "basePrice": fmt(order.last_price_on_created) if spot else "",
        "slippageToleranceType": "UNKNOWN",
        "slippageTolerance": "",
        "extraFees": "",
        "rpiTakerAccess": False,
        "rpiMatchedQty": "0",
        "createdTime": str(order.created),
        "updatedTime": str(order.updated),
    }
    if not spot:
        item["createType"] = "CreateByUser"
    if ws:
        item["category"] = order.category.value
        item["closedPnl"] = num(order.closed_pnl)
        item["feeCurrency"] = order.fee_currency
        item["brokerOrderPrice"] = ""
    return item


def execution_item(execution: Execution, *, ws: bool = False) -> Json:
    """An execution as `/v5/execution/list` lists it; `ws` adds the `execution` topic's fields.

    A funding settlement has no order: empty orderId, orderLinkId and createType."""
    item: Json = {
        "symbol": execution.symbol,
        "orderId": execution.order_id,
        "orderLinkId": execution.link_id,
        "side": execution.side.value,
        "orderPrice": fmt(execution.order_price),
        "orderQty": fmt(execution.order_qty),
        "leavesQty": fmt(execution.leaves),
        "createType": "CreateByUser" if execution.order_id else "",
        "orderType": execution.order_type.value,
        "stopOrderType": "",
        "execFee": num(execution.fee),
        "execFeeV2": "",
        "feeCurrency": execution.fee_currency,
        "execId": execution.exec_id,
        "execPrice": fmt(execution.price),
        "execQty": fmt(execution.qty),
        "execType": execution.exec_type,
        "execValue": num(execution.value),
        "execTime": str(execution.time),
        "isMaker": execution.is_maker,
        "feeRate": fmt(execution.fee_rate),
        "tradeIv": "",
        "markIv": "",
        "markPrice": fmt(execution.mark_price),
        "indexPrice": fmt(execution.mark_price),
        "underlyingPrice": "",
        "blockTradeId": "",
        "closedSize": fmt(execution.closed_size),
        "seq": execution.seq,
        "extraFees": "",
    }
    if ws:
        item["category"] = execution.category.value
        item["execPnl"] = num(execution.exec_pnl)
        item["isLeverage"] = "0"
    return item


def position_item(ex: Exchange, account: Account, position: Position, *, ws: bool = False) -> Json:
    """A one-way linear position of `account` as `/v5/position/list` lists it (`ws`: the
    topic's shape)."""
    mark = ex.mark(position.symbol)
    size = abs(position.size)
    leverage = account.leverage_of(position.symbol)
    initial, maintenance = num(size * mark / leverage), num(size * mark * MAINTENANCE_RATE)
    item: Json = {
        "positionIdx": 0,
        "riskId": 1,
        "riskLimitValue": "2000000",
        "symbol": position.symbol,
        "side": position.side,
        "size": fmt(size),
        "avgPrice": num(position.avg_price),
        "positionValue": num(size * position.avg_price),
        "tradeMode": 0,
        "autoAddMargin": 0,
        "positionStatus": "Normal",
        "leverage": fmt(leverage),
        "markPrice": fmt(mark),
        "liqPrice": "",
        "bustPrice": "",
        "breakEvenPrice": _break_even(ex, position),
        "positionIM": initial,
        "positionIMByMp": initial,
        "positionMM": maintenance,
        "positionMMByMp": maintenance,
        "positionBalance": initial,
        "takeProfit": "",
        "stopLoss": "",
        "trailingStop": "0",
        "sessionAvgPrice": "",
        "delta": "",
        "gamma": "",
        "vega": "",
        "theta": "",
        "unrealisedPnl": num(position.size * (mark - position.avg_price)),
        "curRealisedPnl": num(position.cur_realised),
        "cumRealisedPnl": num(position.cum_realised),
        "adlRankIndicator": 0,
        "isReduceOnly": False,
        "mmrSysUpdatedTime": "",
        "leverageSysUpdatedTime": "",
        "tpslMode": "Full",
        "createdTime": str(position.created),
        "updatedTime": str(position.updated),
        "openTime": position.created if position.size else 0,
        "seq": position.seq,
    }
    if ws:
        item["entryPrice"] = item.pop("avgPrice")
        item["category"] = Category.LINEAR.value
    return item


def _break_even(ex: Exchange, position: Position) -> str:
    """Bybit's breakEvenPrice: (entry x qty - realised) / (qty - |qty| x max(taker, 0.00055)),
    qty signed; "0" when flat."""
    if not position.size:
        return "0"
    rate = max(ex.fees[Category.LINEAR][1], MIN_BREAK_EVEN_FEE)
    qty = position.size
    return num((position.avg_price * qty - position.cur_realised) / (qty - abs(qty) * rate))


def wallet_item(ex: Exchange, account: Account) -> Json:
    """A UNIFIED account as `/v5/account/wallet-balance` (and the `wallet` topic) show it."""
    marks = ex.mark
    upl = account.unrealised(marks)
    position_im = account.position_im(marks)
    position_mm = account.position_mm(marks)
    coins: list[Json] = []
    total_wallet = total_equity = Decimal(0)
    for coin, balance in sorted(account.balances.items()):
        price = ex.usd_price(coin)
        settle = coin == SETTLE
        equity = balance + (upl if settle else 0)
        total_wallet += balance * price
        total_equity += equity * price
        coins.append(
            {
                "coin": coin,
                "equity": num(equity),
                "usdValue": num(equity * price),
                "walletBalance": num(balance),
                "free": "",
                "locked": num(account.locked[coin]),
                "spotHedgingQty": "0",
                "borrowAmount": "0",
                "availableToWithdraw": "",
                "accruedInterest": "0",
                "totalOrderIM": num(account.order_im if settle else Decimal(0)),
                "totalPositionIM": num(position_im if settle else Decimal(0)),
                "totalPositionMM": num(position_mm if settle else Decimal(0)),
                "unrealisedPnl": num(upl if settle else Decimal(0)),
                "cumRealisedPnl": num(account.cum_realised if settle else Decimal(0)),
                "bonus": "0",
                "marginCollateral": True,
                "collateralSwitch": True,
                "colRes": "0",
                "spotBorrow": "0",
                "availableToBorrow": "",
            }
        )
    initial = account.order_im + position_im
    available = total_equity - initial - account.locked[SETTLE]
    im_rate = num(initial / total_equity) if total_equity else "0"
    mm_rate = num(position_mm / total_equity) if total_equity else "0"
    return {
        "accountType": "UNIFIED",
        "accountIMRate": im_rate,
        "accountIMRateByMp": im_rate,
        "accountMMRate": mm_rate,
        "accountMMRateByMp": mm_rate,
        "accountLTV": "0",
        "totalEquity": num(total_equity),
        "totalWalletBalance": num(total_wallet),
        "totalMarginBalance": num(total_equity),
        "totalAvailableBalance": num(available),
        "totalPerpUPL": num(upl),
        "totalInitialMargin": num(initial),
        "totalInitialMarginByMp": num(initial),
        "totalMaintenanceMargin": num(position_mm),
        "totalMaintenanceMarginByMp": num(position_mm),
        "coin": coins,
    }
