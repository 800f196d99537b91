"""Positions, realised PnL, fees, the USDT wallet, and reduce-only orders."""

from __future__ import annotations

from decimal import Decimal

import pytest

from libs.common.domain.enums import Category, VenueOrderStatus
from services.venue_sim.engine import Exchange, SimError

from .helpers import MAKER, TAKER, limit, market

D = Decimal
BTC = (Category.LINEAR, "BTCUSDT")
START = D(100_000)


def fee(price: str, qty: str, rate: Decimal) -> Decimal:
    return (D(price) * D(qty) * rate).quantize(D("0.00000001"))


def test_opening_fill_sets_size_and_entry_and_charges_the_fee(ex: Exchange) -> None:
    market(ex, "Buy", "0.1")
    pos = ex.ledger().account.position("BTCUSDT")
    paid = fee("60000.1", "0.1", TAKER)
    assert (pos.size, pos.avg_price) == (D("0.1"), D("60000.1"))
    assert pos.cur_realised == pos.cum_realised == -paid
    assert ex.ledger().account.balances["USDT"] == START - paid


def test_adding_averages_the_entry_price(ex: Exchange) -> None:
    limit(ex, "Buy", "0.1", "59999.9")
    limit(ex, "Buy", "0.3", "59999.5")
    ex.set_mid(*BTC, D("59990"))
    pos = ex.ledger().account.position("BTCUSDT")
    assert pos.size == D("0.4")
    assert pos.avg_price == (D("0.1") * D("59999.9") + D("0.3") * D("59999.5")) / D("0.4")


def test_reducing_realises_pnl_on_the_closed_part(ex: Exchange) -> None:
    market(ex, "Buy", "0.2")  # long 0.2 @ 60000.1
    ex.set_mid(*BTC, D("61000"))
    execution_before = len(ex.ledger().executions[Category.LINEAR])
    market(ex, "Sell", "0.05")  # sells at the bid 60999.9
    fill = ex.ledger().executions[Category.LINEAR][execution_before]
    expected_pnl = D("0.05") * (D("60999.9") - D("60000.1"))
    assert fill.closed_size == D("0.05")
    assert fill.exec_pnl == expected_pnl
    pos = ex.ledger().account.position("BTCUSDT")
    assert (pos.size, pos.avg_price) == (D("0.15"), D("60000.1"))
    fees = fee("60000.1", "0.2", TAKER) + fee("60999.9", "0.05", TAKER)
    assert ex.ledger().account.balances["USDT"] == START + expected_pnl - fees
    assert pos.cum_realised == expected_pnl - fees


def test_flip_realises_the_old_side_and_opens_the_rest_at_the_fill_price(ex: Exchange) -> None:
    market(ex, "Sell", "0.1")  # short 0.1 @ 59999.9
    ex.set_mid(*BTC, D("59000"))
    market(ex, "Buy", "0.3")  # buys at 59000.1: closes 0.1, opens long 0.2
    pos = ex.ledger().account.position("BTCUSDT")
    assert (pos.size, pos.avg_price, pos.side) == (D("0.2"), D("59000.1"), "Buy")
    last = ex.ledger().executions[Category.LINEAR][-1]
    assert last.closed_size == D("0.1")
    assert last.exec_pnl == D("0.1") * (D("59999.9") - D("59000.1"))


def test_closing_flat_resets_the_entry(ex: Exchange) -> None:
    market(ex, "Buy", "0.1")
    market(ex, "Sell", "0.1")
    pos = ex.ledger().account.position("BTCUSDT")
    assert (pos.size, pos.avg_price, pos.side) == (D(0), D(0), "")


def test_maker_fills_pay_the_maker_rate(ex: Exchange) -> None:
    limit(ex, "Sell", "0.1", "60010")
    changes = ex.public_trade(*BTC, D("60010"), D("1"))
    [fill] = changes.executions
    assert fill.fee_rate == MAKER
    assert fill.fee == fee("60010", "0.1", MAKER)


def test_reduce_only_without_a_position_is_refused(ex: Exchange) -> None:
    with pytest.raises(SimError) as info:
        limit(ex, "Sell", "0.1", "60010", reduceOnly=True)
    assert info.value.code == 110017


def test_reduce_only_that_would_increase_is_refused(ex: Exchange) -> None:
    market(ex, "Buy", "0.1")
    with pytest.raises(SimError) as info:
        limit(ex, "Buy", "0.1", "59000", reduceOnly=True)
    assert info.value.code == 110017


def test_reduce_only_larger_than_the_position_is_clipped(ex: Exchange) -> None:
    market(ex, "Buy", "0.1")
    order = limit(ex, "Sell", "0.5", "60010", reduceOnly=True)
    assert (order.qty, order.leaves) == (D("0.100"), D("0.100"))
    with pytest.raises(SimError) as info:
        limit(ex, "Sell", "0.1", "60020", reduceOnly=True)
    assert info.value.code == 110017


def test_reduce_only_market_closes_at_most_the_position(ex: Exchange) -> None:
    market(ex, "Sell", "0.1")
    order = market(ex, "Buy", "1", reduceOnly=True)
    assert order.cum_qty == D("0.100")
    assert ex.ledger().account.position("BTCUSDT").size == 0


def test_resting_reduce_only_is_cut_or_cancelled_when_the_position_shrinks(ex: Exchange) -> None:
    market(ex, "Buy", "0.3")
    first = limit(ex, "Sell", "0.2", "60100", reduceOnly=True)
    second = limit(ex, "Sell", "0.1", "60200", reduceOnly=True)
    market(ex, "Sell", "0.15")  # position now 0.15
    assert first.leaves == D("0.15") and first.status is VenueOrderStatus.NEW
    assert second.status is VenueOrderStatus.CANCELLED
    assert second.cancel_type == "CancelByReduceOnly"
    market(ex, "Sell", "0.15")  # flat
    assert first.status is VenueOrderStatus.CANCELLED


def test_reduce_only_orders_hold_no_margin(ex: Exchange) -> None:
    market(ex, "Buy", "0.1")
    limit(ex, "Sell", "0.1", "60100", reduceOnly=True)
    assert ex.ledger().account.order_im == 0


def test_available_balance_counts_position_margin_and_unrealised_pnl(ex: Exchange) -> None:
    market(ex, "Buy", "1")  # 60000.1 notional -> 6000 margin at mid 60000
    paid = fee("60000.1", "1", TAKER)
    available = ex.ledger().account.available("USDT", ex.mark)
    assert available == START - paid - D("6000") + (D("60000") - D("60000.1"))
