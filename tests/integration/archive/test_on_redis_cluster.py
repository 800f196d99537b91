"""The archive writer on a real Redis Cluster (`tests.redis_cluster`): it reads every stream of
two accounts and the desk, whose slots differ, without a command across slots; dead-letters
a poison entry; and its gauges see the backlog drain."""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path

import pytest
import redis.asyncio as aioredis
from prometheus_client import CollectorRegistry

from libs.common import topology
from libs.common.bus import Bus, EnvelopeCodec, ensure_groups
from libs.common.domain.ids import ClientOrderId, Symbol
from libs.common.messages import Envelope, OperatorAction, OrderSubmitted
from libs.common.metrics import EngineMetrics
from libs.common.redis_connect import redis_from_url
from services.archive.settings import ArchiveSettings
from services.archive.store import DirectoryObjectStore
from services.archive.writer import ArchiveWriter, BacklogGauges
from tests.e2e.harness import wait_for
from tests.integration.archive.conftest import ACCOUNTS

pytestmark = pytest.mark.integration


@pytest.fixture
async def cluster(redis_cluster_url: str) -> AsyncIterator[aioredis.Redis]:
    client = redis_from_url(redis_cluster_url)
    try:
        yield client
    finally:
        await client.aclose()


async def test_the_writer_archives_every_accounts_streams_on_a_cluster(
    cluster: aioredis.Redis, tmp_path: Path
) -> None:
    await ensure_groups(cluster, topology.consumed(ACCOUNTS))
    bus = Bus(cluster, EnvelopeCodec())
    for account in ACCOUNTS:
        submitted = OrderSubmitted(
            account=account,
            client_order_id=ClientOrderId(f"mm-{account}"),
            symbol=Symbol("BTCUSDT"),
            ts_event_ns=1,
        )
        await bus.publish(topology.ORDERS_EVENTS.of(account), Envelope.wrap(submitted))
    await bus.publish(topology.AUDIT, Envelope.wrap(OperatorAction(action="drill", actor="ops")))
    await cluster.xadd(topology.AUDIT.name, {"__data__": "not json"})
    settings = ArchiveSettings(dir=tmp_path, flush_interval_s=0.1, MMX_ACCOUNTS=",".join(ACCOUNTS))
    metrics = EngineMetrics(CollectorRegistry())
    writer = ArchiveWriter(
        cluster, DirectoryObjectStore(tmp_path), settings=settings, metrics=metrics, consumer="a-c"
    )
    gauges = BacklogGauges(cluster, metrics, writer, keep_s=0)
    await writer.start()
    try:

        async def drained() -> bool:
            await gauges.refresh()
            return writer.stats.archived == 3 and all(
                backlog == 0 for backlog, _ in gauges.last_values.values()
            )

        await wait_for(drained, what="every stream archived", timeout_s=10)
    finally:
        await writer.stop()

    assert set(gauges.last_values) == {s.name for s in writer.streams}
    assert writer.stats.dead_lettered == 1
    assert await cluster.xlen(topology.AUDIT.dlq.name) == 1
