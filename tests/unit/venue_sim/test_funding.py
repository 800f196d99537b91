"""Funding settlement in the engine: Bybit's `Funding` executions, their sign, their effect on
the wallet and realised PnL, the execType filter, and their round trip through the state file."""

from __future__ import annotations

import random
from decimal import Decimal
from pathlib import Path

import pytest

from libs.common.domain.enums import Category, Side
from services.venue_sim import persist
from services.venue_sim.engine import DEFAULT_UID, Exchange, SimError
from services.venue_sim.engine.queries import executions
from services.venue_sim.wire import execution_item

from .helpers import FakeClock, make_exchange, market

RATE = Decimal("0.0001")


def test_a_long_pays_funding_at_a_positive_rate_like_a_fee(ex: Exchange, clock: FakeClock) -> None:
    market(ex, "Buy", "0.010")  # long 0.010 BTC; the mark (mid) stays 60000
    balance = ex.ledger().account.balances["USDT"]
    position = ex.ledger().account.position("BTCUSDT")
    realised = position.cum_realised
    clock.advance(1000)

    changes = ex.settle_funding("BTCUSDT", RATE)

    [funding] = changes.executions
    fee = Decimal("0.010") * Decimal(60000) * RATE  # 0.06 USDT paid
    assert (funding.exec_type, funding.fee, funding.exec_pnl) == ("Funding", fee, -fee)
    assert (funding.side, funding.qty, funding.price, funding.value) == (
        Side.BUY,
        Decimal("0.010"),
        Decimal(60000),
        Decimal("0.010") * 60000,
    )
    assert (funding.order_id, funding.link_id, funding.fee_rate, funding.fee_currency) == (
        "",
        "",
        RATE,
        "USDT",
    )
    assert funding.time == clock.now and funding.seq == 1  # after the market order's fill
    assert ex.ledger().account.balances["USDT"] == balance - fee
    assert position.cum_realised == realised - fee
    assert position.cur_realised == realised - fee
    assert position.size == Decimal("0.010")  # funding never changes the position
    assert changes.wallet and changes.positions == {(DEFAULT_UID, "BTCUSDT")}
    assert ex.ledger().executions[Category.LINEAR][-1] is funding
    assert "" not in ex.ledger().execs_by_order


def test_a_short_receives_funding_at_a_positive_rate(ex: Exchange) -> None:
    market(ex, "Sell", "0.020")
    balance = ex.ledger().account.balances["USDT"]

    [funding] = ex.settle_funding("BTCUSDT", RATE).executions

    assert funding.side is Side.SELL and funding.qty == Decimal("0.020")
    assert funding.fee == Decimal("-0.12") and funding.exec_pnl == Decimal("0.12")
    assert ex.ledger().account.balances["USDT"] == balance + Decimal("0.12")


def test_funding_fee_is_quantized_like_trading_fees(ex: Exchange) -> None:
    market(ex, "Buy", "0.001")

    [funding] = ex.settle_funding("BTCUSDT", Decimal("0.000012345678")).executions

    # 0.001 * 60000 * 0.000012345678 = 0.000740740680 -> 8 decimals
    assert funding.fee == Decimal("0.00074074")


def test_a_flat_position_settles_nothing(ex: Exchange) -> None:
    balance = ex.ledger().account.balances["USDT"]

    changes = ex.settle_funding("BTCUSDT", RATE)

    assert changes.executions == [] and not changes.wallet
    assert ex.ledger().account.balances["USDT"] == balance


def test_funding_of_an_unlisted_symbol_is_refused(ex: Exchange) -> None:
    with pytest.raises(SimError, match="not listed"):
        ex.settle_funding("NOPEUSDT", RATE)


def test_execution_list_selects_by_exec_type(ex: Exchange) -> None:
    market(ex, "Buy", "0.010")
    ex.settle_funding("BTCUSDT", RATE)

    trades, _ = executions(ex, Category.LINEAR, {"execType": "Trade"})
    fundings, _ = executions(ex, Category.LINEAR, {"execType": "Funding"})
    everything, _ = executions(ex, Category.LINEAR, {})
    adl, _ = executions(ex, Category.LINEAR, {"execType": "AdlTrade"})

    assert [e.exec_type for e in trades] == ["Trade"]
    assert [e.exec_type for e in fundings] == ["Funding"]
    assert [e.exec_type for e in everything] == ["Funding", "Trade"]  # newest first
    assert adl == []


def test_funding_execution_has_bybit_fields() -> None:
    ex = make_exchange(FakeClock())
    market(ex, "Sell", "0.010")
    [funding] = ex.settle_funding("BTCUSDT", RATE).executions

    item = execution_item(funding, ws=True)

    assert item["execType"] == "Funding"
    assert (item["orderId"], item["orderLinkId"], item["createType"]) == ("", "", "")
    assert (item["side"], item["execQty"], item["execPrice"]) == ("Sell", "0.010", "60000")
    assert (item["execFee"], item["execPnl"], item["feeRate"]) == ("-0.06", "0.06", "0.0001")
    assert (item["feeCurrency"], item["leavesQty"], item["closedSize"]) == ("USDT", "0", "0")
    assert item["markPrice"] == "60000" and item["isMaker"] is False


def _roundtrip(ex: Exchange, tmp_path: Path, clock: FakeClock) -> Exchange:
    path = tmp_path / "state.json"
    persist.write(path, persist.snapshot(ex, random.Random(1), saved_ms=clock.now))
    data = persist.read(path)
    assert data is not None
    restored = make_exchange(clock)
    persist.restore(restored, random.Random(), data)
    return restored


def test_funding_executions_survive_the_state_file(
    ex: Exchange, clock: FakeClock, tmp_path: Path
) -> None:
    market(ex, "Buy", "0.010")
    ex.settle_funding("BTCUSDT", RATE)

    restored = _roundtrip(ex, tmp_path, clock)

    assert restored.ledger().executions[Category.LINEAR] == ex.ledger().executions[Category.LINEAR]
    assert [e.exec_type for e in restored.ledger().executions[Category.LINEAR]] == [
        "Trade",
        "Funding",
    ]
    assert restored.ledger().account.balances == ex.ledger().account.balances
    assert "" not in restored.ledger().execs_by_order
    fundings, _ = executions(restored, Category.LINEAR, {"execType": "Funding"})
    assert len(fundings) == 1


def test_a_state_file_from_before_exec_type_still_loads_as_trades(
    ex: Exchange, clock: FakeClock
) -> None:
    market(ex, "Buy", "0.010")
    data = persist.snapshot(ex, random.Random(1), saved_ms=clock.now)
    for items in data["executions"].values():
        for item in items:
            del item["exec_type"]  # what a simulator before funding wrote

    restored = make_exchange(clock)
    persist.restore(restored, random.Random(), data)

    [fill] = restored.ledger().executions[Category.LINEAR]
    assert fill.exec_type == "Trade"
    assert fill == ex.ledger().executions[Category.LINEAR][0]
    assert restored.ledger().execs_by_order[fill.order_id] == [fill]
