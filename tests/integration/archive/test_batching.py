"""Batching, against a real Redis and a directory archive: a full batch is written at once,
the rest waits for the interval (or the stop), one object per write and hour; the local
stack's directory archive reads back with `mmx audit query --from <dir>`."""

from __future__ import annotations

import asyncio
import json
import time
from pathlib import Path

import pytest
import redis.asyncio as aioredis
from prometheus_client import CollectorRegistry

from libs.common import topology
from libs.common.bus import Bus, EnvelopeCodec, ensure_groups
from libs.common.domain.ids import DEFAULT_ACCOUNT, ClientOrderId, Symbol
from libs.common.messages import Envelope, OrderSubmitted
from libs.common.metrics import EngineMetrics
from services.archive.settings import ArchiveSettings
from services.archive.store import DirectoryObjectStore
from services.archive.writer import ArchiveWriter
from services.cli import main
from tests.e2e.harness import wait_for

pytestmark = pytest.mark.integration


async def test_a_full_batch_goes_at_once_and_the_rest_waits_for_the_interval_or_the_stop(
    redis: aioredis.Redis, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    await ensure_groups(redis, topology.consumed([DEFAULT_ACCOUNT]))
    settings = ArchiveSettings(dir=tmp_path, max_batch=5, flush_interval_s=3600)
    writer = ArchiveWriter(
        redis,
        DirectoryObjectStore(tmp_path),
        settings=settings,
        metrics=EngineMetrics(CollectorRegistry()),
        consumer="archive-b",
    )
    sent = [
        Envelope.wrap(
            OrderSubmitted(
                client_order_id=ClientOrderId(f"mm-{i}"), symbol=Symbol("BTCUSDT"), ts_event_ns=1
            )
        )
        for i in range(12)
    ]
    since = time.time_ns() // 1_000_000 - 1000
    events = topology.ORDERS_EVENTS.of(DEFAULT_ACCOUNT)
    await Bus(redis, EnvelopeCodec()).publish_many(events, sent)
    await writer.start()
    try:

        async def two_full_batches() -> bool:
            return writer.stats.archived == 10

        await wait_for(two_full_batches, what="two batches of 5 written")
        await asyncio.sleep(0.5)
        assert (writer.stats.archived, writer.held) == (10, 2), "2 wait for the interval"
        pending = await redis.xpending(events.name, "archive")
        assert pending["pending"] == 2
    finally:
        await writer.stop()

    keys = await DirectoryObjectStore(tmp_path).keys("")
    objects = [k for k in keys if k.endswith(".ndjson.gz")]
    assert len(objects) == 3 and len(keys) == 6, keys
    assert all(k.startswith("mmx/audit/date=") for k in keys)
    assert (await redis.xpending(events.name, "archive"))["pending"] == 0
    code = await asyncio.to_thread(
        main, ["audit", "query", "--since", str(since), "--from", str(tmp_path / "mmx/audit")]
    )
    printed = capsys.readouterr()
    lines = [json.loads(line) for line in printed.out.splitlines()]
    assert code == 0, printed.err
    assert [line["envelope"]["event_id"] for line in lines] == [e.event_id for e in sent]
