"""Reading the archive back: its manifests, the events of a time window, verified.

    reader = ArchiveReader(store, prefix)
    result = await reader.query(since_ms, until_ms, order="mm-1")
    for event in result.events: ...            # archive order, each event id once

Only the hour partitions of the window are listed, and only the objects whose manifest says
they hold what is asked for (time range, order, type) are read. Every object read is checked
against its manifest: one that does not match is reported in `corrupt` and left out.
"""

from __future__ import annotations

import asyncio
from collections.abc import Collection, Sequence
from dataclasses import dataclass, field
from itertools import groupby

from services.archive.layout import (
    MANIFEST_SUFFIX,
    OBJECT_SUFFIX,
    ArchiveCorrupt,
    ArchivedEvent,
    Manifest,
    Partition,
    dedupe,
    manifest_key,
    parse_manifest,
    partitions_between,
    read_object,
)
from services.archive.store import ObjectMissing, ObjectStore

_READ_CONCURRENCY = 8


@dataclass(slots=True)
class QueryResult:
    """What a query found: events in archive order, each event id once."""

    events: list[ArchivedEvent] = field(default_factory=list)
    objects: int = 0
    """Objects read."""
    duplicates: int = 0
    """Events dropped because their event id was seen before (at-least-once writes)."""
    corrupt: list[str] = field(default_factory=list)
    """Why each object that did not match its manifest was left out."""


@dataclass(frozen=True, slots=True)
class Listing:
    """The manifests of part of the archive, and the objects that have none."""

    manifests: list[Manifest]
    """In archive order (by first entry time, then key)."""
    orphans: list[str]
    """Objects without a manifest: half-finished writes, whose entries are in another object."""
    unreadable: list[str]
    """Manifests that could not be parsed (why)."""


class ArchiveReader:
    """The archive at `store` under `prefix`."""

    def __init__(self, store: ObjectStore, prefix: str) -> None:
        self.store = store
        self.prefix = prefix.strip("/")

    async def listing(self, partitions: Sequence[Partition] | None = None) -> Listing:
        """The manifests of `partitions` (of the whole archive when None)."""
        keys: list[str] = []
        if partitions is None:
            keys = await self.store.keys(f"{self.prefix}/" if self.prefix else "")
        else:
            for partition in partitions:
                keys += await self.store.keys(partition.path(self.prefix))
        manifest_keys = [k for k in keys if k.endswith(MANIFEST_SUFFIX)]
        described = set(manifest_keys)
        orphans = [
            k for k in keys if k.endswith(OBJECT_SUFFIX) and manifest_key(k) not in described
        ]
        manifests: list[Manifest] = []
        unreadable: list[str] = []
        for key, data in zip(manifest_keys, await self._get_all(manifest_keys), strict=True):
            try:
                manifests.append(parse_manifest(key, data))
            except ArchiveCorrupt as error:
                unreadable.append(str(error))
        manifests.sort(key=lambda m: (m.first_ms, m.object_key))
        return Listing(manifests, orphans, unreadable)

    async def read(self, manifest: Manifest) -> list[ArchivedEvent]:
        """The events of one object, verified (ArchiveCorrupt if it does not match)."""
        return read_object(manifest, await self.body(manifest))

    async def body(self, manifest: Manifest) -> bytes:
        """The bytes of the object `manifest` describes; ArchiveCorrupt when it is missing. A
        failure to reach the store raises as it is (the archive cannot be read)."""
        try:
            return await self.store.get(manifest.object_key)
        except ObjectMissing as error:
            raise ArchiveCorrupt(
                f"{manifest.object_key}: missing, though its manifest is there"
            ) from error

    async def query(
        self,
        since_ms: int,
        until_ms: int,
        *,
        order: str | None = None,
        types: Collection[str] = (),
    ) -> QueryResult:
        """The events with archive time in [since_ms, until_ms] (of `order`, of `types`)."""
        listing = await self.listing(partitions_between(since_ms, until_ms))
        wanted = [
            m
            for m in listing.manifests
            if m.overlaps(since_ms, until_ms)
            and (order is None or order in m.client_order_ids)
            and (not types or any(t in m.types for t in types))
        ]
        result = QueryResult(corrupt=list(listing.unreadable))
        seen: set[tuple[str, str]] = set()
        for _, hour in groupby(wanted, key=lambda m: Partition.of(m.first_ms)):
            found: list[ArchivedEvent] = []
            for manifest in hour:
                try:
                    events = await self.read(manifest)
                except ArchiveCorrupt as error:
                    result.corrupt.append(str(error))
                    continue
                result.objects += 1
                found += [
                    e
                    for e in events
                    if since_ms <= e.ms <= until_ms
                    and (order is None or e.client_order_id == order)
                    and (not types or e.envelope.type in types)
                ]
            kept = dedupe(found, seen)
            result.duplicates += len(found) - len(kept)
            result.events += kept
        return result

    async def _get_all(self, keys: Sequence[str]) -> list[bytes]:
        semaphore = asyncio.Semaphore(_READ_CONCURRENCY)

        async def get(key: str) -> bytes:
            async with semaphore:
                return await self.store.get(key)

        return list(await asyncio.gather(*(get(k) for k in keys)))
