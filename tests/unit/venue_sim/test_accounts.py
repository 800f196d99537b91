"""Several accounts on one exchange: separate wallets, positions and orders, one shared book
where the accounts' orders trade with each other (never with their own)."""

from __future__ import annotations

from decimal import Decimal

import pytest

from libs.common.domain.enums import Category, VenueOrderStatus
from services.venue_sim.engine import Exchange, SimError
from services.venue_sim.engine.queries import executions, orders, positions

from .helpers import FakeClock, limit, make_exchange, market

A, B = "100100100", "100100101"
LIN = Category.LINEAR
BTC = {"symbol": "BTCUSDT"}


@pytest.fixture
def ex(clock: FakeClock) -> Exchange:
    """Two accounts, A (the first) and B; BTC mid 60000 (bid 59999.9 / ask 60000.1)."""
    return make_exchange(clock, uids=(A, B))


def code_of(call: object) -> int:
    assert callable(call)
    with pytest.raises(SimError) as raised:
        call()
    return raised.value.code


def test_each_account_starts_with_the_wallet_and_trades_apart(ex: Exchange) -> None:
    market(ex, "Buy", "0.010", uid=A)
    resting = limit(ex, "Sell", "0.010", "61000", uid=B)

    a, b = ex.ledger(A), ex.ledger(B)
    assert a.account.position("BTCUSDT").size == Decimal("0.010")
    assert b.account.position("BTCUSDT").size == 0
    assert a.account.balances["USDT"] < Decimal(100_000) == b.account.balances["USDT"]
    assert b.account.order_im > 0 and a.account.order_im == 0
    assert list(b.open_orders) == [resting.order_id] and a.open_orders == {}
    assert resting.order_id not in a.orders and resting.order_id in ex.orders
    assert resting.uid == B and ex.ledger() is a  # no UID: the first account


def test_a_cross_account_match_fills_maker_and_taker_in_their_own_accounts(ex: Exchange) -> None:
    ask = limit(ex, "Sell", "0.010", "60000.0", uid=A)  # inside the synthetic spread: rests
    params = {**BTC, "side": "Buy", "orderType": "Limit", "qty": "0.010", "price": "60000.0"}
    bid, changes = ex.place(LIN, params, B)

    assert (ask.status, bid.status) == (VenueOrderStatus.FILLED, VenueOrderStatus.FILLED)
    [maker] = ex.ledger(A).executions[LIN]
    [taker] = ex.ledger(B).executions[LIN]
    assert (maker.uid, maker.is_maker, maker.price, maker.fee) == (
        A,
        True,
        Decimal("60000.0"),
        Decimal("0.12"),
    )
    assert (taker.uid, taker.is_maker, taker.price, taker.fee) == (
        B,
        False,
        Decimal("60000.0"),
        Decimal("0.33"),
    )
    assert ex.ledger(A).account.position("BTCUSDT").size == Decimal("-0.010")
    assert ex.ledger(B).account.position("BTCUSDT").size == Decimal("0.010")
    assert ex.ledger(A).account.balances["USDT"] == Decimal("99999.88")
    assert ex.ledger(B).account.balances["USDT"] == Decimal("99999.67")
    assert [(t.price, t.qty) for t in changes.trades] == [(Decimal("60000.0"), Decimal("0.010"))]
    assert changes.positions == {(A, "BTCUSDT"), (B, "BTCUSDT")}
    assert changes.wallets == {A, B}
    assert ex.books[(LIN, "BTCUSDT")].count == 0


def test_a_market_order_takes_other_accounts_better_orders_then_the_synthetic_touch(
    ex: Exchange,
) -> None:
    limit(ex, "Sell", "0.004", "60000.0", uid=A)
    limit(ex, "Sell", "0.004", "60000.1", uid=A)  # at the synthetic ask: the book goes first
    limit(ex, "Sell", "0.004", "60100.0", uid=A)  # worse than the touch: not reached
    market(ex, "Buy", "0.010", uid=B)

    fills = [(e.price, e.qty) for e in ex.ledger(B).executions[LIN]]
    assert fills == [
        (Decimal("60000.0"), Decimal("0.004")),
        (Decimal("60000.1"), Decimal("0.004")),
        (Decimal("60000.1"), Decimal("0.002")),  # the rest at the synthetic ask
    ]
    assert [e.is_maker for e in ex.ledger(A).executions[LIN]] == [True, True]
    assert len(ex.ledger(A).open_orders) == 1


def test_an_order_never_trades_with_its_own_accounts_resting_orders(ex: Exchange) -> None:
    own = limit(ex, "Sell", "0.010", "60000.0", uid=A)
    bid = limit(ex, "Buy", "0.010", "60000.0", uid=A)
    assert own.is_open and bid.is_open
    assert ex.ledger(A).executions[LIN] == []


def test_the_oldest_order_at_the_best_price_trades_first_and_partially(ex: Exchange) -> None:
    first = limit(ex, "Buy", "0.004", "60000.0", uid=A)
    second = limit(ex, "Buy", "0.004", "60000.0", uid=A)
    limit(ex, "Sell", "0.006", "60000.0", uid=B)
    assert first.status is VenueOrderStatus.FILLED
    assert (second.status, second.leaves) == (VenueOrderStatus.PARTIALLY_FILLED, Decimal("0.002"))


