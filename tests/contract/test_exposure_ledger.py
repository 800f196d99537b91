"""The exposure ledger contract: the fake (the pure rule) and Redis (Lua) answer the same.

Each test builds a small desk through the ports as the services do: records written by the
order store, admissions by the ledger, fills reported by `record_fills`, folds by the
position store; and reads the ledger's totals back.
"""

from __future__ import annotations

import asyncio
from collections.abc import Sequence
from dataclasses import dataclass
from decimal import Decimal
from functools import partial

import pytest

from libs.common.domain.enums import OrderType, Side
from libs.common.domain.exposure import (
    Candidate,
    DeskTerms,
    SymbolBook,
    SymbolTerms,
    VenueTerms,
    VenueTotals,
    fill_units,
    order_units,
)
from libs.common.domain.ids import DEFAULT_ACCOUNT, ClientOrderId, ExecId, Symbol, VenueId
from libs.common.domain.orders import (
    Order,
    OrderEventKind,
    admit,
    apply_ack,
    apply_event,
    apply_fill,
    reserve_amend,
)
from libs.common.domain.positions import Fill, Funding
from libs.common.domain.risk_checks import Check, TradingState
from libs.common.stores import (
    InMemoryOrderStore,
    InMemoryPositionStore,
    InMemoryRiskStateStore,
    OrderStore,
    PositionStore,
    RedisOrderStore,
    RedisPositionStore,
    RedisRiskStateStore,
    RiskStateStore,
)
from libs.common.stores.exposure import (
    AdmitOutcome,
    AdmitRequest,
    ExposureLedger,
    FillRecord,
    StaleView,
)
from libs.common.stores.exposure_fake import InMemoryExposureLedger
from libs.common.stores.exposure_redis import RedisExposureLedger
from libs.common.topology import AccountStream, keys_of
from tests.contract.conftest import Clients

D = Decimal
BTC, ETH = Symbol("BTCUSDT"), Symbol("ETHUSDT")
USD = 1_000_000
NOW_MS = 1_700_000_000_000
APPROVED = AccountStream("test.approved", maxlen=10_000)
EVENTS = AccountStream("test.events", maxlen=10_000)


@dataclass
class Desk:
    """The ports as one service instance holds them."""

    orders: OrderStore
    positions: PositionStore
    risk: RiskStateStore
    ledger: ExposureLedger
    account_risk: RiskStateStore
    """The trading state of the account the ledger serves (`default`) on its own."""


@pytest.fixture
def desks(clients: Clients | None) -> tuple[Desk, Desk]:
    """Two instances sharing state (see tests/contract/conftest.py)."""
    if clients is None:
        orders = InMemoryOrderStore()
        positions = InMemoryPositionStore(ledger=orders.ledger)
        risk, own = InMemoryRiskStateStore(), InMemoryRiskStateStore()
        desk = Desk(orders, positions, risk, InMemoryExposureLedger(orders, own), own)
        return desk, desk
    return tuple(  # type: ignore[return-value]
        Desk(
            RedisOrderStore(c),
            RedisPositionStore(c),
            RedisRiskStateStore(c),
            RedisExposureLedger(c),
            RedisRiskStateStore(c, account=DEFAULT_ACCOUNT),
        )
        for c in clients
    )


def order(cid: str, side: Side = Side.BUY, qty: str = "0.1", symbol: Symbol = BTC) -> Order:
    price = D(50_000) if symbol == BTC else D(2_500)
    return Order(
        client_order_id=ClientOrderId(cid),
        symbol=symbol,
        side=side,
        order_type=OrderType.LIMIT,
        qty=D(qty),
        price=price,
        created_ts_ns=1,
        updated_ts_ns=1,
    )


def terms(
    symbol: Symbol,
    version: int = 0,
    *,
    position: int = 0,
    venue_limits: dict[str, VenueTerms] | None = None,
    **kw: int,
) -> SymbolTerms:
    return SymbolTerms(
        symbol=symbol,
        position=position,
        position_version=version,
        inventory_limit=kw.get("inventory", 10_000 * USD),
        max_open_orders=kw.get("max_open", 50),
        max_orders_per_second=kw.get("rate", 1_000),
        venue_limits=venue_limits or {},
    )


def desk_terms(
    total: int = 50_000 * USD, now_ms: int = NOW_MS, trading: TradingState = TradingState.ACTIVE
) -> DeskTerms:
    return DeskTerms(now_ms=now_ms, total_limit=total, max_positions_lag_ms=5_000, trading=trading)


def claim(key: str) -> str:
    """A claim or decision key of the ledger's account: in its slot, as the services make."""
    return keys_of(DEFAULT_ACCOUNT).idempotency("test", key)


