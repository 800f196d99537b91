"""Exposure: what an order counts for, and the admission rule over running totals."""

from __future__ import annotations

from decimal import Decimal

import pytest

from libs.common.domain.enums import OrderType, Side
from libs.common.domain.exposure import (
    Candidate,
    DeskTerms,
    ExposureCheck,
    SymbolBook,
    SymbolTerms,
    VenueTerms,
    VenueTotals,
    explain,
    fill_units,
    from_units,
    order_units,
    position_units,
    to_units,
)
from libs.common.domain.ids import ClientOrderId, ExecId, Symbol
from libs.common.domain.orders import (
    Order,
    OrderEventKind,
    admit,
    apply_ack,
    apply_amend,
    apply_event,
    apply_fill,
    request_amend,
    reserve_amend,
)
from libs.common.domain.risk_checks import Check, TradingState

D = Decimal
BTC, ETH = Symbol("BTCUSDT"), Symbol("ETHUSDT")
USD = 1_000_000
NOW_MS = 1_700_000_000_000


def order(side: Side = Side.BUY, qty: str = "0.1", price: str | None = "50000") -> Order:
    return Order(
        client_order_id=ClientOrderId("o1"),
        symbol=BTC,
        side=side,
        order_type=OrderType.LIMIT if price else OrderType.MARKET,
        qty=D(qty),
        price=D(price) if price else None,
        created_ts_ns=1,
        updated_ts_ns=1,
    )


def terms(
    symbol: Symbol = BTC,
    position: int = 0,
    venue_limits: dict[str, VenueTerms] | None = None,
    **kw: int,
) -> SymbolTerms:
    return SymbolTerms(
        symbol=symbol,
        position=position,
        position_version=0,
        inventory_limit=kw.get("inventory", 10_000 * USD),
        max_open_orders=kw.get("max_open", 50),
        max_orders_per_second=kw.get("rate", 10),
        venue_limits=venue_limits or {},
    )


def check(
    *all_terms: SymbolTerms,
    books: dict[Symbol, SymbolBook] | None = None,
    state: TradingState = TradingState.ACTIVE,
    total: int = 50_000 * USD,
    lag_ms: int = 5_000,
    rates: dict[Symbol, int] | None = None,
) -> ExposureCheck:
    desk = DeskTerms(now_ms=NOW_MS, total_limit=total, max_positions_lag_ms=lag_ms)
    by_symbol = {t.symbol: t for t in (all_terms or (terms(),))}
    return ExposureCheck(state, desk, by_symbol, dict(books or {}), dict(rates or {}))


def place(side: Side = Side.BUY, usd: int = 1_000, symbol: Symbol = BTC, **kw: bool) -> Candidate:
    return Candidate(symbol, side, usd * USD, place=True, must_reduce=kw.get("reduce", False))


# -- What an order counts for --------------------------------------------------------------------


def test_units_round_exposure_up_and_limits_down() -> None:
    assert to_units(D("0.0000001"), round_up=True) == 1
    assert to_units(D("0.0000019"), round_up=False) == 1
    assert from_units(12_345_678) == D("12.345678")
    with pytest.raises(ValueError, match="out of range"):
        to_units(D(10**10), round_up=True)


def test_an_order_counts_nothing_until_risk_admits_it() -> None:
    assert order_units(order()) == 0
    assert order_units(admit(order(), D(50_000), ts_ns=2)) == 5_000 * USD


def test_a_market_order_counts_at_the_mark_risk_admitted_it_at() -> None:
    assert order_units(admit(order(price=None), D(40_000), ts_ns=2)) == 4_000 * USD


def test_fills_reduce_an_order_and_its_end_frees_the_rest() -> None:
    live = apply_ack(admit(order(), D(50_000), ts_ns=2), None, ts_ns=3)
    part = apply_fill(live, ExecId("e1"), D("0.04"), D(50_000), ts_ns=4)
    assert order_units(part) == 3_000 * USD
    assert order_units(apply_event(part, OrderEventKind.CANCELED, ts_ns=5)) == 0


