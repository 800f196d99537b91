"""The archive's optional second destination: CloudWatch Logs, one log event per archived
event (the same JSON line as in S3), in a log stream of the instance's own.

CloudWatch takes at most 10,000 events and 1 MiB per call, in time order, within 24 hours;
batches are cut to fit. It refuses events older than 14 days (or the group's retention) for
good: those are logged and skipped, since S3 holds them. The log group must exist; the log
stream is created on the first write.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Iterator, Sequence
from typing import Any

from services.archive.layout import ArchivedEvent
from services.archive.store import aws_client

log = logging.getLogger(__name__)

MAX_EVENTS = 10_000
MAX_BYTES = 1_048_576
EVENT_OVERHEAD = 26
"""Bytes CloudWatch counts per event besides its message."""
MAX_SPAN_MS = 24 * 3_600_000 - 1
MAX_MESSAGE_BYTES = 256 * 1024 - EVENT_OVERHEAD


class CloudWatchLogsSink:
    """Puts archived events into `log_group`/`log_stream`."""

    def __init__(
        self,
        log_group: str,
        log_stream: str,
        *,
        region: str | None = None,
        endpoint_url: str | None = None,
        session: Any = None,
    ) -> None:
        self.log_group = log_group
        self.log_stream = log_stream
        self._client = aws_client("logs", region, endpoint_url, session)
        self._stream_ready = False

    async def put(self, events: Sequence[ArchivedEvent]) -> None:
        """Send `events` (archive order); raise if CloudWatch cannot be reached."""
        await asyncio.to_thread(self._put, events)

    def _put(self, events: Sequence[ArchivedEvent]) -> None:
        if not self._stream_ready:
            self._create_stream()
        for batch in batches(events):
            reply = self._client.put_log_events(
                logGroupName=self.log_group, logStreamName=self.log_stream, logEvents=batch
            )
            if rejected := reply.get("rejectedLogEventsInfo"):
                log.warning(
                    "CloudWatch Logs refused some of %d events (%s): kept in S3 only",
                    len(batch),
                    rejected,
                )

    def _create_stream(self) -> None:
        with contextlib.suppress(self._client.exceptions.ResourceAlreadyExistsException):
            self._client.create_log_stream(
                logGroupName=self.log_group, logStreamName=self.log_stream
            )
        self._stream_ready = True

    async def close(self) -> None:
        self._client.close()


def batches(events: Sequence[ArchivedEvent]) -> Iterator[list[dict[str, Any]]]:
    """`events` as PutLogEvents batches: in time order, each within the count, size and
    24-hour limits. A line too long for one log event is cut (S3 has it whole)."""
    batch: list[dict[str, Any]] = []
    size = 0
    for event in sorted(events, key=lambda e: e.sort_key):
        message = event.to_line().decode()
        if len(message.encode()) > MAX_MESSAGE_BYTES:
            message = message.encode()[:MAX_MESSAGE_BYTES].decode(errors="ignore")
        cost = len(message.encode()) + EVENT_OVERHEAD
        full = len(batch) >= MAX_EVENTS or size + cost > MAX_BYTES
        if batch and (full or event.ms - batch[0]["timestamp"] > MAX_SPAN_MS):
            yield batch
            batch, size = [], 0
        batch.append({"timestamp": event.ms, "message": message})
        size += cost
    if batch:
        yield batch
