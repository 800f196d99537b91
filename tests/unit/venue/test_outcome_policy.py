"""The outcome policy of create / amend / cancel against a scripted REST transport."""

from __future__ import annotations

from collections.abc import Callable, Mapping
from decimal import Decimal
from typing import Any

import pytest

from libs.common.domain.enums import Category, OrderType, Side, VenueOrderStatus
from libs.common.domain.ids import ClientOrderId
from libs.common.domain.instruments import InstrumentRules
from libs.common.venue.bybit import BybitVenue
from libs.common.venue.config import VenueConfig
from libs.common.venue.errors import (
    InsufficientBalance,
    InvalidOrderRequest,
    OrderClosed,
    OrderNotFound,
    OutcomeUnknown,
    RateLimited,
    VenueRejected,
    VenueUnavailable,
)
from libs.common.venue.models import AmendOrder, BatchErrorKind, CancelOrder, PlaceOrder
from libs.common.venue.rest import Envelope
from libs.common.venue.signer import ServerClock

Script = Envelope | Exception | Callable[[Mapping[str, Any]], Envelope]
CREATE = "/v5/order/create"


def ok(order_id: str = "v-1", link: str = "mmx-1") -> Envelope:
    return Envelope(0, "OK", {"orderId": order_id, "orderLinkId": link})


def order_item(link: str = "mmx-1", status: str = "New", price: str = "60000") -> dict[str, Any]:
    return {
        "orderId": f"v-{link}",
        "orderLinkId": link,
        "symbol": "BTCUSDT",
        "side": "Buy",
        "orderType": "Limit",
        "orderStatus": status,
        "qty": "0.001",
        "price": price,
        "leavesQty": "0.001",
        "cumExecQty": "0",
        "cumExecValue": "0",
        "timeInForce": "GTC",
        "createdTime": "1",
        "updatedTime": "2",
    }


class FakeRest:
    """Answers POSTs from a script and order lookups from `live` / `history`."""

    def __init__(self) -> None:
        self.clock = ServerClock()
        self.script: list[Script] = []
        self.posts: list[tuple[str, dict[str, Any]]] = []
        self.live: dict[str, dict[str, Any]] = {}
        self.history: dict[str, dict[str, Any]] = {}
        self.lookup_error: Exception | None = None

    async def post(self, path: str, body: Mapping[str, Any]) -> Envelope:
        self.posts.append((path, dict(body)))
        step = self.script.pop(0)
        if isinstance(step, Exception):
            raise step
        return step(body) if callable(step) else step

    async def get(
        self, path: str, params: Mapping[str, Any] | None = None, *, signed: bool = True
    ) -> Envelope:
        if self.lookup_error is not None:
            raise self.lookup_error
        params = params or {}
        link = params.get("orderLinkId")
        store = self.live if path == "/v5/order/realtime" else self.history
        found = [o for o in store.values() if link in (o["orderLinkId"], None)]
        if "orderId" in params:
            found = [o for o in store.values() if o["orderId"] == params["orderId"]]
        return Envelope(0, "OK", {"list": found, "nextPageCursor": ""})

    def executes(self, then: Exception | Envelope) -> Script:
        """A step that creates the order at the venue, then answers `then`."""

        def step(body: Mapping[str, Any]) -> Envelope:
            self.live[body["orderLinkId"]] = order_item(body["orderLinkId"])
            if isinstance(then, Exception):
                raise then
            return then

        return step


DROPPED = VenueUnavailable(CREATE, "ServerDisconnectedError")


@pytest.fixture
def fake() -> FakeRest:
    return FakeRest()


@pytest.fixture
def venue(fake: FakeRest, btc_linear: InstrumentRules) -> BybitVenue:
    v = BybitVenue(VenueConfig())
    v.rest = fake  # type: ignore[assignment]
    v._rules[(Category.LINEAR, "BTCUSDT")] = btc_linear
    return v


