"""The outcome policy over real HTTP: ambiguous creates, duplicates, cancels of filled orders.

Whatever goes wrong, the simulator must end with exactly one order per orderLinkId.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Mapping
from decimal import Decimal
from typing import Any

import pytest

from libs.common.domain.enums import Category, OrderType, Side, VenueOrderStatus
from libs.common.venue import (
    AmendOrder,
    BybitVenue,
    CancelOrder,
    OutcomeUnknown,
    PlaceOrder,
    VenueConfig,
    VenueUnavailable,
)
from libs.common.venue.rest import TRANSPORT_ERROR, Envelope
from tests.adapter_helpers import Calls
from tests.simulator import SimProcess

pytestmark = pytest.mark.integration
LINEAR = Category.LINEAR
CREATE = "/v5/order/create"


def config(sim: SimProcess, **kw: Any) -> VenueConfig:
    return VenueConfig(
        venue="sim",
        venue_url=sim.base_url,
        api_key=sim.api_key,
        api_secret=sim.api_secret,
        retry_backoff_s=0.01,
        **kw,
    )


@pytest.fixture
async def venue(venue_sim: SimProcess) -> AsyncIterator[BybitVenue]:
    async with BybitVenue(config(venue_sim, request_timeout_s=0.5)) as v:
        v.rest.on_request = Calls()
        await v.instruments(LINEAR)
        yield v


def calls(venue: BybitVenue) -> Calls:
    assert isinstance(venue.rest.on_request, Calls)
    return venue.rest.on_request


def bid(link: str, price: str = "59000") -> PlaceOrder:
    return PlaceOrder(
        category=LINEAR,
        symbol="BTCUSDT",
        side=Side.BUY,
        order_type=OrderType.LIMIT,
        qty=Decimal("0.001"),
        price=Decimal(price),
        client_order_id=link,  # type: ignore[arg-type]
    )


async def held(sim: SimProcess, link: str) -> list[dict[str, Any]]:
    return [o for o in await sim.orders() if o["orderLinkId"] == link]


@pytest.mark.parametrize("mode", ["close", "hang"])
async def test_ambiguous_create_ends_with_exactly_one_order(
    venue: BybitVenue, venue_sim: SimProcess, mode: str
) -> None:
    await venue_sim.control(
        "faults",
        {"dropResponseNext": 1, "dropMode": mode, "hangMs": 2000, "paths": [CREATE]},
    )
    ack = await venue.place(bid(f"amb-{mode}"))
    assert ack.recovered and ack.attempts == 1
    assert ack.order is not None and ack.order.status is VenueOrderStatus.NEW
    [order] = await held(venue_sim, f"amb-{mode}")
    assert order["orderId"] == ack.venue_order_id
    assert calls(venue).codes(CREATE) == [TRANSPORT_ERROR]  # queried, never resent


async def test_5xx_create_not_executed_is_resent_once(
    venue: BybitVenue, venue_sim: SimProcess
) -> None:
    await venue_sim.control("faults", {"http5xxNext": 1, "paths": [CREATE]})
    ack = await venue.place(bid("five-1"))
    assert not ack.recovered and ack.attempts == 2
    assert len(await held(venue_sim, "five-1")) == 1
    assert calls(venue).codes(CREATE) == [-503, 0]


async def test_duplicate_on_create_means_already_placed(
    venue: BybitVenue, venue_sim: SimProcess
) -> None:
    first = await venue.place(bid("dup-1"))
    again = await venue.place(bid("dup-1"))
    assert again.recovered and again.venue_order_id == first.venue_order_id
    assert calls(venue).codes(CREATE) == [0, 110072]
    assert len(await held(venue_sim, "dup-1")) == 1


async def test_resend_answered_duplicate_is_recovered(
    venue: BybitVenue, venue_sim: SimProcess
) -> None:
    """The first create is still in flight (held 300 ms by the venue) when the adapter
    believes its answer lost: the lookup misses, the resend meets 110072."""
    await venue_sim.control("faults", {"latencyMs": 300, "paths": [CREATE]})
    real_post = venue.rest.post
    first: list[asyncio.Task[Envelope]] = []

    async def answer_lost_once(path: str, body: Mapping[str, Any]) -> Envelope:
        if path == CREATE and not first:
            first.append(asyncio.create_task(real_post(path, body)))
            await asyncio.sleep(0.05)
            raise VenueUnavailable(path, "answer lost (injected by the test)")
        return await real_post(path, body)

    venue.rest.post = answer_lost_once  # type: ignore[method-assign]
    ack = await venue.place(bid("dup-2"))
    assert ack.recovered and ack.attempts == 2
    assert (await first[0]).ret_code == 0
    assert calls(venue).codes(CREATE) == [0, 110072]
    [order] = await held(venue_sim, "dup-2")
    assert order["orderId"] == ack.venue_order_id


async def test_failed_lookup_raises_outcome_unknown(
    venue: BybitVenue, venue_sim: SimProcess
) -> None:
    recorder = calls(venue)

    def break_lookups(path: str, code: int, seconds: float) -> None:
        recorder(path, code, seconds)
        if path == CREATE and code == TRANSPORT_ERROR:
            lookups = ["/v5/order/realtime", "/v5/order/history"]
            venue_sim.control_sync("faults", {"http5xxNext": 20, "paths": lookups})

    await venue_sim.control("faults", {"dropResponseNext": 1, "paths": [CREATE]})
    venue.rest.on_request = break_lookups
    with pytest.raises(OutcomeUnknown, match=r"unk-1.*reconcile") as info:
        await venue.place(bid("unk-1"))
    assert info.value.client_order_id == "unk-1"
    await venue_sim.control("faults", {"clear": True})
    assert len(await held(venue_sim, "unk-1")) == 1  # it was placed: the router reconciles


async def test_cancel_of_a_filled_order_returns_the_final_state(
    venue: BybitVenue, venue_sim: SimProcess
) -> None:
    placed = await venue.place(bid("fill-1"))
    await venue_sim.control("trade", {"symbol": "BTCUSDT", "price": "59000", "qty": "0.005"})
    ack = await venue.cancel(
        CancelOrder(category=LINEAR, symbol="BTCUSDT", client_order_id=placed.client_order_id)
    )
    assert calls(venue).codes("/v5/order/cancel") == [110001]
    assert ack.recovered and ack.order is not None
    assert ack.order.status is VenueOrderStatus.FILLED
    assert ack.order.cum_exec_qty == Decimal("0.001")


async def test_ambiguous_cancel_and_amend_are_confirmed_by_lookup(
    venue: BybitVenue, venue_sim: SimProcess
) -> None:
    await venue.place(bid("ca-1"))
    await venue_sim.control("faults", {"dropResponseNext": 1, "paths": ["/v5/order/amend"]})
    amended = await venue.amend(
        AmendOrder(
            category=LINEAR,
            symbol="BTCUSDT",
            side=Side.BUY,
            client_order_id="ca-1",  # type: ignore[arg-type]
            price=Decimal("58000.05"),
        )
    )
    assert amended.recovered and amended.order is not None
    assert amended.order.price == Decimal("58000")
    await venue_sim.control("faults", {"dropResponseNext": 1, "paths": ["/v5/order/cancel"]})
    cancelled = await venue.cancel(
        CancelOrder(category=LINEAR, symbol="BTCUSDT", client_order_id="ca-1")  # type: ignore[arg-type]
    )
    assert cancelled.recovered and cancelled.order is not None
    assert cancelled.order.status is VenueOrderStatus.CANCELLED
    assert calls(venue).codes("/v5/order/cancel") == [TRANSPORT_ERROR]


async def test_ambiguous_batch_settles_every_item(venue: BybitVenue, venue_sim: SimProcess) -> None:
    path = "/v5/order/create-batch"
    await venue_sim.control("faults", {"dropResponseNext": 1, "paths": [path]})
    results = await venue.place_batch([bid(f"bb-{i}", str(58000 + i)) for i in range(5)])
    assert all(r.ack is not None and r.ack.recovered for r in results)
    links = sorted(o["orderLinkId"] for o in await venue_sim.orders())
    assert links == [f"bb-{i}" for i in range(5)]
    assert calls(venue).codes(path) == [TRANSPORT_ERROR] and calls(venue).codes(CREATE) == []
