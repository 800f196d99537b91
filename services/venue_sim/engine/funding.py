"""Funding settlement on linear positions, reported as Bybit does: an execution of execType
`Funding` whose execFee is what the account paid (positive) or received (negative).

A long pays and a short receives when the rate is positive: fee = signed size * mark * rate.
The fee moves the USDT wallet and the position's realised PnL exactly as a trading fee does.
"""

from __future__ import annotations

from decimal import Decimal

from libs.common.domain.enums import Category, OrderType, Side
from services.venue_sim.engine.account import SETTLE
from services.venue_sim.engine.ledger import Ledger
from services.venue_sim.engine.matching import FEE_QUANTUM, Matcher
from services.venue_sim.engine.model import ZERO, Changes

MAX_FUNDING_RATE = Decimal("0.01")
"""The largest |rate| the control endpoint accepts for one settlement: wider than the cap the
instruments advertise (`market_data.FUNDING_CAP`, 0.375 %), so tests can drive extremes."""


def settle_funding(ex: Matcher, ledger: Ledger, symbol: str, rate: Decimal) -> Changes:
    """Settle one funding interval of `symbol` at `rate` on the account's open linear
    position.

    Raises SimError when `symbol` is not a listed linear symbol. A flat position settles
    nothing (no execution, empty changes).
    """
    market = ex.market(Category.LINEAR, symbol)
    changes = Changes()
    position = ledger.account.positions.get(symbol)
    if position is None or position.size == 0:
        return changes
    now = ex.clock()
    mark = ex.mark(symbol)
    qty = abs(position.size)
    fee = (position.size * mark * rate).quantize(FEE_QUANTUM)
    ledger.account.settle_funding(symbol, fee, now)
    ex.record_execution(
        changes,
        uid=ledger.uid,
        category=Category.LINEAR,
        symbol=symbol,
        order_id="",
        link_id="",
        side=Side.BUY if position.size > 0 else Side.SELL,
        order_price=ZERO,
        order_qty=qty,
        order_type=OrderType.MARKET,
        price=mark,
        qty=qty,
        value=qty * mark,
        fee=fee,
        fee_rate=rate,
        fee_currency=SETTLE,
        is_maker=False,
        time=now,
        leaves=ZERO,
        closed_size=ZERO,
        exec_pnl=-fee,
        mark_price=market.mid,
        exec_type="Funding",
    )
    changes.positions.add((ledger.uid, symbol))
    return changes
