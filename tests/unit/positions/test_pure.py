"""Pure parts of the positions service: drift, marks from tickers, settings."""

from __future__ import annotations

from decimal import Decimal

import pytest
from pydantic import ValidationError

from libs.common.domain.enums import Category, Side
from libs.common.domain.ids import Symbol
from libs.common.venue import Ticker, VenueConfig, VenuePosition
from services.positions.marks import mark_of
from services.positions.reconcile import position_drift
from services.positions.settings import PositionsSettings

D = Decimal
BTC, ETH, SOL = Symbol("BTCUSDT"), Symbol("ETHUSDT"), Symbol("SOLUSDT")


def venue_position(symbol: str, side: Side | None, size: str, idx: int = 0) -> VenuePosition:
    return VenuePosition(
        category=Category.LINEAR,
        symbol=symbol,
        position_idx=idx,
        side=side,
        size=D(size),
        avg_price=D(0),
        mark_price=None,
        unrealised_pnl=D(0),
        cum_realised_pnl=D(0),
        leverage=None,
        updated_ms=0,
    )


def ticker(**fields: str | int | None) -> Ticker:
    base: dict[str, object] = {
        "category": Category.LINEAR,
        "symbol": "BTCUSDT",
        "bid": "59999.5",
        "ask": "60000.5",
        "last": "60001",
        "mark": "60000.2",
        "ts_ms": 1_700_000_000_123,
    }
    return Ticker.model_validate(base | fields)


def test_drift_is_the_absolute_qty_difference_per_symbol() -> None:
    venue = [
        venue_position("BTCUSDT", Side.BUY, "0.003"),
        venue_position("ETHUSDT", Side.SELL, "2"),
        venue_position("SOLUSDT", None, "0"),
    ]
    local = {BTC: D("0.003"), ETH: D("-1.5"), Symbol("XRPUSDT"): D(10)}

    assert position_drift(local, venue) == {
        BTC: D(0),
        ETH: D("0.5"),
        SOL: D(0),
        Symbol("XRPUSDT"): D(10),
    }


def test_drift_sums_the_legs_of_a_hedge_mode_position() -> None:
    venue = [
        venue_position("BTCUSDT", Side.BUY, "3", 1),
        venue_position("BTCUSDT", Side.SELL, "1", 2),
    ]

    assert position_drift({BTC: D(2)}, venue) == {BTC: D(0)}


def test_mark_of_ticker_keeps_the_venue_prices_and_time() -> None:
    mark = mark_of(ticker(), now_ns=5)

    assert mark is not None
    assert (mark.mark, mark.bid, mark.ask, mark.mid) == (
        D("60000.2"),
        D("59999.5"),
        D("60000.5"),
        D("60000"),
    )
    assert (mark.ts_ns, mark.seen_ns) == (1_700_000_000_123_000_000, 5)


def test_mark_of_ticker_without_time_or_prices() -> None:
    untimed = mark_of(ticker(ts_ms=0), now_ns=7)

    assert untimed is not None and untimed.ts_ns == 7
    assert mark_of(ticker(bid=None, ask=None, last=None, mark=None), now_ns=7) is None


def test_settings_read_symbols_as_a_comma_list(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("MMX_POSITIONS_SYMBOLS", "BTCUSDT, ETHUSDT")
    monkeypatch.setenv("MMX_POSITIONS_RECONCILE_INTERVAL_S", "5")

    settings = PositionsSettings(venue=VenueConfig())

    assert settings.symbols == (BTC, ETH)
    assert (settings.port, settings.reconcile_interval_s) == (9103, 5.0)


def test_settings_refuse_a_symbol_the_venue_would_not_know() -> None:
    with pytest.raises(ValidationError, match="symbol 'btc-usdt' is invalid"):
        PositionsSettings(symbols="btc-usdt", venue=VenueConfig())
