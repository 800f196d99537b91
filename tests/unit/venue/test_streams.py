"""Stream logic without sockets: snapshot-then-buffer ordering, dedupe, ticker merging."""

from __future__ import annotations

from decimal import Decimal
from types import SimpleNamespace
from typing import Any

from libs.common.domain.enums import Category
from libs.common.venue.config import VenueConfig
from libs.common.venue.models import Execution, PrivateSnapshot, Ticker, VenueOrder
from libs.common.venue.private_ws import LruSet, PrivateStream
from libs.common.venue.public_ws import PublicStream
from libs.common.venue.signer import ServerClock
from libs.common.venue.wire import parse_execution


def fill(exec_id: str, t: int) -> dict[str, Any]:
    return {
        "category": "linear",
        "symbol": "BTCUSDT",
        "execId": exec_id,
        "orderId": "o1",
        "orderLinkId": "mmx-1",
        "side": "Buy",
        "execPrice": "60000",
        "execQty": "0.001",
        "execFee": "0",
        "feeRate": "0",
        "execTime": str(t),
        "isMaker": True,
        "leavesQty": "0",
    }


def order(updated: int, cum: str, status: str = "PartiallyFilled") -> dict[str, Any]:
    return {
        "category": "linear",
        "symbol": "BTCUSDT",
        "orderId": "o1",
        "orderLinkId": "mmx-1",
        "side": "Buy",
        "orderType": "Limit",
        "orderStatus": status,
        "qty": "0.002",
        "price": "60000",
        "cumExecQty": cum,
        "leavesQty": "0.001",
        "updatedTime": str(updated),
    }


class FakeVenue:
    def __init__(self, fills: list[dict[str, Any]]) -> None:
        self.config = VenueConfig(ws_exec_overlap_ms=1000)
        self.rest = SimpleNamespace(clock=ServerClock(), banned_for_s=0.0)
        self.fills = fills
        self.since: list[int | None] = []

    async def open_orders(self, category: Category) -> list[VenueOrder]:
        return []

    async def executions(self, category: Category, start_ms: int | None = None) -> list[Execution]:
        self.since.append(start_ms)
        return [parse_execution(f) for f in self.fills]

    async def positions(self, category: Category) -> list[Any]:
        return []


def drain(stream: PrivateStream) -> list[Any]:
    out = []
    while not stream._queue.empty():
        out.append(stream._queue.get_nowait())
    return out


def push(topic: str, *items: dict[str, Any]) -> dict[str, Any]:
    return {"topic": topic, "id": "x", "creationTime": 1, "data": list(items)}


async def test_snapshot_first_then_buffered_pushes_each_fill_once() -> None:
    venue = FakeVenue([fill("e1", 1000), fill("e2", 1001)])
    stream = PrivateStream(venue, since_ms=5000)  # type: ignore[arg-type]
    stream._buffer = []  # as after the handshake: pushes are held back
    stream._dispatch(push("execution", fill("e2", 1001), fill("e3", 1002)))
    stream._dispatch(push("order", order(1002, "0.001")))
    assert drain(stream) == []

    await stream._after_open()
    events = drain(stream)
    snapshot = events[0]
    assert isinstance(snapshot, PrivateSnapshot) and snapshot.connection == 0
    assert [e.exec_id for e in snapshot.executions] == ["e1", "e2"]
    assert [type(e).__name__ for e in events[1:]] == ["Execution", "VenueOrder"]
    assert events[1].exec_id == "e3"
    assert venue.since == [4000]  # since_ms minus the overlap

    # live pushes now: duplicates are dropped, the cursor follows the newest fill
    stream._dispatch(push("execution", fill("e3", 1002), fill("e4", 1003)))
    stream._dispatch(push("order", order(1002, "0.001"), order(1003, "0.002", "Filled")))
    stream._dispatch(push("execution.fast", fill("e9", 1009)))
    stream._dispatch({"op": "pong", "args": ["1"]})
    live = drain(stream)
    assert [getattr(e, "exec_id", None) or e.status for e in live] == ["e4", "Filled"]
    assert stream.exec_cursor_ms == 5000  # since_ms was later than any fill


async def test_reconnect_snapshot_starts_at_the_last_fill_minus_overlap() -> None:
    venue = FakeVenue([fill("e1", 10_000)])
    stream = PrivateStream(venue, since_ms=0)  # type: ignore[arg-type]
    stream._buffer = []
    await stream._after_open()
    stream._buffer = []
    await stream._after_open()
    assert venue.since == [-1000, 9000]
    second = drain(stream)[-1]
    assert isinstance(second, PrivateSnapshot)
    assert second.connection == 1 and second.executions == ()


def test_lru_set_is_bounded() -> None:
    seen = LruSet(2)
    assert seen.add("a") and seen.add("b") and not seen.add("a")
    assert seen.add("c")  # evicts b, the least recently used
    assert "b" not in seen and "a" in seen and len(seen) == 2


def test_ticker_snapshot_and_delta_merge() -> None:
    stream = PublicStream(VenueConfig(), ["BTCUSDT"])
    stream._dispatch(
        {
            "topic": "tickers.BTCUSDT",
            "type": "snapshot",
            "ts": 1,
            "data": {
                "symbol": "BTCUSDT",
                "bid1Price": "59999.9",
                "ask1Price": "60000.1",
                "lastPrice": "60000",
                "markPrice": "60000.05",
            },
        }
    )
    stream._dispatch(
        {
            "topic": "tickers.BTCUSDT",
            "type": "delta",
            "ts": 2,
            "data": {"symbol": "BTCUSDT", "markPrice": "60001", "bid1Price": ""},
        }
    )
    latest = stream.latest["BTCUSDT"]
    assert isinstance(latest, Ticker)
    assert latest.mark == Decimal("60001") and latest.bid == Decimal("59999.9")
    assert latest.ts_ms == 2 and stream._queue.qsize() == 2
