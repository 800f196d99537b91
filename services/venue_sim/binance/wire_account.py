"""Binance USDⓈ-M JSON of an account: positions (`positionRisk` v2 / v3, the positions of
`account`), assets and balances. One-way positions (`positionSide` BOTH) in USDT.

The simulator's margin is cross margin whatever `marginType` was set (the setting is shown,
not modelled); the liquidation price is not computed ("0"), and `maxNotionalValue` is a
synthetic cap that shrinks as the leverage grows.
"""

from __future__ import annotations

from dataclasses import dataclass
from decimal import Decimal
from typing import Any

from libs.common.domain.enums import Category, Side
from services.venue_sim.engine import Exchange, Ledger
from services.venue_sim.engine.account import MAINTENANCE_RATE, SETTLE
from services.venue_sim.engine.model import ZERO, Position
from services.venue_sim.wire import fmt, num

Json = dict[str, Any]
MAX_NOTIONAL_AT_1X = Decimal(100_000_000)


@dataclass(frozen=True, slots=True)
class SymbolView:
    """One symbol of one account, with the figures every position shape is built from."""

    position: Position
    mark: Decimal
    leverage: Decimal
    margin_type: str
    """"cross" or "isolated" (as set; margin is always cross)."""
    taker_fee: Decimal
    order_im: Decimal
    bid_notional: Decimal
    ask_notional: Decimal

    @property
    def amount(self) -> Decimal:
        """The signed position size (`positionAmt`)."""
        return self.position.size

    @property
    def notional(self) -> Decimal:
        """Signed size x mark."""
        return self.amount * self.mark

    @property
    def unrealized(self) -> Decimal:
        """Unrealised PnL at the mark."""
        return self.amount * (self.mark - self.position.avg_price)

    @property
    def initial_margin(self) -> Decimal:
        """The position's initial margin at its leverage."""
        return abs(self.notional) / self.leverage

    @property
    def maint_margin(self) -> Decimal:
        """The position's maintenance margin."""
        return abs(self.notional) * MAINTENANCE_RATE

    @property
    def break_even(self) -> Decimal:
        """The entry price moved by the taker fee of opening and of closing."""
        entry, fee = self.position.avg_price, self.taker_fee
        if not self.amount:
            return ZERO
        return entry * (1 + fee) / (1 - fee) if self.amount > 0 else entry * (1 - fee) / (1 + fee)

    @property
    def max_notional(self) -> Decimal:
        """The synthetic `maxNotionalValue` at the leverage."""
        return (MAX_NOTIONAL_AT_1X / self.leverage).to_integral_value()


def symbol_view(ex: Exchange, ledger: Ledger, symbol: str, margin_type: str) -> SymbolView:
    """The account's figures of one listed symbol."""
    account = ledger.account
    orders = [
        o
        for o in ledger.open_orders.values()
        if o.category is Category.LINEAR and o.symbol == symbol
    ]
    return SymbolView(
        position=account.position(symbol),
        mark=ex.mark(symbol),
        leverage=account.leverage_of(symbol),
        margin_type=margin_type,
        taker_fee=ex.fees[Category.LINEAR][1],
        order_im=sum((o.reserved for o in orders), ZERO),
        bid_notional=sum((o.leaves * o.price for o in orders if o.side is Side.BUY), ZERO),
        ask_notional=sum((o.leaves * o.price for o in orders if o.side is Side.SELL), ZERO),
    )


def position_v2(view: SymbolView) -> Json:
    """A row of `GET /fapi/v2/positionRisk`."""
    return {
        "symbol": view.position.symbol,
        "positionAmt": fmt(view.amount),
        "entryPrice": num(view.position.avg_price),
        "breakEvenPrice": num(view.break_even),
        "markPrice": fmt(view.mark),
        "unRealizedProfit": num(view.unrealized),
        "liquidationPrice": "0",
        "leverage": str(int(view.leverage)),
        "maxNotionalValue": fmt(view.max_notional),
        "marginType": view.margin_type,
        "isolatedMargin": "0",
        "isAutoAddMargin": "false",
        "positionSide": "BOTH",
        "notional": num(view.notional),
        "isolatedWallet": "0",
        "updateTime": view.position.updated,
    }


