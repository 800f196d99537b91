"""The position fold: VWAP entry, realized / unrealized P&L, fees, flips, idempotency.

The property tests check the accounting identity from the module docstring,

    realized + unrealized(mark) == cash + qty * mark,   cash = sum(-side.sign * qty * price),

which holds for any sequence of fills whatever its flips. It is exact in real numbers; with
Decimal the VWAP division rounds at the 28th digit, so it is checked to 1e-12 (prices have
2 decimals and quantities 3, so a real error would be far larger).
"""

from __future__ import annotations

from decimal import Decimal

import pytest
from hypothesis import given
from hypothesis import strategies as st
from pydantic import ValidationError

from libs.common.domain.enums import Side
from libs.common.domain.errors import InvalidFill
from libs.common.domain.ids import ExecId, Symbol
from libs.common.domain.positions import (
    Fill,
    Funding,
    Position,
    apply_fill,
    apply_funding,
    book,
    fold_fills,
    net_pnl,
    unrealized_pnl,
)

D = Decimal
BTC = Symbol("BTCUSDT")
TOLERANCE = D("1e-12")


def make_fill(
    exec_id: str, side: Side, qty: str | Decimal, price: str | Decimal, fee: str | Decimal = "0"
) -> Fill:
    return Fill(
        exec_id=ExecId(exec_id),
        symbol=BTC,
        side=side,
        qty=D(qty),
        price=D(price),
        fee=D(fee),
        ts_ns=1,
    )


def cash_flow(fills: list[Fill]) -> Decimal:
    return sum((-f.side.sign * f.qty * f.price for f in fills), D(0))


def identity_gap(position: Position, fills: list[Fill], mark: Decimal) -> Decimal:
    lhs = position.realized_pnl + unrealized_pnl(position, mark)
    return abs(lhs - (cash_flow(fills) + position.qty * mark))


qtys = st.integers(1, 1_000_000).map(lambda n: D(n).scaleb(-3))
prices = st.integers(1, 10_000_000).map(lambda n: D(n).scaleb(-2))
fees = st.integers(-10_000, 10_000).map(lambda n: D(n).scaleb(-4))


@st.composite
def fill_lists(draw: st.DrawFn, max_size: int = 30) -> list[Fill]:
    rows = draw(st.lists(st.tuples(st.sampled_from(Side), qtys, prices, fees), max_size=max_size))
    return [make_fill(f"e{i}", *row) for i, row in enumerate(rows)]


# -- Unit cases ------------------------------------------------------------------------------


def test_position_starts_flat() -> None:
    position = Position(symbol=BTC)
    assert (position.qty, position.avg_entry_price, position.is_flat) == (D(0), None, True)


def test_buys_open_long_at_the_vwap() -> None:
    position = fold_fills(
        BTC, [make_fill("e1", Side.BUY, "1", "100"), make_fill("e2", Side.BUY, "3", "200")]
    )
    assert (position.qty, position.avg_entry_price, position.realized_pnl) == (D(4), D(175), D(0))


def test_sells_open_short_at_the_vwap() -> None:
    position = fold_fills(
        BTC, [make_fill("e1", Side.SELL, "2", "100"), make_fill("e2", Side.SELL, "2", "110")]
    )
    assert (position.qty, position.avg_entry_price) == (D(-4), D(105))


def test_reducing_a_long_realizes_and_keeps_the_entry() -> None:
    position = fold_fills(
        BTC, [make_fill("e1", Side.BUY, "4", "100"), make_fill("e2", Side.SELL, "1", "130")]
    )
    assert (position.qty, position.avg_entry_price, position.realized_pnl) == (D(3), D(100), D(30))


def test_reducing_a_short_realizes_with_the_short_sign() -> None:
    position = fold_fills(
        BTC, [make_fill("e1", Side.SELL, "4", "100"), make_fill("e2", Side.BUY, "1", "130")]
    )
    assert (position.qty, position.avg_entry_price, position.realized_pnl) == (
        D(-3),
        D(100),
        D(-30),
    )


