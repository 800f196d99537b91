"""Binance's account endpoints: positions, account, balances, commission rates, position
settings (leverage, margin type, position mode) and the user-data stream's listen key.

One-way mode only: `POST /fapi/v1/positionSide/dual` answers -4059 for "false" (nothing to
change) and refuses "true". Leverage is an integer from 1 to 100 (the engine's range).
"""

from __future__ import annotations

from typing import Any

from libs.common.domain.enums import Category
from services.venue_sim.binance import errors, params
from services.venue_sim.binance.errors import BinanceError, from_engine
from services.venue_sim.binance.gate import Call
from services.venue_sim.binance.wire_account import (
    SymbolView,
    account_position,
    account_totals,
    asset_rows,
    balance_row,
    position_v2,
    position_v3,
    symbol_view,
)
from services.venue_sim.engine import SimError
from services.venue_sim.engine.position_settings import MAX_LEVERAGE, MIN_LEVERAGE
from services.venue_sim.wire import fmt

Json = dict[str, Any]
LINEAR = Category.LINEAR
MARGIN_TYPES = {"ISOLATED": "isolated", "CROSSED": "cross"}


def _views(call: Call, *, active_only: bool) -> list[SymbolView]:
    """The account's symbols (the requested one, else every listed one; `active_only`:
    those with a position or open orders)."""
    state, ex = call.state, call.state.exchange
    if call.params.get("symbol"):
        symbols = [params.market(ex, call.params).spec.symbol]
    else:
        symbols = [s for c, s in ex.markets if c is LINEAR]
    ledger = ex.ledger(call.uid)
    views = [symbol_view(ex, ledger, s, state.margin_type_of(call.uid, s)) for s in symbols]
    if active_only:
        views = [v for v in views if v.amount or v.bid_notional or v.ask_notional]
    return views


def position_risk_v2(call: Call) -> list[Json]:
    """GET /fapi/v2/positionRisk[?symbol]: every listed symbol, flat ones too."""
    return [position_v2(v) for v in _views(call, active_only=False)]


def position_risk_v3(call: Call) -> list[Json]:
    """GET /fapi/v3/positionRisk[?symbol]: symbols with a position or open orders."""
    return [position_v3(v) for v in _views(call, active_only=True)]


def _account(call: Call, *, v2: bool) -> Json:
    ex = call.state.exchange
    ledger = ex.ledger(call.uid)
    views = _views(call, active_only=not v2)
    data: Json = {}
    if v2:
        data = {
            "feeTier": 0, "feeBurn": False, "canTrade": True, "canDeposit": True,
            "canWithdraw": True, "updateTime": 0, "multiAssetsMargin": False,
            "tradeGroupId": -1,
        }  # fmt: skip
    data.update(account_totals(ex, ledger))
    data["assets"] = asset_rows(ex, ledger, call.now)
    data["positions"] = [account_position(v, v2=v2) for v in views]
    return data


def account_v2(call: Call) -> Json:
    """GET /fapi/v2/account: totals, assets, and a position row per listed symbol."""
    return _account(call, v2=True)


def account_v3(call: Call) -> Json:
    """GET /fapi/v3/account: totals, assets, and the positions that are open."""
    return _account(call, v2=False)


def balance(call: Call) -> list[Json]:
    """GET /fapi/v2/balance and /fapi/v3/balance."""
    ex = call.state.exchange
    alias = f"sim{call.uid}"
    return [balance_row(a, alias) for a in asset_rows(ex, ex.ledger(call.uid), call.now)]


def commission_rate(call: Call) -> Json:
    """GET /fapi/v1/commissionRate?symbol: the simulator's maker and taker rates."""
    symbol = params.market(call.state.exchange, call.params).spec.symbol
    maker, taker = call.state.exchange.fees[LINEAR]
    return {
        "symbol": symbol,
        "makerCommissionRate": fmt(maker),
        "takerCommissionRate": fmt(taker),
        "rpiCommissionRate": "0",
    }