def position_v3(view: SymbolView) -> Json:
    """A row of `GET /fapi/v3/positionRisk`."""
    return {
        "symbol": view.position.symbol,
        "positionSide": "BOTH",
        "positionAmt": fmt(view.amount),
        "entryPrice": num(view.position.avg_price),
        "breakEvenPrice": num(view.break_even),
        "markPrice": fmt(view.mark),
        "unRealizedProfit": num(view.unrealized),
        "liquidationPrice": "0",
        "isolatedMargin": "0",
        "notional": num(view.notional),
        "marginAsset": SETTLE,
        "isolatedWallet": "0",
        "initialMargin": num(view.initial_margin + view.order_im),
        "maintMargin": num(view.maint_margin),
        "positionInitialMargin": num(view.initial_margin),
        "openOrderInitialMargin": num(view.order_im),
        "adl": 0,
        "bidNotional": num(view.bid_notional),
        "askNotional": num(view.ask_notional),
        "updateTime": view.position.updated,
    }


def account_position(view: SymbolView, *, v2: bool) -> Json:
    """A position of `GET /fapi/v2/account` or `/fapi/v3/account`."""
    row: Json = {
        "symbol": view.position.symbol,
        "positionSide": "BOTH",
        "positionAmt": fmt(view.amount),
        "unrealizedProfit": num(view.unrealized),
        "isolatedMargin": "0",
        "notional": num(view.notional),
        "isolatedWallet": "0",
        "initialMargin": num(view.initial_margin + view.order_im),
        "maintMargin": num(view.maint_margin),
        "updateTime": view.position.updated,
    }
    if v2:
        row.update(
            {
                "positionInitialMargin": num(view.initial_margin),
                "openOrderInitialMargin": num(view.order_im),
                "leverage": str(int(view.leverage)),
                "isolated": view.margin_type == "isolated",
                "entryPrice": num(view.position.avg_price),
                "breakEvenPrice": num(view.break_even),
                "maxNotional": fmt(view.max_notional),
                "bidNotional": num(view.bid_notional),
                "askNotional": num(view.ask_notional),
            }
        )
    return row


def asset_rows(ex: Exchange, ledger: Ledger, now: int) -> list[Json]:
    """Every coin of the account (USDT first), as `account`'s `assets` list them; USDT
    carries the margin figures (the account is in single-asset mode)."""
    account, marks = ledger.account, ex.mark
    upl = account.unrealised(marks)
    position_im, position_mm = account.position_im(marks), account.position_mm(marks)
    rows: list[Json] = []
    for coin in sorted(account.balances, key=lambda c: (c != SETTLE, c)):
        balance = account.balances[coin]
        settle = coin == SETTLE
        available = account.available(coin, marks) if settle else balance
        rows.append(
            {
                "asset": coin,
                "walletBalance": num(balance),
                "unrealizedProfit": num(upl if settle else ZERO),
                "marginBalance": num(balance + upl if settle else balance),
                "maintMargin": num(position_mm if settle else ZERO),
                "initialMargin": num(position_im + account.order_im if settle else ZERO),
                "positionInitialMargin": num(position_im if settle else ZERO),
                "openOrderInitialMargin": num(account.order_im if settle else ZERO),
                "crossWalletBalance": num(balance),
                "crossUnPnl": num(upl if settle else ZERO),
                "availableBalance": num(available),
                "maxWithdrawAmount": num(max(ZERO, min(available, balance))),
                "marginAvailable": settle,
                "updateTime": now,
            }
        )
    return rows


def account_totals(ex: Exchange, ledger: Ledger) -> Json:
    """The account-wide USDT totals of `GET /fapi/v2|v3/account`."""
    account, marks = ledger.account, ex.mark
    wallet = account.balances[SETTLE]
    upl = account.unrealised(marks)
    position_im = account.position_im(marks)
    available = account.available(SETTLE, marks)
    return {
        "totalInitialMargin": num(position_im + account.order_im),
        "totalMaintMargin": num(account.position_mm(marks)),
        "totalWalletBalance": num(wallet),
        "totalUnrealizedProfit": num(upl),
        "totalMarginBalance": num(wallet + upl),
        "totalPositionInitialMargin": num(position_im),
        "totalOpenOrderInitialMargin": num(account.order_im),
        "totalCrossWalletBalance": num(wallet),
        "totalCrossUnPnl": num(upl),
        "availableBalance": num(available),
        "maxWithdrawAmount": num(max(ZERO, min(available, wallet))),
    }


def balance_row(asset: Json, alias: str) -> Json:
    """A row of `GET /fapi/v2|v3/balance` from an `asset_rows` row."""
    return {
        "accountAlias": alias,
        "asset": asset["asset"],
        "balance": asset["walletBalance"],
        "crossWalletBalance": asset["crossWalletBalance"],
        "crossUnPnl": asset["crossUnPnl"],
        "availableBalance": asset["availableBalance"],
        "maxWithdrawAmount": asset["maxWithdrawAmount"],
        "marginAvailable": asset["marginAvailable"],
        "updateTime": asset["updateTime"],
    }