def place(link: str = "mmx-1", **kw: Any) -> PlaceOrder:
    fields: dict[str, Any] = {
        "category": Category.LINEAR,
        "symbol": "BTCUSDT",
        "side": Side.BUY,
        "order_type": OrderType.LIMIT,
        "qty": Decimal("0.001"),
        "price": Decimal("60000"),
        "client_order_id": link,
        **kw,
    }
    return PlaceOrder.model_validate(fields)


async def test_place_happy_path(venue: BybitVenue, fake: FakeRest) -> None:
    fake.script = [ok()]
    ack = await venue.place(place())
    assert (ack.venue_order_id, ack.recovered, ack.attempts) == ("v-1", False, 1)
    assert len(fake.posts) == 1


async def test_ambiguous_create_that_executed_is_recovered_without_resend(
    venue: BybitVenue, fake: FakeRest
) -> None:
    fake.script = [fake.executes(DROPPED)]
    ack = await venue.place(place())
    assert ack.recovered and ack.venue_order_id == "v-mmx-1" and ack.order is not None
    assert len(fake.posts) == 1


async def test_ambiguous_create_that_did_not_execute_is_resent_once_with_the_same_id(
    venue: BybitVenue, fake: FakeRest
) -> None:
    fake.script = [DROPPED, ok()]
    ack = await venue.place(place())
    assert not ack.recovered and ack.attempts == 2
    assert fake.posts[0] == fake.posts[1]


async def test_resend_answered_duplicate_is_recovered(venue: BybitVenue, fake: FakeRest) -> None:
    fake.script = [Envelope(10000, "Server Timeout"), fake.executes(Envelope(110072, "dup"))]
    ack = await venue.place(place())
    assert ack.recovered and ack.attempts == 2


async def test_duplicate_on_first_create_is_recovered(venue: BybitVenue, fake: FakeRest) -> None:
    fake.live["mmx-1"] = order_item()
    fake.script = [Envelope(110072, "OrderLinkedID is duplicate")]
    ack = await venue.place(place())
    assert ack.recovered and ack.attempts == 1 and len(fake.posts) == 1


async def test_failed_lookup_means_outcome_unknown(venue: BybitVenue, fake: FakeRest) -> None:
    fake.script = [DROPPED]
    fake.lookup_error = VenueUnavailable("/v5/order/realtime", "timeout")
    with pytest.raises(OutcomeUnknown, match="mmx-1") as info:
        await venue.place(place())
    assert info.value.client_order_id == "mmx-1"
    assert len(fake.posts) == 1


async def test_two_ambiguous_attempts_never_make_a_third(venue: BybitVenue, fake: FakeRest) -> None:
    fake.script = [DROPPED, DROPPED]
    with pytest.raises(OutcomeUnknown, match="not found by orderLinkId"):
        await venue.place(place())
    assert len(fake.posts) == 2


async def test_resend_refused_keeps_the_outcome_unknown(venue: BybitVenue, fake: FakeRest) -> None:
    fake.script = [DROPPED, RateLimited(CREATE, None, None)]
    with pytest.raises(OutcomeUnknown, match="resend failed"):
        await venue.place(place())


async def test_business_rejects_are_final(venue: BybitVenue, fake: FakeRest) -> None:
    fake.script = [Envelope(110007, "ab not enough for new order"), Envelope(10001, "qty err")]
    with pytest.raises(InsufficientBalance):
        await venue.place(place())
    with pytest.raises(VenueRejected, match="10001"):
        await venue.place(place("mmx-2"))
    assert len(fake.posts) == 2


async def test_invalid_order_is_never_sent(venue: BybitVenue, fake: FakeRest) -> None:
    with pytest.raises(InvalidOrderRequest, match="below the minimum"):
        await venue.place(place(qty=Decimal("0.0001")))
    assert fake.posts == []


def cancel(link: str = "mmx-1") -> CancelOrder:
    return CancelOrder(category=Category.LINEAR, symbol="BTCUSDT", client_order_id=link)


async def test_cancel_of_a_filled_order_returns_its_final_state(
    venue: BybitVenue, fake: FakeRest
) -> None:
    fake.history["mmx-1"] = order_item(status="Filled")
    fake.script = [Envelope(110001, "order not exists or too late to cancel")]
    ack = await venue.cancel(cancel())
    assert ack.recovered and ack.order is not None
    assert ack.order.status is VenueOrderStatus.FILLED


