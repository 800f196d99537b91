"""`mmx dlq list | show | replay | drop` against real Redis: a replay puts the message back
once, a second replay finds nothing, every action is in the audit trail (written first: a
step that fails after it leaves the line, and rerunning completes it), every stream of the
accounts of MMX_ACCOUNTS is a source, and all of it works on a Redis Cluster."""

from __future__ import annotations

import asyncio
from typing import Any

import pytest
import redis.asyncio as aioredis
from redis.exceptions import ConnectionError as RedisConnectionError

from libs.common import topology
from libs.common.bus import DATA_FIELD
from libs.common.domain.ids import DEFAULT_ACCOUNT, AccountId
from libs.common.messages import Envelope, OperatorAction
from libs.common.redis_connect import redis_from_url
from services import dlq_cli
from services.cli import main as _main

pytestmark = pytest.mark.integration
SOURCE = topology.ORDERS_EVENTS.of(DEFAULT_ACCOUNT)


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
    "source",
    [SOURCE, topology.POSITIONS_UPDATES, topology.CONTROL.desk],
    ids=["trimmed-by-groups", "trimmed-by-length", "the-desks"],
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


async def test_every_stream_of_the_configured_accounts_is_a_source_and_no_other(
    redis: aioredis.Redis,
    redis_url: str,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    monkeypatch.setenv("REDIS_URL", redis_url)
    monkeypatch.setenv("MMX_ACCOUNTS", "default,alpha")
    alphas = topology.ORDERS_REQUESTS.of(AccountId("alpha"))
    entry = await _dead_letter(redis, b'{"type":"PlaceOrder","payload":{}}', alphas)

    assert await main(["dlq", "list"]) == 0
    assert alphas.name in capsys.readouterr().out
    monkeypatch.setenv("MMX_ACCOUNTS", "default")
    assert await main(["dlq", "drop", entry, "--stream", alphas.name, "--reason", "x"]) == 1
    assert "is no stream of the accounts of MMX_ACCOUNTS" in capsys.readouterr().err
    monkeypatch.setenv("MMX_ACCOUNTS", "default,default")
    assert await main(["dlq", "list"]) == 1
    assert "MMX_ACCOUNTS" in capsys.readouterr().err

    assert await redis.xlen(alphas.dlq.name) == 1
    assert await _audit(redis) == []


async def test_the_audit_line_comes_first_a_failed_step_leaves_it_and_a_rerun_completes(
    redis: aioredis.Redis, redis_url: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("REDIS_URL", redis_url)
    entry = await _dead_letter(redis, b'{"type":"OrderFilled","payload":{}}')
    settle = dlq_cli._SETTLE

    async def lost(*args: Any) -> Any:
        raise RedisConnectionError("connection lost")  # as a crash between the two writes

    monkeypatch.setattr(dlq_cli, "_SETTLE", lost)
    argv = ["dlq", "replay", entry, "--stream", SOURCE.name, "--reason", "store back"]
    assert await main(argv) == 2
    assert [a.action for a in await _audit(redis)] == ["dlq_replay"]
    assert await redis.xlen(SOURCE.dlq.name) == 1 and await redis.xlen(SOURCE.name) == 0

    monkeypatch.setattr(dlq_cli, "_SETTLE", settle)
    assert await main(argv) == 0
    assert [a.action for a in await _audit(redis)] == ["dlq_replay", "dlq_replay"]
    assert await redis.xlen(SOURCE.dlq.name) == 0 and await redis.xlen(SOURCE.name) == 1


async def test_replay_and_drop_work_on_a_cluster_where_audit_is_in_another_slot(
    redis_cluster_url: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("REDIS_URL", redis_cluster_url)
    monkeypatch.setenv("MMX_ACCOUNTS", "default,alpha")
    alphas = topology.ORDERS_EVENTS.of(AccountId("alpha"))
    cluster = redis_from_url(redis_cluster_url)
    try:
        replayed = await _dead_letter(cluster, b'{"type":"OrderFilled","payload":{}}', alphas)
        dropped = await _dead_letter(cluster, b"poison", topology.AUDIT)

        assert (
            await main(["dlq", "replay", replayed, "--stream", alphas.name, "--reason", "r"]) == 0
        )
        assert await main(["dlq", "drop", dropped, "--stream", "audit", "--reason", "d"]) == 0

        assert (await cluster.xlen(alphas.dlq.name), await cluster.xlen(alphas.name)) == (0, 1)
        assert await cluster.xlen(topology.AUDIT.dlq.name) == 0
        assert [a.action for a in await _audit(cluster)] == ["dlq_replay", "dlq_drop"]
    finally:
        await cluster.aclose()
