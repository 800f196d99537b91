"""The archive service: the audit trail, from the streams that carry it to S3.

each account's orders.requests, orders.approved, orders.events, control; the desk's
orders.requests, control; audit (group archive; `MMX_ACCOUNTS` says which accounts)
    ──▶ ArchiveWriter ──▶ s3://{bucket}/{prefix}/date=/hour=/*.ndjson.gz + manifests
                      └─▶ CloudWatch Logs (MMX_ARCHIVE_LOG_GROUP, optional)
every stream_health_interval_s ──▶ BacklogGauges (audit_archive_backlog, ..._oldest_...;
                                   then the trim of what every group acknowledged)
"""

from __future__ import annotations

from dataclasses import dataclass

from fastapi import FastAPI

from libs.common.batching import Periodic
from libs.common.service import ServiceRuntime, service_app, stalled
from services.archive.cloudwatch import CloudWatchLogsSink
from services.archive.layout import safe_name
from services.archive.settings import ArchiveSettings
from services.archive.store import ObjectStore, open_store
from services.archive.writer import ArchiveWriter, BacklogGauges, consumer_name

STATE_KEY = "archive"


def create_app(settings: ArchiveSettings) -> FastAPI:
    """Build the archive app; nothing connects until its lifespan starts."""

    async def build(runtime: ServiceRuntime) -> None:
        _wire(runtime, settings)

    return service_app("archive", settings, build=build)


def _wire(runtime: ServiceRuntime, settings: ArchiveSettings) -> None:
    consumer = consumer_name(settings.instance)
    store = open_store(
        settings.location, region=settings.region, endpoint_url=settings.endpoint_url
    )
    logs = None
    if settings.log_group is not None:
        logs = CloudWatchLogsSink(
            settings.log_group,
            safe_name(consumer),
            region=settings.region,
            endpoint_url=settings.endpoint_url,
        )
    writer = ArchiveWriter(
        runtime.redis,
        store,
        settings=settings,
        metrics=runtime.metrics,
        consumer=consumer,
        logs=logs,
    )
    gauges = BacklogGauges(runtime.redis, runtime.metrics, writer, keep_s=settings.stream_keep_s)
    backlog = Periodic("archive-backlog", settings.stream_health_interval_s, gauges.refresh)
    runtime.add_runner(_Closing(store, logs))
    runtime.add_runner(writer)
    runtime.add_runner(backlog)
    limit = settings.stall_after_s
    runtime.add_check("archive", stalled(lambda: writer.last_poll, limit))
    runtime.add_check("backlog gauges", stalled(lambda: backlog.last_progress, limit))
    runtime.state[STATE_KEY] = ArchiveParts(writer, gauges, store)


@dataclass(frozen=True, slots=True)
class ArchiveParts:
    """The running parts, for tests and introspection (`runtime.state[STATE_KEY]`)."""

    writer: ArchiveWriter
    gauges: BacklogGauges
    store: ObjectStore


@dataclass(frozen=True, slots=True)
class _Closing:
    """Closes the store's and the log sink's clients when the service stops (started first,
    so stopped last: after the writer's last write)."""

    store: ObjectStore
    logs: CloudWatchLogsSink | None

    async def start(self) -> None:
        return None

    async def stop(self) -> None:
        await self.store.close()
        if self.logs is not None:
            await self.logs.close()