async def test_cancel_of_an_unknown_order(venue: BybitVenue, fake: FakeRest) -> None:
    fake.script = [Envelope(170213, "Order does not exist.")]
    with pytest.raises(OrderNotFound) as info:
        await venue.cancel(cancel())
    assert info.value.code == 170213


async def test_ambiguous_cancel_of_an_open_order_is_resent(
    venue: BybitVenue, fake: FakeRest
) -> None:
    fake.live["mmx-1"] = order_item()
    fake.script = [DROPPED, Envelope(0, "OK", {"orderId": "v-mmx-1", "orderLinkId": "mmx-1"})]
    ack = await venue.cancel(cancel())
    assert ack.attempts == 2 and not ack.recovered


def amend(price: str = "59000.05") -> AmendOrder:
    return AmendOrder(
        category=Category.LINEAR,
        symbol="BTCUSDT",
        side=Side.BUY,
        client_order_id=ClientOrderId("mmx-1"),
        price=Decimal(price),
    )


async def test_ambiguous_amend_already_applied_is_recovered(
    venue: BybitVenue, fake: FakeRest
) -> None:
    fake.live["mmx-1"] = order_item(price="59000")
    fake.script = [DROPPED]
    ack = await venue.amend(amend())
    assert ack.recovered and len(fake.posts) == 1
    assert fake.posts[0][1]["price"] == "59000"


async def test_amend_of_a_filled_order_is_order_closed(venue: BybitVenue, fake: FakeRest) -> None:
    fake.history["mmx-1"] = order_item(status="Filled")
    fake.script = [Envelope(110001, "order not exists or too late to replace")]
    with pytest.raises(OrderClosed) as info:
        await venue.amend(amend())
    assert info.value.order is not None


async def test_batch_chunks_keep_input_order_and_settle_items(
    venue: BybitVenue, fake: FakeRest
) -> None:
    orders = [place(f"b-{i}") for i in range(25)]
    orders[3] = place("b-3", qty=Decimal("0.0001"))  # invalid: never sent
    fake.live["b-5"] = order_item("b-5")

    def answer(body: Mapping[str, Any]) -> Envelope:
        items = body["request"]
        rows = [
            {"orderId": f"v-{r['orderLinkId']}", "orderLinkId": r["orderLinkId"]} for r in items
        ]
        codes = [{"code": 110072 if r["orderLinkId"] == "b-5" else 0, "msg": "OK"} for r in items]
        return Envelope(0, "OK", {"list": rows}, {"list": codes})

    fake.script = [answer, answer]
    results = await venue.place_batch(orders)
    assert [len(body["request"]) for _, body in fake.posts] == [20, 4]
    assert [r.client_order_id for r in results] == [f"b-{i}" for i in range(25)]
    assert results[3].error_kind is BatchErrorKind.INVALID
    assert results[5].ack is not None and results[5].ack.recovered
    assert all(r.ok for i, r in enumerate(results) if i != 3)


async def test_batch_ambiguous_chunk_settles_each_item_alone(
    venue: BybitVenue, fake: FakeRest
) -> None:
    fake.script = [DROPPED, ok("v-a", "a"), ok("v-b", "b")]
    results = await venue.place_batch([place("a"), place("b")])
    assert [r.venue_order_id for r in results] == ["v-a", "v-b"]
    assert [path for path, _ in fake.posts] == ["/v5/order/create-batch", CREATE, CREATE]


async def test_cancel_all_is_resent_once_when_ambiguous(venue: BybitVenue, fake: FakeRest) -> None:
    fake.script = [DROPPED, Envelope(0, "OK", {"list": [{"orderId": "1", "orderLinkId": "x"}]})]
    acks = await venue.cancel_all(Category.LINEAR)
    assert [a.venue_order_id for a in acks] == ["1"]
    assert fake.posts[0][1] == {"category": "linear", "settleCoin": "USDT"}
