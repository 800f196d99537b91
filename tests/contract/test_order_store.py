"""Contract of OrderStore: idempotent create, compare-and-set updates, indexes."""

from __future__ import annotations

import asyncio
import json
from collections.abc import Callable
from decimal import Decimal
from functools import partial

import pytest

from libs.common.domain.enums import OrderType, Side
from libs.common.domain.errors import InvalidTransition, Overfill
from libs.common.domain.ids import DEFAULT_ACCOUNT, ClientOrderId, ExecId, Symbol, VenueOrderId
from libs.common.domain.orders import (
    Order,
    OrderEventKind,
    OrderStatus,
    apply_ack,
    apply_amend,
    apply_cancel,
    apply_event,
    apply_fill,
    request_amend,
    start_send,
)
from libs.common.stores import (
    ConcurrentUpdateError,
    InMemoryOrderStore,
    InvalidUpdate,
    OrderNotFound,
    OrderStore,
)
from libs.common.topology import AccountStream, keys_of
from tests.contract.conftest import Clients

BTC = Symbol("BTCUSDT")
ETH = Symbol("ETHUSDT")


def make_order(
    cid: str, *, symbol: Symbol = BTC, qty: str = "1", status: OrderStatus = OrderStatus.PENDING
) -> Order:
    return Order(
        client_order_id=ClientOrderId(cid),
        symbol=symbol,
        side=Side.BUY,
        order_type=OrderType.LIMIT,
        qty=Decimal(qty),
        price=Decimal("100.5"),
        status=status,
        created_ts_ns=1,
        updated_ts_ns=1,
    )


def fill(exec_id: str, qty: str, price: str = "100") -> Callable[[Order], Order]:
    return partial(
        apply_fill, exec_id=ExecId(exec_id), qty=Decimal(qty), price=Decimal(price), ts_ns=2
    )


ack = partial(apply_ack, venue_order_id=VenueOrderId("v-1"), ts_ns=2)
cancel = partial(apply_cancel, ts_ns=3)


async def test_create_new_order_stores_it_and_reports_created(order_store: OrderStore) -> None:
    order = make_order("a")

    stored, created = await order_store.create(order)

    assert created is True
    assert stored == order
    assert await order_store.get(order.client_order_id) == order


async def test_create_with_taken_id_returns_existing_record_unchanged(
    order_stores: tuple[OrderStore, OrderStore],
) -> None:
    first, second = order_stores
    original = make_order("a", qty="1")
    await first.create(original)

    stored, created = await second.create(make_order("a", qty="7"))

    assert created is False
    assert stored == original
    assert await first.get(ClientOrderId("a")) == original


async def test_concurrent_creates_of_one_id_create_it_once(
    order_stores: tuple[OrderStore, OrderStore],
) -> None:
    attempts = [order_stores[i % 2].create(make_order("a", qty=str(i + 1))) for i in range(10)]

    results = await asyncio.gather(*attempts)

    assert sum(created for _, created in results) == 1
    winner = next(stored for stored, created in results if created)
    assert all(stored == winner for stored, _ in results)


async def test_get_unknown_id_returns_none(order_store: OrderStore) -> None:
    assert await order_store.get(ClientOrderId("nope")) is None


async def test_get_many_returns_orders_in_asked_order_with_none_for_unknown(
    order_store: OrderStore,
) -> None:
    a, b = make_order("a"), make_order("b")
    await order_store.create(a)
    await order_store.create(b)

    found = await order_store.get_many([ClientOrderId(i) for i in ("b", "x", "a")])

    assert found == [b, None, a]
    assert await order_store.get_many([]) == []


async def test_update_applies_domain_function_and_stores_bumped_version(
    order_store: OrderStore,
) -> None:
    await order_store.create(make_order("a"))

    updated = await order_store.update(ClientOrderId("a"), ack)

    assert updated.status is OrderStatus.NEW
    assert updated.version == 1
    assert await order_store.get(ClientOrderId("a")) == updated


async def test_update_keeps_decimals_exact(order_store: OrderStore) -> None:
    await order_store.create(make_order("a", qty="0.3"))
    await order_store.update(ClientOrderId("a"), fill("e1", "0.1", "100.1"))
    await order_store.update(ClientOrderId("a"), fill("e2", "0.1", "100.2"))

    stored = await order_store.get(ClientOrderId("a"))

    assert stored is not None
    assert stored.filled_qty == Decimal("0.2")
    assert stored.avg_fill_price == Decimal("100.15")


