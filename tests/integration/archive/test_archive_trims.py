"""The archive is the one reader with a group of `audit` and `control`, so it trims them: never
below what it has not archived, and down to the kept count once it has (a small count here)."""

from __future__ import annotations

from pathlib import Path

import pytest
import redis.asyncio as aioredis
from prometheus_client import CollectorRegistry

from libs.common import topology
from libs.common.bus import Bus, EnvelopeCodec, ensure_groups
from libs.common.domain.ids import DEFAULT_ACCOUNT
from libs.common.messages import Envelope, OperatorAction
from libs.common.metrics import EngineMetrics
from services.archive.settings import ArchiveSettings
from services.archive.store import DirectoryObjectStore
from services.archive.writer import ArchiveWriter, BacklogGauges
from tests.e2e.harness import wait_for

pytestmark = pytest.mark.integration

KEPT = 10


async def test_audit_is_kept_whole_until_archived_then_trimmed_to_its_count(
    redis: aioredis.Redis, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    small = topology.Stream(topology.AUDIT.name, maxlen=None, keep=KEPT)
    families = topology.CONSUMES[topology.Group.ARCHIVE]
    streams = tuple(small if s == topology.AUDIT else s for s in families)
    monkeypatch.setitem(topology.CONSUMES, topology.Group.ARCHIVE, streams)
    await ensure_groups(redis, topology.consumed([DEFAULT_ACCOUNT]))
    bus = Bus(redis, EnvelopeCodec())
    actions = [OperatorAction(action="drill", actor="ops", reason=str(n)) for n in range(300)]
    await bus.publish_many(topology.AUDIT, [Envelope.wrap(a) for a in actions])
    settings = ArchiveSettings(dir=tmp_path, max_batch=1_000, flush_interval_s=0.1)
    metrics = EngineMetrics(CollectorRegistry())
    writer = ArchiveWriter(
        redis, DirectoryObjectStore(tmp_path), settings=settings, metrics=metrics, consumer="a-t"
    )
    gauges = BacklogGauges(redis, metrics, writer, keep_s=0)

    await gauges.refresh()  # nothing archived yet: nothing trimmed
    unarchived = await redis.xlen(topology.AUDIT.name)
    await writer.start()
    try:

        async def archived() -> bool:
            await gauges.refresh()
            return gauges.last_values[topology.AUDIT.name][0] == 0

        await wait_for(archived, what="the audit stream archived")
        await gauges.refresh()
    finally:
        await writer.stop()

    left = await redis.xlen(topology.AUDIT.name)
    assert unarchived == 300
    assert KEPT <= left < 300  # whole macro nodes go: about the count, never below it