def test_an_amend_counts_at_the_larger_terms_until_the_venue_answers() -> None:
    live = apply_ack(admit(order(), D(50_000), ts_ns=2), None, ts_ns=3)
    reserved = reserve_amend(live, D("0.2"), D(50_500), ts_ns=4)
    assert order_units(reserved) == to_units(D("0.2") * 50_500, round_up=True)
    sent = request_amend(reserved, D("0.2"), D(50_500), ts_ns=5)
    assert order_units(sent) == order_units(reserved)
    rejected = apply_event(sent, OrderEventKind.AMEND_REJECTED, ts_ns=6)
    assert order_units(rejected) == 5_000 * USD
    down = apply_amend(
        request_amend(live, D("0.05"), D(49_000), ts_ns=7), D("0.05"), D(49_000), ts_ns=8
    )
    assert order_units(down) == to_units(D("0.05") * 49_000, round_up=True)


def test_a_position_counts_away_from_zero_and_a_fill_up() -> None:
    assert position_units(D("-0.1"), D("50000.0000001")) == -(5_000 * USD + 1)
    assert fill_units(D("0.1"), D("50000")) == 5_000 * USD


# -- The admission rule ----------------------------------------------------------------------------


def test_an_order_within_every_limit_is_admitted_and_joins_the_totals() -> None:
    rule = check()
    assert rule.decide(place(usd=1_000), 0) is None
    assert rule.books[BTC] == SymbolBook(buy=1_000 * USD, count=1)
    assert rule.rates[BTC] == 1


def test_frozen_denies_every_order() -> None:
    denial = check(state=TradingState.FROZEN).decide(place(Side.SELL), 0)
    assert denial is not None and denial.check is Check.TRADING_STATE


def test_inventory_counts_position_open_orders_and_unfolded_fills() -> None:
    book = SymbolBook(buy=3_000 * USD, unfolded_buy=2_000 * USD)
    rule = check(terms(position=4_000 * USD), books={BTC: book})
    denial = rule.decide(place(usd=1_001), 0)
    assert denial is not None
    assert (denial.check, denial.value, denial.limit) == (
        Check.INVENTORY,
        10_001 * USD,
        10_000 * USD,
    )
    assert rule.decide(place(usd=1_000), 0) is None


def test_inventory_of_each_side_is_its_own_worst_case() -> None:
    rule = check(terms(position=-9_000 * USD))
    assert rule.decide(place(Side.BUY, usd=15_000), 0) is None  # short reduced, then long 6k
    denial = rule.decide(place(Side.SELL, usd=1_001), 0)
    assert denial is not None and denial.check is Check.INVENTORY


def test_total_notional_sums_worst_cases_over_symbols_and_allows_reducing() -> None:
    eth = terms(ETH, position=45_000 * USD, inventory=100_000 * USD)
    rule = check(terms(), eth)
    denial = rule.decide(place(usd=5_001), 0)
    assert denial is not None and denial.check is Check.TOTAL_NOTIONAL
    assert denial.value == 50_001 * USD
    assert rule.decide(place(Side.SELL, usd=1_000, symbol=ETH), 0) is None


def test_open_orders_and_rate_are_counted_per_symbol() -> None:
    full = check(terms(max_open=2), books={BTC: SymbolBook(buy=USD, count=2)})
    denial = full.decide(place(), 0)
    assert denial is not None and (denial.check, denial.value, denial.limit) == (
        Check.OPEN_ORDERS,
        2,
        2,
    )
    busy = check(terms(rate=3), rates={BTC: 3})
    denial = busy.decide(place(), 0)
    assert denial is not None and denial.check is Check.ORDER_RATE


def test_an_amend_is_checked_on_its_increase_and_never_counts_as_a_new_order() -> None:
    book = SymbolBook(buy=9_000 * USD, count=50)
    rule = check(terms(max_open=50), books={BTC: book})
    up = Candidate(BTC, Side.BUY, 4_000 * USD, place=False)
    denial = rule.decide(up, 2_000 * USD)  # +2000 on top of 9000 passes 10000
    assert denial is not None and denial.check is Check.INVENTORY
    down = Candidate(BTC, Side.BUY, 1_000 * USD, place=False)
    assert rule.decide(down, 2_000 * USD) is None
    assert rule.books[BTC] == SymbolBook(buy=8_000 * USD, count=50)