async def test_update_of_unknown_order_raises_order_not_found(order_store: OrderStore) -> None:
    with pytest.raises(OrderNotFound, match="nope"):
        await order_store.update(ClientOrderId("nope"), ack)


async def test_update_whose_function_raises_writes_nothing(order_store: OrderStore) -> None:
    order, _ = await order_store.create(make_order("a"))

    with pytest.raises(Overfill):
        await order_store.update(order.client_order_id, fill("e1", "5"))

    assert await order_store.get(order.client_order_id) == order


async def test_update_returning_an_equal_order_writes_nothing(order_store: OrderStore) -> None:
    await order_store.create(make_order("a", qty="2"))
    once = await order_store.update(ClientOrderId("a"), fill("e1", "1"))

    replayed = await order_store.update(ClientOrderId("a"), fill("e1", "1"))

    assert replayed == once
    assert replayed.version == 1


async def test_update_that_changes_the_symbol_is_refused(order_store: OrderStore) -> None:
    order, _ = await order_store.create(make_order("a"))

    def move(o: Order) -> Order:
        return o.model_copy(update={"symbol": ETH, "version": o.version + 1})

    with pytest.raises(InvalidUpdate, match="symbol"):
        await order_store.update(order.client_order_id, move)
    assert await order_store.get(order.client_order_id) == order


async def test_update_that_does_not_bump_the_version_is_refused(order_store: OrderStore) -> None:
    order, _ = await order_store.create(make_order("a"))

    with pytest.raises(InvalidUpdate, match="version"):
        await order_store.update(
            order.client_order_id, lambda o: o.model_copy(update={"qty": Decimal(3)})
        )


async def test_concurrent_fills_through_update_from_two_instances_all_apply_once(
    order_stores: tuple[OrderStore, OrderStore],
) -> None:
    n = 20
    order, _ = await order_stores[0].create(make_order("a", qty=str(n)))
    updates = [
        order_stores[i % 2].update(order.client_order_id, fill(f"e{i}", "1"), max_retries=n)
        for i in range(n)
    ]

    await asyncio.gather(*updates)

    final = await order_stores[0].get(order.client_order_id)
    assert final is not None
    assert final.filled_qty == n
    assert final.version == order.version + n
    assert final.status is OrderStatus.FILLED
    assert final.avg_fill_price == 100  # one price: the VWAP is exact in any fill order
    assert final.exec_ids == {ExecId(f"e{i}") for i in range(n)}


async def test_update_gives_up_after_max_retries_when_always_overtaken(
    order_store: OrderStore, foreign_write: Callable[[Order], None]
) -> None:
    await order_store.create(make_order("a"))
    calls = 0

    def overtaken_ack(order: Order) -> Order:
        nonlocal calls
        calls += 1
        foreign_write(order.model_copy(update={"version": order.version + 1}))
        return ack(order)

    with pytest.raises(ConcurrentUpdateError, match="gave up"):
        await order_store.update(ClientOrderId("a"), overtaken_ack, max_retries=3)

    assert calls == 4
    stored = await order_store.get(ClientOrderId("a"))
    assert stored is not None and stored.status is OrderStatus.PENDING  # only foreign writes


async def test_update_many_applies_each_item_and_returns_results_in_item_order(
    order_store: OrderStore,
) -> None:
    for cid in ("a", "b", "c"):
        await order_store.create(make_order(cid))

    results = await order_store.update_many(
        [
            (ClientOrderId("c"), cancel),
            (ClientOrderId("a"), ack),
            (ClientOrderId("b"), fill("e1", "1")),
        ]
    )

    assert [r.status for r in results if isinstance(r, Order)] == [
        OrderStatus.CANCELED,
        OrderStatus.NEW,
        OrderStatus.FILLED,
    ]
    stored = await order_store.get_many([ClientOrderId(c) for c in ("c", "a", "b")])
    assert stored == results