def test_closing_to_zero_goes_flat_with_no_entry() -> None:
    position = fold_fills(
        BTC, [make_fill("e1", Side.BUY, "0.010", "100"), make_fill("e2", Side.SELL, "0.01", "90")]
    )
    assert position.is_flat
    assert position.avg_entry_price is None
    assert position.realized_pnl == D("-0.1")


def test_flip_long_to_short_realizes_the_closed_part_and_opens_the_rest_at_the_fill() -> None:
    position = fold_fills(
        BTC, [make_fill("e1", Side.BUY, "2", "100"), make_fill("e2", Side.SELL, "5", "110")]
    )
    assert (position.qty, position.avg_entry_price, position.realized_pnl) == (D(-3), D(110), D(20))


def test_flip_short_to_long_realizes_the_closed_part_and_opens_the_rest_at_the_fill() -> None:
    position = fold_fills(
        BTC, [make_fill("e1", Side.SELL, "2", "100"), make_fill("e2", Side.BUY, "3", "110")]
    )
    assert (position.qty, position.avg_entry_price, position.realized_pnl) == (D(1), D(110), D(-20))


def test_fees_accumulate_and_rebates_reduce_them() -> None:
    position = fold_fills(
        BTC,
        [
            make_fill("e1", Side.BUY, "1", "100", fee="0.06"),
            make_fill("e2", Side.SELL, "1", "101", fee="-0.01"),
        ],
    )
    assert position.fees_paid == D("0.05")
    assert position.realized_pnl == 1  # gross of fees


def test_unrealized_and_net_pnl_at_a_mark() -> None:
    position = fold_fills(
        BTC,
        [
            make_fill("e1", Side.SELL, "2", "100", fee="0.5"),
            make_fill("e2", Side.BUY, "1", "90"),
        ],
    )
    assert unrealized_pnl(position, D("95")) == 5  # short 1 from 100, mark 95
    assert net_pnl(position, D("95")) == D("10") + D("5") - D("0.5")


def funding(exec_id: str, amount: str, symbol: Symbol = BTC) -> Funding:
    return Funding(
        exec_id=ExecId(exec_id),
        symbol=symbol,
        amount=D(amount),
        rate=D("0.0001"),
        position_qty=D("-1"),
        mark_price=D("95"),
        ts_ns=7,
    )


def test_funding_is_subtracted_from_net_pnl_and_moves_nothing_else() -> None:
    position = fold_fills(BTC, [make_fill("e1", Side.SELL, "1", "100", fee="0.5")])

    after = book(book(position, funding("f1", "-0.0095")), funding("f2", "0.002"))

    assert after.funding_paid == D("-0.0075")  # a short received, then paid
    assert (after.qty, after.avg_entry_price, after.realized_pnl) == (D(-1), D(100), 0)
    assert net_pnl(after, D("95")) == D("5") - D("0.5") + D("0.0075")
    assert net_pnl(after, None) == D("-0.5") + D("0.0075")  # unmarked: no unrealized


def test_a_replayed_funding_changes_nothing() -> None:
    once = apply_funding(Position(symbol=BTC), funding("f1", "0.01"))

    assert apply_funding(once, funding("f1", "0.01")) is once


def test_funding_of_another_symbol_is_refused() -> None:
    with pytest.raises(InvalidFill, match="ETHUSDT"):
        apply_funding(Position(symbol=BTC), funding("f1", "0.01", symbol=Symbol("ETHUSDT")))


def test_unrealized_pnl_of_a_flat_position_is_zero() -> None:
    assert unrealized_pnl(Position(symbol=BTC), D("123")) == 0


def test_replayed_fill_returns_the_same_position() -> None:
    position = apply_fill(Position(symbol=BTC), make_fill("e1", Side.BUY, "1", "100"))
    assert apply_fill(position, make_fill("e1", Side.BUY, "1", "100")) is position


