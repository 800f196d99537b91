"""The instruments the simulator can list, with Bybit-like rules and starting mids."""

from __future__ import annotations

from dataclasses import dataclass
from decimal import Decimal

from libs.common.domain.enums import Category
from libs.common.domain.instruments import InstrumentRules


@dataclass(frozen=True, slots=True)
class InstrumentSpec:
    """One listed (category, symbol): its trading rules plus synthetic-market parameters."""

    rules: InstrumentRules
    start_mid: Decimal
    depth_qty: Decimal
    """Typical size of one synthetic order book level."""
    trade_qty: Decimal
    """Typical size of one synthetic public trade."""

    @property
    def category(self) -> Category:
        return self.rules.category

    @property
    def symbol(self) -> str:
        return self.rules.symbol


def _linear(
    symbol: str,
    base: str,
    *,
    tick: str,
    step: str,
    max_qty: str,
    max_mkt: str,
    max_price: str,
    mid: str,
    depth: str,
    trade: str,
) -> InstrumentSpec:
    rules = InstrumentRules(
        symbol=symbol,
        category=Category.LINEAR,
        base_coin=base,
        tick_size=Decimal(tick),
        min_price=Decimal(tick),
        max_price=Decimal(max_price),
        qty_step=Decimal(step),
        min_qty=Decimal(step),
        max_qty=Decimal(max_qty),
        max_mkt_qty=Decimal(max_mkt),
        min_notional=Decimal("5"),
    )
    return InstrumentSpec(rules, Decimal(mid), Decimal(depth), Decimal(trade))


def _spot(
    symbol: str,
    base: str,
    *,
    tick: str,
    step: str,
    max_qty: str,
    max_mkt: str,
    mid: str,
    depth: str,
    trade: str,
) -> InstrumentSpec:
    rules = InstrumentRules(
        symbol=symbol,
        category=Category.SPOT,
        base_coin=base,
        tick_size=Decimal(tick),
        min_price=Decimal(tick),
        max_price=Decimal("9999999"),
        qty_step=Decimal(step),
        min_qty=Decimal(step),
        max_qty=Decimal(max_qty),
        max_mkt_qty=Decimal(max_mkt),
        min_notional=Decimal("5"),
    )
    return InstrumentSpec(rules, Decimal(mid), Decimal(depth), Decimal(trade))


CATALOG: dict[tuple[Category, str], InstrumentSpec] = {
    (spec.category, spec.symbol): spec
    for spec in (
        _linear(
            "BTCUSDT",
            "BTC",
            tick="0.1",
            step="0.001",
            max_qty="1190",
            max_mkt="500",
            max_price="1999999.8",
            mid="60000",
            depth="0.5",
            trade="0.05",
        ),
        _linear(
            "ETHUSDT",
            "ETH",
            tick="0.01",
            step="0.01",
            max_qty="7240",
            max_mkt="3620",
            max_price="199999.98",
            mid="3000",
            depth="8",
            trade="0.8",
        ),
        _linear(
            "SOLUSDT",
            "SOL",
            tick="0.001",
            step="0.1",
            max_qty="79770",
            max_mkt="5000",
            max_price="19999.998",
            mid="150",
            depth="150",
            trade="15",
        ),
        _linear(
            "XRPUSDT",
            "XRP",
            tick="0.0001",
            step="1",
            max_qty="1543000",
            max_mkt="123000",
            max_price="199.9998",
            mid="0.6",
            depth="30000",
            trade="3000",
        ),
        _linear(
            "DOGEUSDT",
            "DOGE",
            tick="0.00001",
            step="1",
            max_qty="12000000",
            max_mkt="2400000",
            max_price="19.99998",
            mid="0.15",
            depth="100000",
            trade="10000",
        ),
        _linear(
            "ADAUSDT",
            "ADA",
            tick="0.0001",
            step="1",
            max_qty="2000000",
            max_mkt="500000",
            max_price="199.9998",
            mid="0.45",
            depth="40000",
            trade="4000",
        ),
        _linear(
            "AVAXUSDT",
            "AVAX",
            tick="0.001",
            step="0.1",
            max_qty="50000",
            max_mkt="10000",
            max_price="19999.998",
            mid="30",
            depth="600",
            trade="60",
        ),
        _linear(
            "LINKUSDT",
            "LINK",
            tick="0.001",
            step="0.1",
            max_qty="80000",
            max_mkt="16000",
            max_price="19999.998",
            mid="14",
            depth="1300",
            trade="130",
        ),
        _linear(
            "LTCUSDT",
            "LTC",
            tick="0.01",
            step="0.1",
            max_qty="15000",
            max_mkt="3000",
            max_price="199999.98",
            mid="80",
            depth="220",
            trade="22",
        ),
        _linear(
            "BNBUSDT",
            "BNB",
            tick="0.01",
            step="0.01",
            max_qty="1500",
            max_mkt="300",
            max_price="199999.98",
            mid="550",
            depth="30",
            trade="3",
        ),
        _spot(
            "BTCUSDT",
            "BTC",
            tick="0.01",
            step="0.000001",
            max_qty="71.73956243",
            max_mkt="5.7",
            mid="60000",
            depth="0.5",
            trade="0.05",
        ),
        _spot(
            "ETHUSDT",
            "ETH",
            tick="0.01",
            step="0.00001",
            max_qty="1229.2336343",
            max_mkt="150",
            mid="3000",
            depth="8",
            trade="0.8",
        ),
        _spot(
            "SOLUSDT",
            "SOL",
            tick="0.01",
            step="0.001",
            max_qty="30000",
            max_mkt="2000",
            mid="150",
            depth="150",
            trade="15",
        ),
        _spot(
            "XRPUSDT",
            "XRP",
            tick="0.0001",
            step="0.01",
            max_qty="1000000",
            max_mkt="100000",
            mid="0.6",
            depth="30000",
            trade="3000",
        ),
    )
}


def specs_for(symbols: list[str]) -> list[InstrumentSpec]:
    """The linear and spot listings of `symbols`; raises ValueError for an unknown symbol."""
    known = {symbol for _, symbol in CATALOG}
    unknown = [s for s in symbols if s not in known]
    if unknown:
        raise ValueError(f"unknown symbols {unknown}: expected some of {sorted(known)}")
    return [CATALOG[(cat, s)] for s in symbols for cat in Category if (cat, s) in CATALOG]