def test_time_in_force_against_another_accounts_orders(ex: Exchange) -> None:
    limit(ex, "Sell", "0.004", "60000.0", uid=A)
    post_only = limit(ex, "Buy", "0.004", "60000.0", uid=B, timeInForce="PostOnly")
    assert post_only.reject_reason == "EC_PostOnlyWillTakeLiquidity"
    fok = limit(ex, "Buy", "0.005", "60000.0", uid=B, timeInForce="FOK")
    assert (fok.status, fok.cum_qty) == (VenueOrderStatus.CANCELLED, 0)
    ioc = limit(ex, "Buy", "0.005", "60000.0", uid=B, timeInForce="IOC")
    assert (ioc.status, ioc.cum_qty) == (VenueOrderStatus.CANCELLED, Decimal("0.004"))
    limit(ex, "Sell", "0.004", "60000.0", uid=A)
    filled = limit(ex, "Buy", "0.004", "60000.0", uid=B, timeInForce="FOK")
    assert filled.status is VenueOrderStatus.FILLED


def test_an_amend_that_crosses_another_accounts_order_trades(ex: Exchange) -> None:
    ask = limit(ex, "Sell", "0.010", "60000.0", uid=A)
    bid = limit(ex, "Buy", "0.010", "59000", uid=B, orderLinkId="b-1")
    ex.amend(LIN, {**BTC, "orderLinkId": "b-1", "price": "60000.0"}, B)
    assert (ask.status, bid.status) == (VenueOrderStatus.FILLED, VenueOrderStatus.FILLED)
    assert ex.ledger(B).open_orders == {} and ex.ledger(B).account.order_im == 0


def test_an_account_cannot_see_amend_or_cancel_another_accounts_order(ex: Exchange) -> None:
    theirs = limit(ex, "Buy", "0.010", "59000", uid=A, orderLinkId="mine")
    by_id = {**BTC, "orderId": theirs.order_id}
    assert code_of(lambda: ex.cancel(LIN, by_id, B)) == 110001
    assert code_of(lambda: ex.cancel(LIN, {**BTC, "orderLinkId": "mine"}, B)) == 110001
    assert code_of(lambda: ex.amend(LIN, {**by_id, "price": "59100"}, B)) == 110001
    spot = limit(ex, "Buy", "0.001", "50000", uid=A, category=Category.SPOT)
    assert code_of(lambda: ex.cancel(Category.SPOT, {**BTC, "orderId": spot.order_id}, B)) == (
        170213
    )
    assert orders(ex, LIN, {**by_id}, history=False, uid=B) == ([], "")
    assert orders(ex, LIN, BTC, history=True, uid=B) == ([], "")
    assert ex.cancel_all(LIN, BTC, B)[0] == []
    assert theirs.is_open and ex.find(LIN, theirs.order_id, "", B) is None
    assert orders(ex, LIN, by_id, history=False, uid=A)[0] == [theirs]


def test_order_link_ids_are_unique_per_account(ex: Exchange) -> None:
    limit(ex, "Buy", "0.010", "59000", uid=A, orderLinkId="same")
    other = limit(ex, "Buy", "0.010", "59000", uid=B, orderLinkId="same")
    assert other.uid == B
    assert code_of(lambda: limit(ex, "Buy", "0.010", "59000", uid=A, orderLinkId="same")) == (
        110072
    )
    assert ex.find(LIN, "", "same", B) is other


def test_the_active_order_cap_counts_each_accounts_orders(clock: FakeClock) -> None:
    ex = make_exchange(clock, uids=(A, B), max_active_orders=2)
    limit(ex, "Buy", "0.010", "59000", uid=A)
    limit(ex, "Buy", "0.010", "59000", uid=A)
    assert code_of(lambda: limit(ex, "Buy", "0.010", "59000", uid=A)) == 110020
    limit(ex, "Buy", "0.010", "59000", uid=B)  # B has room of its own


def test_executions_positions_funding_and_leverage_are_per_account(ex: Exchange) -> None:
    market(ex, "Buy", "0.010", uid=A)
    market(ex, "Sell", "0.020", uid=B)
    ex.settle_funding("BTCUSDT", Decimal("0.0001"), B)
    ex.set_leverage(LIN, {**BTC, "buyLeverage": "5", "sellLeverage": "5"}, B)

    assert [e.exec_type for e in executions(ex, LIN, {}, A)[0]] == ["Trade"]
    assert [e.exec_type for e in executions(ex, LIN, {}, B)[0]] == ["Funding", "Trade"]
    [long] = positions(ex, LIN, BTC, A)
    [short] = positions(ex, LIN, BTC, B)
    assert (long.size, short.size) == (Decimal("0.010"), Decimal("-0.020"))
    assert ex.ledger(A).account.leverage_of("BTCUSDT") == Decimal(10)
    assert ex.ledger(B).account.leverage_of("BTCUSDT") == Decimal(5)


def test_a_market_event_fills_every_accounts_resting_orders(ex: Exchange) -> None:
    a = limit(ex, "Buy", "0.010", "59000", uid=A)
    b = limit(ex, "Buy", "0.010", "59000", uid=B)
    changes = ex.public_trade(LIN, "BTCUSDT", Decimal("59000"), Decimal("0.020"))
    assert a.status is b.status is VenueOrderStatus.FILLED
    assert {e.uid for e in changes.executions} == {A, B}


def test_an_unknown_uid_is_refused_naming_the_accounts(ex: Exchange) -> None:
    with pytest.raises(ValueError, match=r"no account has UID '42'.*100100101"):
        ex.ledger("42")
    with pytest.raises(ValueError, match="distinct UIDs"):
        make_exchange(FakeClock(), uids=(A, A))
