"""The archive's layout: what one archived event is, where it goes, and the manifest that
vouches for each object.

    {prefix}/date=YYYY-MM-DD/hour=HH/{first_ms}-{writer}-{seq}.ndjson.gz     the events
    {prefix}/date=YYYY-MM-DD/hour=HH/{first_ms}-{writer}-{seq}.manifest.json its manifest

An object is newline-delimited JSON, gzip-compressed: one `ArchivedEvent` per line (the
stream, the entry id and the envelope as it travelled on the bus), in archive order. Archive
time is the time of the stream entry (the milliseconds of its id, Redis' clock): the
partition, the order of events and the query window all use it, so that a replay folds each
account's `orders.events` in the very order the live services did.

A line names its stream as Redis does: `mmx:{alpha}:orders.events` for an account's (or the
desk's) stream, `audit` for a desk-wide one. Objects written before accounts had streams of
their own name the family alone (`orders.events`, `control`): `stream_family` reads both
spellings as the same family, for the archive order and the dedupe.

The manifest is written after its object and is what readers trust: its `sha256` is the
hash of the gzip bytes as stored, its `count` the number of lines. An object without a
manifest is the leftover of a write that failed half-way; its entries were not acknowledged,
so they are in another object too. Nothing here talks to storage (`services.archive.store`).
"""

from __future__ import annotations

import gzip
import hashlib
import re
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Literal

import orjson
from pydantic import BaseModel, ConfigDict, Field

from libs.common import topology
from libs.common.messages import Envelope

FORMAT = "mmx-audit/1"
OBJECT_SUFFIX = ".ndjson.gz"
MANIFEST_SUFFIX = ".manifest.json"
HOUR_MS = 3_600_000

ENTRY_ID = r"^[0-9]+-[0-9]+$"
_ACCOUNT_STREAM = re.compile(rf"{re.escape(topology.KEY_PREFIX)}:\{{[^{{}}]+\}}:(.+)")
_FAMILY_RANK = {
    s.suffix if isinstance(s, topology.AccountStream) else s.name: rank
    for rank, s in enumerate(topology.CONSUMES[topology.Group.ARCHIVE])
}
_UNSAFE = re.compile(r"[^A-Za-z0-9._-]+")


def stream_family(stream: str) -> str:
    """The family of an archived stream name: an account's or the desk's stream
    (`mmx:{alpha}:orders.events`) is its suffix (`orders.events`); any other name, a
    desk-wide stream (`audit`) or the plain name of an object written before accounts had
    streams of their own (`orders.events`, `control`), is its own."""
    found = _ACCOUNT_STREAM.fullmatch(stream)
    return found.group(1) if found else stream


class ArchiveCorrupt(Exception):
    """An object does not match its manifest (checksum, size or count), or cannot be read."""


class ArchivedEvent(BaseModel):
    """One line of an archive object: a bus entry and where it was."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    stream: str
    entry_id: str = Field(pattern=ENTRY_ID)
    """The id of the entry on `stream`: `{ms}-{seq}`, Redis' clock."""
    envelope: Envelope

    @property
    def ms(self) -> int:
        """Archive time: the milliseconds of the entry id."""
        return int(self.entry_id.split("-", 1)[0])

    @property
    def sort_key(self) -> tuple[int, int, int, str]:
        """Archive order: by entry time; within one millisecond, family by family
        (orders.requests, orders.approved, orders.events, control, audit: `stream_family`),
        then by entry sequence, ties between streams broken by name. Each stream's own order
        is exact; across streams, to the millisecond."""
        ms, seq = self.entry_id.split("-", 1)
        rank = _FAMILY_RANK.get(stream_family(self.stream), len(_FAMILY_RANK))
        return int(ms), rank, int(seq), self.stream

    @property
    def client_order_id(self) -> str | None:
        """The order the event is about, if any (an approval names it inside its order)."""
        payload = self.envelope.payload
        found = payload.get("client_order_id")
        order = payload.get("order")
        if found is None and isinstance(order, dict):
            found = order.get("client_order_id")
        return found if isinstance(found, str) else None

    def to_line(self) -> bytes:
        """The NDJSON line (without its newline); the envelope exactly as `Envelope.to_json`."""
        return orjson.dumps(
            {
                "stream": self.stream,
                "entry_id": self.entry_id,
                "envelope": orjson.Fragment(self.envelope.to_json()),
            }
        )

    @classmethod
    def from_line(cls, line: bytes) -> ArchivedEvent:
        return cls.model_validate_json(line)