def test_reducing_and_daily_loss_admit_only_orders_that_reduce() -> None:
    long = terms(position=2_000 * USD)
    reducing = check(long, state=TradingState.REDUCING)
    assert reducing.decide(place(Side.SELL, usd=2_000), 0) is None
    denial = reducing.decide(place(Side.SELL, usd=1), 0)  # 2000 + 1 would flip the position
    assert denial is not None and denial.check is Check.TRADING_STATE
    loss = check(long)
    denial = loss.decide(place(Side.BUY, reduce=True), 0)
    assert denial is not None and denial.check is Check.DAILY_LOSS
    assert loss.decide(place(Side.SELL, usd=500, reduce=True), 0) is None


def test_positions_lag_denies_every_order_until_fills_are_folded() -> None:
    stale = SymbolBook(unfolded_sell=USD, oldest_unfolded_ms=NOW_MS - 6_000)
    denial = check(books={BTC: stale}).decide(place(Side.SELL), 0)
    assert denial is not None
    assert (denial.check, denial.value, denial.limit) == (Check.POSITIONS_LAG, 6_000, 5_000)


@pytest.mark.parametrize(
    ("check_", "state", "says"),
    [
        (Check.INVENTORY, TradingState.ACTIVE, "inventory BTCUSDT Buy would be 12.5 USD"),
        (Check.TOTAL_NOTIONAL, TradingState.ACTIVE, "total notional would be 12.5 USD"),
        (Check.TRADING_STATE, TradingState.FROZEN, "trading is FROZEN: no new orders"),
        (Check.TRADING_STATE, TradingState.REDUCING, "trading is REDUCING: Buy BTCUSDT"),
        (Check.POSITIONS_LAG, TradingState.ACTIVE, "positions lag: a reported fill has waited"),
        (Check.DAILY_LOSS, TradingState.ACTIVE, "daily loss limit reached"),
    ],
)
def test_explain_gives_the_operator_the_figures(
    check_: Check, state: TradingState, says: str
) -> None:
    from libs.common.domain.exposure import Denial

    assert says in explain(Denial(check_, 12_500_000, 10 * USD), place(), state)


# -- a venue's own inventory limit -------------------------------------------------------------


def test_bybits_share_is_the_rest_of_the_totals_and_another_venues_is_its_own() -> None:
    book = SymbolBook(
        buy=9 * USD, sell=4 * USD, unfolded_buy=2 * USD,
        venues={"binance-usdm": VenueTotals(buy=5 * USD, sell=1 * USD, unfolded_buy=2 * USD)},
    )  # fmt: skip

    assert book.at("bybit") == VenueTotals(buy=4 * USD, sell=3 * USD)
    assert book.with_side(Side.BUY, USD, 1, "binance-usdm").at("binance-usdm").buy == 6 * USD
    assert book.with_side(Side.BUY, USD, 1, "bybit").at("bybit").buy == 5 * USD


def test_a_venues_own_limit_denies_its_share_while_the_symbol_has_room() -> None:
    own = {"binance-usdm": VenueTerms(position=2_000 * USD, inventory_limit=4_000 * USD)}
    rule = check(terms(venue_limits=own))
    there = Candidate(BTC, Side.BUY, 1_500 * USD, place=True, venue="binance-usdm")
    more = Candidate(BTC, Side.BUY, 1_000 * USD, place=True, venue="binance-usdm")
    here = Candidate(BTC, Side.BUY, 3_000 * USD, place=True, venue="bybit")

    assert rule.decide(there, 0) is None  # 2,000 held there + 1,500
    denial = rule.decide(more, 0)
    assert denial == (Check.VENUE_INVENTORY, 4_500 * USD, 4_000 * USD)
    assert rule.decide(here, 0) is None  # Bybit has no limit of its own
    assert explain(denial, more, TradingState.ACTIVE) == (
        "inventory BTCUSDT Buy at binance-usdm would be 4500 USD, limit 4000 USD at binance-usdm"
    )