async def request_for(desk: Desk, cid: str) -> AdmitRequest:
    read = await desk.orders.get(ClientOrderId(cid))
    assert read is not None
    admitted = admit(read, read.price or D(1), ts_ns=2)
    candidate = Candidate(
        read.symbol, read.side, order_units(admitted), place=True, venue=read.venue
    )
    return AdmitRequest(candidate, read, admitted, f"approve {cid}".encode(), rate_member=cid)


async def place(
    desk: Desk, *orders_: Order, all_terms: Sequence[SymbolTerms] = (), total: int = 50_000 * USD
) -> list[AdmitOutcome]:
    for each in orders_:
        await desk.orders.create(each)
    requests = [await request_for(desk, o.client_order_id) for o in orders_]
    symbols = {o.symbol for o in orders_} | {t.symbol for t in all_terms}
    given = {t.symbol: t for t in all_terms}
    full = [given.get(s, terms(s)) for s in sorted(symbols | await desk.ledger.symbols())]
    desk_state = (await desk.risk.trading_state()).state  # as the batch's risk view reads it
    results = await desk.ledger.admit(
        desk_terms(total, trading=desk_state), full, requests, to=APPROVED, decision_ttl_ms=60_000
    )
    return [r.outcome for r in results]


async def book(desk: Desk, symbol: Symbol = BTC) -> SymbolBook:
    return (await desk.ledger.books([symbol]))[symbol]


async def test_an_admitted_order_counts_from_its_admission(desks: tuple[Desk, Desk]) -> None:
    a, b = desks
    assert await place(a, order("o1")) == [AdmitOutcome.ADMITTED]
    assert await book(b) == SymbolBook(buy=5_000 * USD, count=1)
    record = await b.orders.get(ClientOrderId("o1"))
    assert record is not None and record.risk_price == D(50_000)
    assert await b.ledger.symbols() == {BTC}


async def test_every_transition_moves_the_order_s_count_in_the_same_step(
    desks: tuple[Desk, Desk],
) -> None:
    a, b = desks
    await place(a, order("o1", qty="0.2"))
    cid = ClientOrderId("o1")
    await b.orders.update(cid, partial(apply_ack, venue_order_id=None, ts_ns=3))
    assert (await book(a)).buy == 10_000 * USD
    await b.orders.update(
        cid, partial(apply_fill, exec_id=ExecId("e1"), qty=D("0.05"), price=D(50_000), ts_ns=4)
    )
    assert (await book(a)).buy == 7_500 * USD
    await a.orders.update(cid, partial(apply_event, event_kind=OrderEventKind.CANCELED, ts_ns=5))
    assert await book(b) == SymbolBook()


async def test_a_reported_fill_counts_until_positions_folds_it(desks: tuple[Desk, Desk]) -> None:
    a, b = desks
    fill = FillRecord(
        BTC, ExecId("e1"), Side.SELL, fill_units(D("0.1"), D(50_000)), claim("e1"), b"f1"
    )
    first = await a.ledger.record_fills([fill], to=EVENTS, claim_ttl_ms=60_000, now_ms=NOW_MS)
    again = await b.ledger.record_fills([fill], to=EVENTS, claim_ttl_ms=60_000, now_ms=NOW_MS + 1)
    assert (first, again) == ([True], [False])
    assert await book(a) == SymbolBook(unfolded_sell=5_000 * USD, oldest_unfolded_ms=NOW_MS)
    folded = Fill(
        exec_id=ExecId("e1"), symbol=BTC, side=Side.SELL, qty=D("0.1"), price=D(50_000),
        fee=D(0), ts_ns=1,
    )  # fmt: skip
    await b.positions.apply_fill(folded)
    assert await book(a) == SymbolBook()
    assert await a.positions.apply_fill(folded) == ((await a.positions.get(BTC)), False)
    assert await book(b) == SymbolBook()


async def test_a_reported_funding_counts_as_unfolded_until_positions_folds_it_once(
    desks: tuple[Desk, Desk],
) -> None:
    """A funding settlement is recorded with no units (it moves no quantity): it still holds
    the positions lag until folded, and its fold and a replayed fold clear it cleanly."""
    a, b = desks
    record = FillRecord(BTC, ExecId("f1"), Side.BUY, 0, claim("f1"), b"funding")
    assert await a.ledger.record_fills([record], to=EVENTS, claim_ttl_ms=60_000, now_ms=NOW_MS)
    assert await book(b) == SymbolBook(oldest_unfolded_ms=NOW_MS)
    funding = Funding(
        exec_id=ExecId("f1"), symbol=BTC, amount=D("0.5"), rate=D("0.0001"),
        position_qty=D("0.1"), mark_price=D(50_000), ts_ns=1,
    )  # fmt: skip

    folded, applied = await b.positions.apply_funding(funding)
    replayed, applied_again = await a.positions.apply_funding(funding)

    assert (applied, applied_again) == (True, False)
    assert folded.funding_paid == replayed.funding_paid == D("0.5")
    assert await book(a) == SymbolBook()