@dataclass(frozen=True, order=True, slots=True)
class Partition:
    """One hour of the archive (UTC), by archive time."""

    start_ms: int

    @classmethod
    def of(cls, ms: int) -> Partition:
        return cls(ms - ms % HOUR_MS)

    @property
    def start(self) -> datetime:
        return datetime.fromtimestamp(self.start_ms / 1000, tz=UTC)

    def path(self, prefix: str) -> str:
        """`{prefix}/date=YYYY-MM-DD/hour=HH/` (no leading slash without a prefix)."""
        start = self.start
        return f"{_with_slash(prefix)}date={start:%Y-%m-%d}/hour={start:%H}/"

    def next(self) -> Partition:
        return Partition(self.start_ms + HOUR_MS)


def partitions_between(since_ms: int, until_ms: int) -> list[Partition]:
    """Every hour partition that holds events of [since_ms, until_ms]."""
    found, partition, last = [], Partition.of(since_ms), Partition.of(until_ms)
    while partition <= last:
        found.append(partition)
        partition = partition.next()
    return found


class StreamRange(BaseModel):
    """The entries of one stream in an object."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    count: int = Field(ge=1)
    first_entry_id: str = Field(pattern=ENTRY_ID)
    last_entry_id: str = Field(pattern=ENTRY_ID)


class Manifest(BaseModel):
    """What an object holds and how to check it; written beside it, after it."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    format: Literal["mmx-audit/1"] = "mmx-audit/1"
    object_key: str
    count: int = Field(ge=1)
    """Lines (events) in the object."""
    bytes: int = Field(ge=1)
    """Size of the object as stored (gzip)."""
    sha256: str = Field(pattern=r"^[0-9a-f]{64}$")
    """SHA-256 of the object as stored (the gzip bytes), hex."""
    first_ms: int = Field(ge=0)
    last_ms: int = Field(ge=0)
    first_event_id: str
    last_event_id: str
    """The event ids of the first and last line, in archive order."""
    streams: dict[str, StreamRange]
    types: dict[str, int]
    """Lines per message type."""
    client_order_ids: list[str]
    """Every order the object has an event of, sorted: a query by order reads only these."""
    writer: str
    """The archive instance that wrote it."""
    written_ms: int = Field(ge=0)

    @property
    def key(self) -> str:
        return manifest_key(self.object_key)

    def overlaps(self, since_ms: int, until_ms: int) -> bool:
        return self.first_ms <= until_ms and self.last_ms >= since_ms


@dataclass(frozen=True, slots=True)
class ArchiveObject:
    """An object ready to store: its key, its gzip bytes and its manifest."""

    key: str
    body: bytes
    manifest: Manifest

    def manifest_json(self) -> bytes:
        return orjson.dumps(self.manifest.model_dump(mode="json"), option=orjson.OPT_INDENT_2)


def safe_name(text: str) -> str:
    """`text` with every character an object key should not hold replaced by `-`."""
    return _UNSAFE.sub("-", text).strip("-") or "archive"


def object_key(prefix: str, first_ms: int, writer: str, seq: int) -> str:
    name = f"{first_ms:013d}-{safe_name(writer)}-{seq:06d}{OBJECT_SUFFIX}"
    return Partition.of(first_ms).path(prefix) + name


def manifest_key(key: str) -> str:
    """The manifest's key of the object `key`."""
    return key.removesuffix(OBJECT_SUFFIX) + MANIFEST_SUFFIX


def object_key_of_manifest(key: str) -> str:
    return key.removesuffix(MANIFEST_SUFFIX) + OBJECT_SUFFIX


def by_partition(events: Iterable[ArchivedEvent]) -> list[tuple[Partition, list[ArchivedEvent]]]:
    """`events` split by hour, each hour in archive order, hours in order."""
    split: dict[Partition, list[ArchivedEvent]] = {}
    for event in events:
        split.setdefault(Partition.of(event.ms), []).append(event)
    return [(p, sorted(split[p], key=lambda e: e.sort_key)) for p in sorted(split)]