async def test_update_many_reports_failures_in_place_and_applies_the_rest(
    order_store: OrderStore,
) -> None:
    await order_store.create(make_order("a"))
    await order_store.create(make_order("b", status=OrderStatus.REJECTED))

    results = await order_store.update_many(
        [
            (ClientOrderId("missing"), ack),
            (ClientOrderId("b"), cancel),  # Rejected -> Canceled: no such edge
            (ClientOrderId("a"), ack),
        ]
    )

    assert isinstance(results[0], OrderNotFound)
    assert isinstance(results[1], InvalidTransition)
    assert isinstance(results[2], Order) and results[2].status is OrderStatus.NEW
    assert await order_store.get(ClientOrderId("a")) == results[2]


async def test_update_many_composes_items_on_one_order_in_item_order(
    order_store: OrderStore,
) -> None:
    await order_store.create(make_order("a", qty="2"))
    cancel_request = partial(apply_event, event_kind=OrderEventKind.CANCEL_REQUESTED, ts_ns=3)

    results = await order_store.update_many(
        [
            (ClientOrderId("a"), ack),
            (ClientOrderId("a"), fill("e1", "1")),
            (ClientOrderId("a"), fill("e1", "1")),  # replay: unchanged
            (ClientOrderId("a"), cancel_request),
        ]
    )

    statuses = [r.status for r in results if isinstance(r, Order)]
    assert statuses == [
        OrderStatus.NEW,
        OrderStatus.PARTIALLY_FILLED,
        OrderStatus.PARTIALLY_FILLED,
        OrderStatus.PENDING_CANCEL,
    ]
    stored = await order_store.get(ClientOrderId("a"))
    assert stored == results[-1]
    assert stored is not None and stored.version == 3


async def test_concurrent_update_many_batches_converge_with_every_fill_applied(
    order_stores: tuple[OrderStore, OrderStore],
) -> None:
    ids = [ClientOrderId(f"o{k}") for k in range(5)]
    for cid in ids:
        await order_stores[0].create(make_order(cid, qty="10"))
    batches = [
        order_stores[b % 2].update_many(
            [(cid, fill(f"{cid}-{b}", "1")) for cid in ids], max_retries=10
        )
        for b in range(10)
    ]

    for results in await asyncio.gather(*batches):
        assert all(isinstance(r, Order) for r in results)

    for order in await order_stores[1].get_many(ids):
        assert order is not None
        assert order.filled_qty == 10
        assert order.version == 10


async def test_open_order_index_follows_status_until_terminal(
    order_stores: tuple[OrderStore, OrderStore],
) -> None:
    writer, reader = order_stores
    await writer.create(make_order("a", qty="2"))
    await writer.create(make_order("b"))
    await writer.create(make_order("e", symbol=ETH))

    assert [o.client_order_id for o in await reader.open_orders(BTC)] == ["a", "b"]
    await writer.update(ClientOrderId("a"), ack)
    await writer.update(ClientOrderId("a"), fill("e1", "1"))
    assert [o.status for o in await reader.open_orders(BTC)] == [
        OrderStatus.PARTIALLY_FILLED,
        OrderStatus.PENDING,
    ]

    await writer.update(ClientOrderId("a"), cancel)
    await writer.update(ClientOrderId("b"), fill("e2", "1"))

    assert await reader.open_orders(BTC) == []
    assert [o.client_order_id for o in await reader.open_orders(ETH)] == ["e"]


async def test_open_orders_of_many_symbols_come_grouped_in_the_order_asked_oldest_first(
    order_stores: tuple[OrderStore, OrderStore],
) -> None:
    writer, reader = order_stores
    await writer.create(make_order("a"))
    await writer.create(make_order("e", symbol=ETH))
    await writer.create(make_order("b"))
    await writer.create(make_order("c"))
    await writer.update(ClientOrderId("c"), cancel)

    listed = await reader.open_orders_of([ETH, BTC])

    assert [o.client_order_id for o in listed] == ["e", "a", "b"]
    assert await reader.open_orders_of([]) == []


async def test_terminal_order_stays_readable_but_not_open(order_store: OrderStore) -> None:
    await order_store.create(make_order("a"))
    canceled = await order_store.update(ClientOrderId("a"), cancel)

    late_fill = await order_store.update(ClientOrderId("a"), fill("late", "1"))

    assert canceled.status is OrderStatus.CANCELED
    assert late_fill.status is OrderStatus.FILLED
    assert await order_store.get(ClientOrderId("a")) == late_fill
    assert await order_store.open_orders(BTC) == []


