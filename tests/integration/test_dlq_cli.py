"""`mmx dlq list | show | replay | drop` against real Redis: a replay puts the message back
once, a second replay finds nothing, and every action is in the audit trail."""

from __future__ import annotations

import asyncio

import pytest
import redis.asyncio as aioredis

from libs.common import topology
from libs.common.bus import DATA_FIELD
from libs.common.messages import Envelope, OperatorAction
from services.cli import main as _main

pytestmark = pytest.mark.integration
SOURCE = topology.ORDERS_EVENTS


async def main(argv: list[str]) -> int:
    """`mmx ...` as a shell would run it (its own event loop, in a thread)."""
    return await asyncio.to_thread(_main, argv)


async def _dead_letter(redis: aioredis.Redis, data: bytes, source: topology.Stream = SOURCE) -> str:
    """A dead letter as the bus writes one after the last retry."""
    entry_id: bytes = await redis.xadd(
        source.dlq.name,
        {
            "stream": source.name,
            "id": "1-0",
            "group": "positions",
            "consumer": "c1",
            "attempts": "5",
            "error": "RuntimeError: the store was away",
            DATA_FIELD: data,
        },
    )
    return entry_id.decode()


async def _audit(redis: aioredis.Redis) -> list[OperatorAction]:
    entries = await redis.xrange(topology.AUDIT.name)
    opened = [Envelope.from_json(fields[DATA_FIELD]).open() for _, fields in entries]
    return [m for m in opened if isinstance(m, OperatorAction)]


@pytest.mark.parametrize(
    "source", [SOURCE, topology.POSITIONS_UPDATES], ids=["trimmed-by-groups", "trimmed-by-length"]
)
async def test_list_show_then_replay_once_puts_the_message_back_and_audits_it(
    source: topology.Stream,
    redis: aioredis.Redis,
    redis_url: str,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    monkeypatch.setenv("REDIS_URL", redis_url)
    data = b'{"type":"OrderFilled","payload":{}}'
    entry = await _dead_letter(redis, data, source)

    assert await main(["dlq", "list"]) == 0
    listed = capsys.readouterr().out
    assert entry in listed and "OrderFilled" in listed and "positions" in listed
    assert await main(["dlq", "show", entry, "--stream", source.name]) == 0
    assert '"type": "OrderFilled"' in capsys.readouterr().out

    assert (
        await main(["dlq", "replay", entry, "--stream", source.name, "--reason", "store back"]) == 0
    )
    assert await main(["dlq", "replay", entry, "--stream", source.name, "--reason", "again"]) == 1

    assert [fields[DATA_FIELD] for _, fields in await redis.xrange(source.name)] == [data]
    assert await redis.xlen(source.dlq.name) == 0
    (audit,) = await _audit(redis)
    assert (audit.action, audit.reason, audit.details["id"]) == ("dlq_replay", "store back", entry)


async def test_drop_removes_the_dead_letter_for_good_and_audits_it(
    redis: aioredis.Redis, redis_url: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("REDIS_URL", redis_url)
    entry = await _dead_letter(redis, b"not json at all")

    assert await main(["dlq", "drop", entry, "--stream", SOURCE.name, "--reason", "poison"]) == 0
    assert await main(["dlq", "drop", entry, "--stream", SOURCE.name, "--reason", "poison"]) == 1

    assert await redis.xlen(SOURCE.dlq.name) == 0
    assert await redis.xlen(SOURCE.name) == 0
    (audit,) = await _audit(redis)
    assert audit.action == "dlq_drop"