async def test_a_denied_order_writes_nothing_and_says_which_limit(
    desks: tuple[Desk, Desk],
) -> None:
    a, b = desks
    await place(a, order("big", qty="0.19"))
    results = await b.ledger.admit(
        desk_terms(), [terms(BTC)], [await _fresh(b, order("o2", qty="0.03"))], to=APPROVED,
        decision_ttl_ms=60_000,
    )  # fmt: skip
    (result,) = results
    assert result.outcome is AdmitOutcome.DENIED and result.denial is not None
    assert (result.denial.check, result.denial.value) == (Check.INVENTORY, 11_000 * USD)
    assert await book(a) == SymbolBook(buy=9_500 * USD, count=1)
    stored = await a.orders.get(ClientOrderId("o2"))
    assert stored is not None and stored.risk_price is None


async def test_frozen_denies_in_the_admission_step(desks: tuple[Desk, Desk]) -> None:
    a, b = desks
    await b.risk.freeze("manual", "op", 1)
    assert await place(a, order("o1")) == [AdmitOutcome.DENIED]
    assert await book(a) == SymbolBook()


async def test_an_account_frozen_on_its_own_is_denied_while_the_desk_trades(
    desks: tuple[Desk, Desk],
) -> None:
    a, b = desks
    await b.account_risk.freeze("manual", "op", 1)
    assert (await a.risk.trading_state()).state is TradingState.ACTIVE
    assert await place(a, order("o1")) == [AdmitOutcome.DENIED]
    await b.account_risk.unfreeze("over", "op", 2, 0, force=True)
    assert await place(a, order("o2")) == [AdmitOutcome.ADMITTED]


async def test_the_stricter_of_the_desk_and_the_account_state_applies(
    desks: tuple[Desk, Desk],
) -> None:
    a, b = desks
    await b.account_risk.set_reducing("soft loss", "op", 1)
    assert await place(a, order("o1")) == [AdmitOutcome.DENIED]  # opens a position
    await b.risk.freeze("manual", "op", 2)
    await b.account_risk.unfreeze("over", "op", 3, 0, force=True)
    assert await place(a, order("o2")) == [AdmitOutcome.DENIED]  # the desk is frozen


async def test_a_stale_position_or_an_unknown_symbol_refuses_the_whole_step(
    desks: tuple[Desk, Desk],
) -> None:
    a, b = desks
    await place(a, order("eth", symbol=ETH))
    with pytest.raises(StaleView):  # ETH has exposure and no terms
        await b.ledger.admit(
            desk_terms(), [terms(BTC)], [await _fresh(b, order("o1"))], to=APPROVED,
            decision_ttl_ms=60_000,
        )  # fmt: skip
    folded = Fill(
        exec_id=ExecId("e9"), symbol=BTC, side=Side.BUY, qty=D("0.01"), price=D(50_000),
        fee=D(0), ts_ns=1,
    )  # fmt: skip
    await a.positions.apply_fill(folded)
    with pytest.raises(StaleView):  # BTC's position moved past version 0
        await b.ledger.admit(
            desk_terms(), [terms(BTC), terms(ETH)], [await _fresh(b, order("o2"))], to=APPROVED,
            decision_ttl_ms=60_000,
        )  # fmt: skip
    assert (await book(b)).count == 0


async def test_a_record_changed_since_it_was_read_is_a_conflict(desks: tuple[Desk, Desk]) -> None:
    a, b = desks
    request = await _fresh(a, order("o1"))
    await b.orders.update(
        ClientOrderId("o1"), partial(apply_event, event_kind=OrderEventKind.REJECTED, ts_ns=2)
    )
    (result,) = await a.ledger.admit(
        desk_terms(), [terms(BTC)], [request], to=APPROVED, decision_ttl_ms=60_000
    )
    assert result.outcome is AdmitOutcome.CONFLICT
    assert await book(a) == SymbolBook()