async def test_created_terminal_order_is_not_open(order_store: OrderStore) -> None:
    await order_store.create(make_order("r", status=OrderStatus.REJECTED))

    assert await order_store.open_orders(BTC) == []


async def test_find_by_venue_id_finds_order_once_acknowledged(
    order_stores: tuple[OrderStore, OrderStore],
) -> None:
    writer, reader = order_stores
    await writer.create(make_order("a"))
    assert await reader.find_by_venue_id(VenueOrderId("v-1")) is None

    acked = await writer.update(ClientOrderId("a"), ack)

    assert await reader.find_by_venue_id(VenueOrderId("v-1")) == acked
    cancelled = await writer.update(ClientOrderId("a"), cancel)
    assert await reader.find_by_venue_id(VenueOrderId("v-1")) == cancelled


async def test_create_and_send_writes_each_new_record_with_its_command_once(
    order_stores: tuple[OrderStore, OrderStore], clients: Clients | None
) -> None:
    first, second = order_stores
    stream = AccountStream("test.requests", maxlen=1_000)
    one, two = make_order("c-1"), make_order("c-2")
    await second.create(two)  # already there: no command for it

    results = await first.create_and_send([(one, b"cmd-1"), (two, b"cmd-2")], stream)
    again = await second.create_and_send([(one, b"cmd-1 again")], stream)

    assert [created for _, created in results] == [True, False]
    assert again == [(one, False)]
    assert await second.get(ClientOrderId("c-1")) == one
    if clients is None:
        assert isinstance(first, InMemoryOrderStore)
        sent = [entry for name, entry in first.sent if name == stream.of(DEFAULT_ACCOUNT).name]
    else:
        entries = await clients[0].xrange(stream.of(DEFAULT_ACCOUNT).name)
        sent = [fields[b"__data__"] for _, fields in entries]
    assert sent == [b"cmd-1"]


async def test_create_and_send_of_an_adopted_order_indexes_its_venue_id_with_its_event(
    order_stores: tuple[OrderStore, OrderStore], clients: Clients | None
) -> None:
    writer, reader = order_stores
    stream = AccountStream("test.events", maxlen=1_000)
    adopted = make_order("v-77").model_copy(
        update={"venue_order_id": VenueOrderId("77"), "status": OrderStatus.NEW}
    )

    (result,) = await writer.create_and_send([(adopted, b"acked-77")], stream)

    assert result == (adopted, True)
    assert await reader.find_by_venue_id(VenueOrderId("77")) == adopted
    assert [o.client_order_id for o in await reader.open_orders(BTC)] == ["v-77"]
    if clients is None:
        assert isinstance(writer, InMemoryOrderStore)
        sent = [entry for name, entry in writer.sent if name == stream.of(DEFAULT_ACCOUNT).name]
    else:
        sent = [
            fields[b"__data__"]
            for _, fields in await clients[0].xrange(stream.of(DEFAULT_ACCOUNT).name)
        ]
    assert sent == [b"acked-77"]


async def test_requested_terms_are_written_with_the_record_and_survive_send_ack_fill_amend(
    order_stores: tuple[OrderStore, OrderStore],
) -> None:
    first, second = order_stores
    placed = make_order("r-1", qty="2.04").model_copy(
        update={"requested_qty": Decimal("2.04"), "requested_price": Decimal("100.550")}
    )
    await first.create_and_send(
        [(placed, b"cmd-r-1")], AccountStream("test.requests", maxlen=1_000)
    )
    cid = ClientOrderId("r-1")
    read = await second.get(cid)

    rounded = partial(start_send, qty=Decimal(2), price=Decimal("100.5"), ts_ns=2)
    await first.update(cid, rounded)  # the router rounds it to the qty step
    await second.update(cid, ack)
    await first.update(cid, fill("e1", "0.5"))
    await second.update(cid, partial(request_amend, qty=Decimal(3), price=Decimal(99), ts_ns=4))
    amended = await first.update(
        cid, partial(apply_amend, qty=Decimal(3), price=Decimal(99), ts_ns=5)
    )

    assert read == placed
    assert (amended.status, amended.qty, amended.price) == (
        OrderStatus.PARTIALLY_FILLED,
        Decimal(3),
        Decimal(99),
    )
    stored = await second.get(cid)
    assert stored is not None
    assert (str(stored.requested_qty), str(stored.requested_price)) == ("2.04", "100.550")