def change_leverage(call: Call) -> Json:
    """POST /fapi/v1/leverage?symbol&leverage: an integer from 1 to 100 (-4028 else)."""
    ex = call.state.exchange
    symbol = params.market(ex, call.params).spec.symbol
    leverage = params.integer(call.params, "leverage", -1, -(2**31), 2**31)
    if leverage < 0 and not call.params.get("leverage"):
        raise errors.mandatory("leverage")
    if not MIN_LEVERAGE <= leverage <= MAX_LEVERAGE:
        raise BinanceError(errors.INVALID_LEVERAGE, f"Leverage {leverage} is not valid")
    if ex.ledger(call.uid).account.leverage_of(symbol) != leverage:
        value = str(leverage)
        request = {"symbol": symbol, "buyLeverage": value, "sellLeverage": value}
        try:
            changes = ex.set_leverage(LINEAR, request, call.uid)
        except SimError as exc:
            raise from_engine(exc, "leverage") from None
        call.state.publish(changes)
    view = symbol_view(ex, ex.ledger(call.uid), symbol, "cross")
    return {"leverage": leverage, "maxNotionalValue": fmt(view.max_notional), "symbol": symbol}


def change_margin_type(call: Call) -> Json:
    """POST /fapi/v1/marginType?symbol&marginType=ISOLATED|CROSSED: recorded and shown
    (margin stays cross in the engine); -4046 when unchanged, -4047 / -4048 while the
    symbol has open orders / a position."""
    ex = call.state.exchange
    symbol = params.market(ex, call.params).spec.symbol
    wanted = MARGIN_TYPES[params.choice(call.params, "marginType", tuple(MARGIN_TYPES))]
    if call.state.margin_type_of(call.uid, symbol) == wanted:
        raise BinanceError(errors.NO_NEED_TO_CHANGE_MARGIN_TYPE, "No need to change margin type.")
    view = symbol_view(ex, ex.ledger(call.uid), symbol, wanted)
    if view.bid_notional or view.ask_notional:
        raise BinanceError(
            errors.MARGIN_TYPE_OPEN_ORDERS,
            "Margin type cannot be changed if there exists open orders.",
        )
    if view.amount:
        raise BinanceError(
            errors.MARGIN_TYPE_POSITION, "Margin type cannot be changed if there exists position."
        )
    call.state.margin_types[(call.uid, symbol)] = wanted
    return {"code": 200, "msg": "success"}


def change_position_mode(call: Call) -> Json:
    """POST /fapi/v1/positionSide/dual?dualSidePosition: the accounts are one-way only."""
    if not call.params.get("dualSidePosition"):
        raise errors.mandatory("dualSidePosition")
    if params.boolean(call.params, "dualSidePosition"):
        raise BinanceError(
            errors.BAD_COMBINATION,
            "Hedge mode (dualSidePosition=true) is not supported by the simulator: its "
            "accounts trade one-way (positionSide BOTH) positions only.",
        )
    raise BinanceError(errors.NO_NEED_TO_CHANGE_POSITION_SIDE, "No need to change position side.")


def position_mode(call: Call) -> Json:
    """GET /fapi/v1/positionSide/dual: always one-way."""
    return {"dualSidePosition": False}


def start_user_stream(call: Call) -> Json:
    """POST /fapi/v1/listenKey: the account's active key (extended) or a new one."""
    return {"listenKey": call.state.listen_keys.open(call.uid, call.now)}


def keepalive_user_stream(call: Call) -> Json:
    """PUT /fapi/v1/listenKey[?listenKey]: extend it 60 minutes (-1125 when it is gone)."""
    key = params.text(call.params, "listenKey")
    return {"listenKey": call.state.listen_keys.keepalive(call.uid, key, call.now)}


def close_user_stream(call: Call) -> Json:
    """DELETE /fapi/v1/listenKey[?listenKey]: end it (its streams stop)."""
    for key in call.state.listen_keys.close(call.uid, params.text(call.params, "listenKey")):
        call.state.streams.forget(key)
    return {}