async def test_an_amend_up_is_reserved_once_and_its_key_marks_it_decided(
    desks: tuple[Desk, Desk],
) -> None:
    a, b = desks
    await place(a, order("o1"))
    cid = ClientOrderId("o1")
    live = await a.orders.update(cid, partial(apply_ack, venue_order_id=None, ts_ns=3))
    amended = reserve_amend(live, D("0.15"), ts_ns=4)
    amend = AdmitRequest(
        Candidate(BTC, Side.BUY, order_units(amended), place=False), live, amended, b"amend",
        rate_member="o1:a1", decision_key=claim("a1"), decision="yes",
    )  # fmt: skip
    (first,) = await b.ledger.admit(
        desk_terms(), [terms(BTC)], [amend], to=APPROVED, decision_ttl_ms=60_000
    )
    (again,) = await a.ledger.admit(
        desk_terms(), [terms(BTC)], [amend], to=APPROVED, decision_ttl_ms=60_000
    )
    assert (first.outcome, again.outcome) == (AdmitOutcome.ADMITTED, AdmitOutcome.DUPLICATE)
    assert await book(a) == SymbolBook(buy=7_500 * USD, count=1)


async def test_two_instances_admitting_on_different_symbols_never_pass_the_total(
    desks: tuple[Desk, Desk],
) -> None:
    a, b = desks
    wide = {"inventory": 1_000_000 * USD}
    both = [terms(BTC, **wide), terms(ETH, **wide)]

    async def run(desk: Desk, symbol: Symbol, n: int) -> list[AdmitOutcome]:
        outcomes: list[AdmitOutcome] = []
        for k in range(n):
            cid = f"{symbol[:3]}-{k}"
            each = order(cid, qty="0.1" if symbol == BTC else "2", symbol=symbol)
            while True:
                try:
                    outcomes += await place(desk, each, all_terms=both, total=60_000 * USD)
                    break
                except StaleView:
                    continue
        return outcomes

    btc, eth = await asyncio.gather(run(a, BTC, 10), run(b, ETH, 10))
    exposure = sum(bk.buy for bk in (await a.ledger.books([BTC, ETH])).values())
    assert exposure <= 60_000 * USD
    assert btc.count(AdmitOutcome.ADMITTED) + eth.count(AdmitOutcome.ADMITTED) == 12


async def _fresh(desk: Desk, new: Order) -> AdmitRequest:
    await desk.orders.create(new)
    return await request_for(desk, new.client_order_id)


BINANCE = VenueId("binance-usdm")


def at_binance(cid: str, qty: str) -> Order:
    return order(cid, qty=qty).model_copy(update={"venue": BINANCE})


async def test_a_venues_own_inventory_limit_binds_its_share_alone(
    desks: tuple[Desk, Desk],
) -> None:
    a, b = desks
    own = {BINANCE: VenueTerms(position=0, inventory_limit=6_000 * USD)}
    limits = [terms(BTC, venue_limits=own, inventory=20_000 * USD)]

    assert await place(a, at_binance("n1", "0.1"), all_terms=limits) == [AdmitOutcome.ADMITTED]
    assert await place(b, order("y1", qty="0.1"), all_terms=limits) == [AdmitOutcome.ADMITTED]
    await b.orders.create(at_binance("n2", "0.1"))
    (denied,) = await a.ledger.admit(
        desk_terms(), limits, [await request_for(a, "n2")], to=APPROVED, decision_ttl_ms=60_000
    )

    assert denied.outcome is AdmitOutcome.DENIED and denied.denial is not None
    assert (denied.denial.check, denied.denial.value, denied.denial.limit) == (
        Check.VENUE_INVENTORY, 10_000 * USD, 6_000 * USD,
    )  # fmt: skip
    totals = await book(b)  # n2 not counted: denied
    assert (totals.buy, totals.at(BINANCE), totals.at(VenueId("bybit")).buy) == (
        10_000 * USD, VenueTotals(buy=5_000 * USD), 5_000 * USD,
    )  # fmt: skip


async def test_bybits_own_limit_counts_the_rest_and_a_fill_at_a_venue_counts_there(
    desks: tuple[Desk, Desk],
) -> None:
    a, b = desks
    own = {VenueId("bybit"): VenueTerms(position=0, inventory_limit=6_000 * USD)}
    limits = [terms(BTC, venue_limits=own, inventory=20_000 * USD)]
    fill = FillRecord(
        BTC, ExecId("b-e1"), Side.BUY, 2_000 * USD, claim("b-e1"), b"f", venue=BINANCE
    )
    await a.ledger.record_fills([fill], to=EVENTS, claim_ttl_ms=60_000, now_ms=NOW_MS)

    assert await place(a, at_binance("n1", "0.1"), all_terms=limits) == [AdmitOutcome.ADMITTED]
    assert await place(b, order("y1", qty="0.1"), all_terms=limits) == [AdmitOutcome.ADMITTED]
    assert await place(a, order("y2", qty="0.1"), all_terms=limits) == [AdmitOutcome.DENIED]
    totals = await book(b)
    assert totals.at(BINANCE) == VenueTotals(buy=5_000 * USD, unfolded_buy=2_000 * USD)
    assert totals.at(VenueId("bybit")) == VenueTotals(buy=5_000 * USD)