def build_object(
    events: Sequence[ArchivedEvent], *, prefix: str, writer: str, seq: int, written_ms: int
) -> ArchiveObject:
    """The object of `events` (one partition, in archive order) and its manifest. The gzip
    header carries no time, so the same events give the same bytes and the same checksum."""
    if not events:
        raise ValueError("an archive object needs at least one event")
    first, last = events[0], events[-1]
    if Partition.of(first.ms) != Partition.of(last.ms):
        raise ValueError(f"events {first.entry_id} and {last.entry_id} are in different hours")
    body = gzip.compress(b"".join(e.to_line() + b"\n" for e in events), mtime=0)
    streams: dict[str, list[str]] = {}
    types: dict[str, int] = {}
    orders: set[str] = set()
    for event in events:
        streams.setdefault(event.stream, []).append(event.entry_id)
        types[event.envelope.type] = types.get(event.envelope.type, 0) + 1
        if (order := event.client_order_id) is not None:
            orders.add(order)
    key = object_key(prefix, first.ms, writer, seq)
    manifest = Manifest(
        object_key=key,
        count=len(events),
        bytes=len(body),
        sha256=hashlib.sha256(body).hexdigest(),
        first_ms=first.ms,
        last_ms=last.ms,
        first_event_id=first.envelope.event_id,
        last_event_id=last.envelope.event_id,
        streams={
            name: StreamRange(count=len(ids), first_entry_id=ids[0], last_entry_id=ids[-1])
            for name, ids in streams.items()
        },
        types=types,
        client_order_ids=sorted(orders),
        writer=writer,
        written_ms=written_ms,
    )
    return ArchiveObject(key, body, manifest)


def parse_manifest(key: str, data: bytes) -> Manifest:
    """The manifest found at `key`, its `object_key` made the key of the object beside it
    (the archive may be read from below the prefix it was written with: a directory, or
    `s3://bucket/prefix`). ArchiveCorrupt if it is not a manifest, or names another object."""
    try:
        manifest = Manifest.model_validate_json(data)
    except ValueError as error:
        raise ArchiveCorrupt(f"{key}: not a manifest of {FORMAT}: {error}") from error
    if manifest.key != key and not manifest.key.endswith(f"/{key}"):
        raise ArchiveCorrupt(f"{key}: the manifest is of another object, {manifest.object_key}")
    return manifest.model_copy(update={"object_key": object_key_of_manifest(key)})


def verify(manifest: Manifest, body: bytes) -> None:
    """Raise ArchiveCorrupt unless `body` is the object `manifest` describes (size, hash)."""
    digest = hashlib.sha256(body).hexdigest()
    if len(body) != manifest.bytes or digest != manifest.sha256:
        raise ArchiveCorrupt(
            f"{manifest.object_key}: checksum mismatch: the manifest says {manifest.bytes} "
            f"bytes with sha256 {manifest.sha256}, the object has {len(body)} bytes with "
            f"sha256 {digest}"
        )


def read_object(manifest: Manifest, body: bytes) -> list[ArchivedEvent]:
    """The events of an object, verified against its manifest (ArchiveCorrupt if not)."""
    verify(manifest, body)
    try:
        lines = gzip.decompress(body).splitlines()
        events = [ArchivedEvent.from_line(line) for line in lines if line]
    except (OSError, EOFError, ValueError) as error:
        raise ArchiveCorrupt(f"{manifest.object_key}: unreadable: {error}") from error
    if len(events) != manifest.count:
        raise ArchiveCorrupt(
            f"{manifest.object_key}: {len(events)} events, the manifest says {manifest.count}"
        )
    return events


def dedupe(
    events: Iterable[ArchivedEvent], seen: set[tuple[str, str]] | None = None
) -> list[ArchivedEvent]:
    """`events` in archive order, each event id once per family of streams (the first in
    archive order wins); `seen` carries the (family, event id) pairs across calls. Per
    family, because an event id is unique within one (a message goes on one stream of its
    family: its account's or the desk's), not across families: risk publishes a command's
    approval under the command's own event id. And per family rather than per stream name,
    so that an event archived under a plain name (`orders.events`) and again under its
    account's stream (renamed with entries the archive had not acknowledged) is one."""
    seen = set() if seen is None else seen
    kept: list[ArchivedEvent] = []
    for event in sorted(events, key=lambda e: e.sort_key):
        key = (stream_family(event.stream), event.envelope.event_id)
        if key not in seen:
            seen.add(key)
            kept.append(event)
    return kept


def _with_slash(prefix: str) -> str:
    prefix = prefix.strip("/")
    return f"{prefix}/" if prefix else ""
