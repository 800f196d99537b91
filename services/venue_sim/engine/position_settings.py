"""Position settings of linear symbols: leverage per symbol, and the position mode.

Leverage is per account and symbol, as on Bybit: it sets the initial margin of the symbol's position
and of its open orders (size x price / leverage). Changing it re-reserves the open orders'
margin at once; a change that would leave the account short of margin is refused (110044)
and nothing changes. Setting the leverage it already has is 110043, as Bybit answers.

The simulator keeps one-way positions only: switching to one-way (mode 0) is 110025
("Position mode is not modified", Bybit's answer when the mode is already that), and
switching to hedge mode (mode 3) is 110029, Bybit's "Hedge mode is not supported for this
symbol" (what it answers for the contracts that are one-way only).
"""

from __future__ import annotations

from decimal import Decimal
from typing import NoReturn

from libs.common.domain.enums import Category
from services.venue_sim.engine import errors, validate
from services.venue_sim.engine.account import SETTLE
from services.venue_sim.engine.ledger import Ledger
from services.venue_sim.engine.matching import Matcher
from services.venue_sim.engine.model import Changes
from services.venue_sim.engine.validate import Params

MIN_LEVERAGE = Decimal(1)
MAX_LEVERAGE = Decimal(100)
LEVERAGE_STEP = Decimal("0.01")
"""The instruments' `leverageFilter`."""
ONE_WAY, HEDGE = 0, 3


def _linear_symbol(ex: Matcher, category: Category, params: Params) -> str:
    if category is not Category.LINEAR:
        raise errors.params(f"params error: category {category.value} has no positions")
    symbol = validate.text(params, "symbol", required=True)
    ex.market(category, symbol)
    return symbol


def _leverage(params: Params, name: str) -> Decimal:
    value = validate.decimal(params, name, required=True)
    assert value is not None
    if not MIN_LEVERAGE <= value <= MAX_LEVERAGE or value % LEVERAGE_STEP:
        raise errors.params(
            f"params error: {name} {params[name]!r} is invalid: expected [{MIN_LEVERAGE}, "
            f"{MAX_LEVERAGE}] in steps of {LEVERAGE_STEP}"
        )
    return value


def set_leverage(ex: Matcher, ledger: Ledger, category: Category, params: Params) -> Changes:
    """Set the account's leverage of a linear symbol (`buyLeverage` == `sellLeverage` in
    one-way mode).

    Returns the changes to publish (the symbol's position and the wallet)."""
    symbol = _linear_symbol(ex, category, params)
    buy = _leverage(params, "buyLeverage")
    sell = _leverage(params, "sellLeverage")
    if buy != sell:
        raise errors.params(
            "params error: buyLeverage must equal sellLeverage in one-way mode, "
            f"was {params['buyLeverage']!r} and {params['sellLeverage']!r}"
        )
    account = ledger.account
    previous = account.leverage_of(symbol)
    if buy == previous:
        raise errors.SimError(errors.LEVERAGE_NOT_MODIFIED, "leverage not modified")
    account.leverages[symbol] = buy
    _reserve_open_orders(ex, ledger, symbol)
    if buy < previous and account.available(SETTLE, ex.mark) < 0:
        account.leverages[symbol] = previous
        _reserve_open_orders(ex, ledger, symbol)
        raise errors.SimError(errors.MARGIN_INSUFFICIENT, "Available margin is insufficient.")
    changes = Changes()
    changes.position(ledger.uid, symbol)
    return changes


def _reserve_open_orders(ex: Matcher, ledger: Ledger, symbol: str) -> None:
    """Re-reserve the margin of the account's open linear orders of the symbol at its
    current leverage."""
    for order in ledger.open_orders.values():
        if order.category is Category.LINEAR and order.symbol == symbol:
            ex._reserve(order)


def switch_mode(ex: Matcher, category: Category, params: Params) -> NoReturn:
    """Switch the position mode of a symbol or of a settle coin: always refused (see the
    module's docstring), with the code Bybit gives."""
    if category is not Category.LINEAR:
        raise errors.params(f"params error: category {category.value} has no position mode")
    symbol = validate.text(params, "symbol")
    coin = validate.text(params, "coin")
    if symbol:
        ex.market(category, symbol)
    elif not coin:
        raise errors.params("params error: symbol or coin is required")
    mode = params.get("mode")
    if mode in (ONE_WAY, str(ONE_WAY)) and not isinstance(mode, bool):
        raise errors.SimError(errors.POSITION_MODE_NOT_MODIFIED, "Position mode is not modified")
    if mode in (HEDGE, str(HEDGE)):
        raise errors.SimError(
            errors.HEDGE_NOT_SUPPORTED, "Hedge mode is not supported for this symbol."
        )
    raise errors.params(f"params error: mode {mode!r} is invalid: expected 0 (one-way) or 3")
