"""The WebSocket fan-out: filters, camelCase frames, and dropping a slow client."""

from __future__ import annotations

import asyncio
import json
from typing import Any

from libs.common.bus_types import Delivery
from libs.common.domain.ids import AccountId, ClientOrderId, Symbol
from libs.common.domain.risk_checks import TradingState
from libs.common.messages import Envelope, Message, OrderDenied, TradingStateChanged
from services.gateway.stream import CLOSE_TOO_SLOW, StreamHub, camel, serve


def delivery(message: Message) -> Delivery[Envelope]:
    return Delivery(Envelope.wrap(message), "orders.events", "1-0", 1)


def denied(symbol: str) -> OrderDenied:
    return OrderDenied(
        client_order_id=ClientOrderId("c-1"), symbol=Symbol(symbol), ts_event_ns=1, reason="no"
    )


FROZEN = TradingStateChanged(state=TradingState.FROZEN, reason="drill", actor="ops", epoch=3)


def test_camel_renames_keys_recursively() -> None:
    assert camel({"client_order_id": "x", "nested_list": [{"edge_bps": "1"}]}) == {
        "clientOrderId": "x",
        "nestedList": [{"edgeBps": "1"}],
    }


async def test_hub_pushes_type_and_camel_case_data_to_every_client() -> None:
    hub = StreamHub(queue_size=10)
    one, two = hub.connect(None), hub.connect(None)

    await hub.on_entry(delivery(denied("BTCUSDT")))

    for client in (one, two):
        assert json.loads(client.queue.get_nowait()) == {
            "type": "OrderDenied",
            "data": {
                "clientOrderId": "c-1",
                "symbol": "BTCUSDT",
                "tsEventNs": 1,
                "account": "default",
                "venue": "bybit",
                "reason": "no",
            },
        }


async def test_hub_filters_by_symbol_but_always_sends_trading_state() -> None:
    hub = StreamHub(queue_size=10)
    eth = hub.connect(["ETHUSDT"])

    await hub.on_entry(delivery(denied("BTCUSDT")))
    await hub.on_entry(delivery(denied("ETHUSDT")))
    await hub.on_entry(delivery(FROZEN))

    kinds = [json.loads(eth.queue.get_nowait()) for _ in range(eth.queue.qsize())]
    assert [(k["type"], k["data"].get("symbol")) for k in kinds] == [
        ("OrderDenied", "ETHUSDT"),
        ("TradingStateChanged", None),
    ]


async def test_hub_drops_a_client_that_falls_behind_without_holding_up_others() -> None:
    hub = StreamHub(queue_size=2)
    slow, fast = hub.connect(None), hub.connect(None)

    for _ in range(3):
        await hub.on_entry(delivery(denied("BTCUSDT")))
        fast.queue.get_nowait()  # the fast client keeps up

    assert slow.overflowed.is_set()
    assert not fast.overflowed.is_set()
    assert (len(hub), hub.dropped) == (1, 1)


class StuckSocket:
    """A WebSocket whose client never reads: sends hang, nothing is received."""

    def __init__(self) -> None:
        self.closed: tuple[int, str] | None = None
        self._never = asyncio.Event()

    async def send_text(self, text: str) -> None:
        await self._never.wait()

    async def receive(self) -> dict[str, Any]:
        await self._never.wait()
        return {"type": "websocket.disconnect"}

    async def close(self, code: int, reason: str) -> None:
        self.closed = (code, reason)


async def test_serve_closes_an_overflowed_client_with_try_again_later() -> None:
    hub = StreamHub(queue_size=1)
    client = hub.connect(None)
    socket = StuckSocket()
    serving = asyncio.create_task(serve(socket, client, hub))  # type: ignore[arg-type]

    for _ in range(3):
        await hub.on_entry(delivery(denied("BTCUSDT")))
    await asyncio.wait_for(serving, timeout=1)

    assert socket.closed is not None and socket.closed[0] == CLOSE_TOO_SLOW
    assert len(hub) == 0


class GoneSocket(StuckSocket):
    async def receive(self) -> dict[str, Any]:
        return {"type": "websocket.disconnect"}


async def test_serve_unregisters_a_client_that_disconnects() -> None:
    hub = StreamHub(queue_size=10)
    client = hub.connect(None)

    await asyncio.wait_for(serve(GoneSocket(), client, hub), timeout=1)  # type: ignore[arg-type]

    assert len(hub) == 0


async def test_a_client_bound_to_accounts_gets_their_events_and_the_desks_only() -> None:
    hub = StreamHub(queue_size=10)
    alpha = hub.connect(None, accounts=["alpha"])
    theirs = denied("BTCUSDT").model_copy(update={"account": AccountId("alpha")})
    desk = TradingStateChanged(state=TradingState.FROZEN, reason="r", actor="a", epoch=1)

    await hub.on_entry(delivery(denied("BTCUSDT")))  # the default account's
    await hub.on_entry(delivery(theirs))
    await hub.on_entry(delivery(desk))

    received = [json.loads(alpha.queue.get_nowait()) for _ in range(alpha.queue.qsize())]
    assert [(m["type"], m["data"].get("account")) for m in received] == [
        ("OrderDenied", "alpha"),
        ("TradingStateChanged", None),
    ]