async def test_update_that_changes_the_requested_terms_is_refused(order_store: OrderStore) -> None:
    order, _ = await order_store.create(
        make_order("a").model_copy(update={"requested_qty": Decimal(1)})
    )

    def restate(o: Order) -> Order:
        return o.model_copy(update={"requested_qty": Decimal(7), "version": o.version + 1})

    with pytest.raises(InvalidUpdate, match="requested terms"):
        await order_store.update(order.client_order_id, restate)
    assert await order_store.get(order.client_order_id) == order


async def test_a_record_written_before_requested_terms_were_kept_reads_and_updates(
    order_store: OrderStore, clients: Clients | None
) -> None:
    await order_store.create(make_order("a"))  # the fake's record has none: nothing to drop
    if clients is not None:  # the JSON without the fields, as written before they existed
        key = keys_of(DEFAULT_ACCOUNT).order(ClientOrderId("a"))
        record = json.loads(await clients[0].get(key))
        del record["requested_qty"], record["requested_price"]
        await clients[0].set(key, json.dumps(record))

    stored = await order_store.update(ClientOrderId("a"), ack)

    assert (stored.requested_qty, stored.requested_price) == (None, None)
    assert stored.status is OrderStatus.NEW
    assert await order_store.get(ClientOrderId("a")) == stored


async def test_update_many_with_a_stale_known_record_reads_again_and_applies_once(
    order_stores: tuple[OrderStore, OrderStore],
) -> None:
    first, second = order_stores
    stale, _ = await first.create(make_order("k-1", qty="2"))
    await second.update(ClientOrderId("k-1"), ack)  # moved on since `stale` was read

    (result,) = await first.update_many(
        [(ClientOrderId("k-1"), fill("e1", "1"))], known={ClientOrderId("k-1"): stale}
    )

    assert not isinstance(result, Exception)
    assert (result.status, result.venue_order_id, result.filled_qty) == (
        OrderStatus.PARTIALLY_FILLED,
        "v-1",
        Decimal(1),
    )
    assert await second.get(ClientOrderId("k-1")) == result


class _Announce:
    """Announces every change as `before.status>after.status`, on a test stream."""

    stream = AccountStream("test.order-events", maxlen=1_000)

    def __call__(self, before: Order, after: Order) -> list[bytes]:
        return [f"{before.client_order_id}:{before.status}>{after.status}".encode()]


async def test_a_write_appends_its_events_in_the_same_step_and_only_when_it_wins(
    order_stores: tuple[OrderStore, OrderStore], clients: Clients | None
) -> None:
    first, second = order_stores
    stale, _ = await first.create(make_order("a-1"))
    await second.create(make_order("a-2"))
    await second.update(ClientOrderId("a-1"), ack)  # `stale` lost its race

    results = await first.update_many(
        [(ClientOrderId("a-1"), ack), (ClientOrderId("a-2"), ack)],
        known={ClientOrderId("a-1"): stale},
        announce=_Announce(),
    )

    assert all(not isinstance(r, Exception) for r in results)
    if clients is None:
        assert isinstance(first, InMemoryOrderStore)
        said = [e for name, e in first.sent if name == _Announce.stream.of(DEFAULT_ACCOUNT).name]
    else:
        entries = await clients[0].xrange(_Announce.stream.of(DEFAULT_ACCOUNT).name)
        said = [fields[b"__data__"] for _, fields in entries]
    assert said == [b"a-2:Pending>New"]  # a-1 was New already: no change, nothing said


async def test_order_symbols_lists_every_symbol_with_an_open_order(
    order_stores: tuple[OrderStore, OrderStore],
) -> None:
    writer, reader = order_stores
    assert await reader.order_symbols() == []
    await writer.create(make_order("s-1"))
    await writer.create(make_order("s-2").model_copy(update={"symbol": Symbol("ETHUSDT")}))
    await writer.update(ClientOrderId("s-1"), ack)

    symbols = await reader.order_symbols()

    assert symbols == [BTC, Symbol("ETHUSDT")]
    for symbol in symbols:  # every open order is found through them
        assert await reader.open_orders(symbol)