def test_fill_for_another_symbol_raises_invalid_fill() -> None:
    other = Fill(
        exec_id=ExecId("e1"), symbol=Symbol("ETHUSDT"), side=Side.BUY, qty=D(1), price=D(1), ts_ns=1
    )
    with pytest.raises(InvalidFill, match="ETHUSDT, not for the BTCUSDT position"):
        apply_fill(Position(symbol=BTC), other)


def test_updated_ts_is_the_latest_fill_time() -> None:
    late = make_fill("e1", Side.BUY, "1", "100").model_copy(update={"ts_ns": 9})
    early = make_fill("e2", Side.BUY, "1", "100").model_copy(update={"ts_ns": 5})
    assert fold_fills(BTC, [late, early]).updated_ts_ns == 9


@pytest.mark.parametrize(
    "fields",
    [
        {"qty": D(0)},
        {"qty": D(-1)},
        {"price": D(0)},
        {"price": D("NaN")},
        {"qty": D("Infinity")},
        {"surprise": 1},
    ],
)
def test_fill_invalid_fields_are_refused(fields: dict[str, object]) -> None:
    base: dict[str, object] = {
        "exec_id": "e1",
        "symbol": BTC,
        "side": Side.BUY,
        "qty": D(1),
        "price": D(1),
        "ts_ns": 1,
    }
    with pytest.raises(ValidationError):
        Fill.model_validate(base | fields)


def test_position_entry_must_match_qty() -> None:
    with pytest.raises(ValidationError):
        Position(symbol=BTC, qty=D(1))
    with pytest.raises(ValidationError):
        Position(symbol=BTC, avg_entry_price=D(1))


# -- Properties ------------------------------------------------------------------------------


@given(fill_lists())
def test_qty_is_the_signed_sum_of_fills(fills: list[Fill]) -> None:
    position = fold_fills(BTC, fills)
    assert position.qty == sum((f.signed_qty for f in fills), D(0))


@given(fill_lists(), prices)
def test_realized_plus_unrealized_equals_cash_flow_plus_marked_qty(
    fills: list[Fill], mark: Decimal
) -> None:
    position = fold_fills(BTC, fills)
    assert identity_gap(position, fills, mark) <= TOLERANCE
    fees_paid = sum((f.fee for f in fills), D(0))
    assert position.fees_paid == fees_paid
    net = cash_flow(fills) + position.qty * mark - fees_paid
    assert abs(net_pnl(position, mark) - net) <= TOLERANCE


@given(fill_lists(), st.data())
def test_replaying_fills_changes_nothing(fills: list[Fill], data: st.DataObject) -> None:
    position = fold_fills(BTC, fills)
    replay = data.draw(st.lists(st.sampled_from(fills))) if fills else []
    assert fold_fills(BTC, fills + replay) == position


@given(fill_lists(max_size=10))
def test_entry_is_none_exactly_when_flat(fills: list[Fill]) -> None:
    position = Position(symbol=BTC)
    for f in fills:
        position = apply_fill(position, f)
        assert (position.avg_entry_price is None) is position.is_flat


@given(qtys, st.lists(st.tuples(qtys, prices), min_size=1, max_size=12), prices, prices)
def test_flips_long_short_long_keep_the_identity(
    opening: Decimal, legs: list[tuple[Decimal, Decimal]], open_price: Decimal, mark: Decimal
) -> None:
    """Each leg trades through zero: long -> short -> long -> ..."""
    fills = [make_fill("open", Side.BUY, opening, open_price)]
    position = apply_fill(Position(symbol=BTC), fills[0])
    for index, (beyond, price) in enumerate(legs):
        side = Side.SELL if position.qty > 0 else Side.BUY
        leg = make_fill(f"leg{index}", side, abs(position.qty) + beyond, price)
        previous, position = position, apply_fill(position, leg)
        fills.append(leg)
        assert position.qty == side.sign * beyond
        assert position.avg_entry_price == price  # the remainder opened at the fill price
        assert (previous.qty > 0) != (position.qty > 0)
        assert identity_gap(position, fills, mark) <= TOLERANCE
