"""Settings parsing and the Bybit JSON shapes of the simulator's records."""

from __future__ import annotations

from decimal import Decimal

import pytest
from pydantic import ValidationError

from libs.common.domain.enums import Category
from services.venue_sim.engine import Exchange
from services.venue_sim.settings import ApiKey, SimSettings
from services.venue_sim.wire import execution_item, fmt, num, order_item, position_item

from .helpers import limit, market


def test_keys_symbols_and_wallet_parse_from_the_environment(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv("MMX_SIM_KEYS", "a:1, b:two")
    monkeypatch.setenv("MMX_SIM_SYMBOLS", "btcusdt,ETHUSDT")
    monkeypatch.setenv("MMX_SIM_WALLET", "USDT:5000,BTC:0.5")
    monkeypatch.setenv("MMX_SIM_MARKET_FROZEN", "true")
    settings = SimSettings()
    assert settings.keys == (ApiKey("a", "1", "100100100"), ApiKey("b", "two", "100100101"))
    assert settings.symbols == ["BTCUSDT", "ETHUSDT"]
    assert settings.wallet_balances() == {"USDT": Decimal(5000), "BTC": Decimal("0.5")}
    assert settings.market_frozen is True


def test_defaults_are_the_dev_key_and_bybit_fees() -> None:
    settings = SimSettings()
    assert settings.keys == (ApiKey("mmx-dev-key", "mmx-dev-secret", "100100100"),)
    assert settings.uids() == ["100100100"]
    assert (settings.taker_fee, settings.maker_fee) == (Decimal("0.00055"), Decimal("0.0002"))
    assert settings.wallet_balances() == {"USDT": Decimal(100_000)}


def test_malformed_keys_are_refused(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("MMX_SIM_KEYS", "no-secret")
    with pytest.raises(ValidationError):
        SimSettings()


def test_numbers_are_plain_strings() -> None:
    assert fmt(Decimal("1E+1")) == "10"
    assert fmt(Decimal("-0")) == "0"
    assert fmt(Decimal("0.010")) == "0.010"
    assert num(Decimal("60000.042857142857142857")) == "60000.04285714"
    assert num(Decimal("100.50000")) == "100.5"


def test_order_item_uses_bybit_names_and_types(ex: Exchange) -> None:
    resting = order_item(limit(ex, "Buy", "0.01", "59000", orderLinkId="w-1"))
    assert resting["avgPrice"] == "" and resting["cumExecQty"] == "0"
    assert resting["createType"] == "CreateByUser" and resting["positionIdx"] == 0
    assert resting["reduceOnly"] is False and isinstance(resting["createdTime"], str)
    assert "category" not in resting
    filled = order_item(market(ex, "Sell", "0.01"), ws=True)
    assert (filled["orderStatus"], filled["avgPrice"], filled["category"]) == (
        "Filled",
        "59999.9",
        "linear",
    )
    assert filled["cumFeeDetail"] == {"USDT": filled["cumExecFee"]}
    spot = order_item(limit(ex, "Buy", "0.001", "59000", category=Category.SPOT))
    assert "createType" not in spot and spot["isLeverage"] == "0"


def test_execution_and_position_items(ex: Exchange) -> None:
    market(ex, "Buy", "0.01")
    fill = ex.ledger().executions[Category.LINEAR][0]
    rest, ws = execution_item(fill), execution_item(fill, ws=True)
    assert rest["execType"] == "Trade" and rest["isMaker"] is False
    assert "category" not in rest and ws["category"] == "linear" and "execPnl" in ws
    position = ex.ledger().account.position("BTCUSDT")
    assert position_item(ex, ex.ledger().account, position)["avgPrice"] == "60000.1"
    ws_position = position_item(ex, ex.ledger().account, position, ws=True)
    assert ws_position["entryPrice"] == "60000.1" and "avgPrice" not in ws_position
