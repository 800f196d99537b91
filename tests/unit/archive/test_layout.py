"""The archive's layout: partitions by hour, objects and their manifests, checksums, the
order events come back in and the dedupe of repeated event ids, under the streams' names and
under the plain names of objects written before accounts had streams of their own."""

from __future__ import annotations

import gzip
import hashlib
from datetime import UTC, datetime
from decimal import Decimal

import pytest

from libs.common import topology
from libs.common.domain.enums import Side
from libs.common.domain.ids import (
    DEFAULT_ACCOUNT,
    AccountId,
    ClientOrderId,
    ExecId,
    Symbol,
    VenueOrderId,
)
from libs.common.messages import Envelope, OperatorAction, OrderFilled, OrderSubmitted
from services.archive.cloudwatch import EVENT_OVERHEAD, MAX_BYTES, MAX_EVENTS, batches
from services.archive.layout import (
    HOUR_MS,
    ArchiveCorrupt,
    ArchivedEvent,
    Partition,
    build_object,
    by_partition,
    dedupe,
    manifest_key,
    parse_manifest,
    partitions_between,
    read_object,
    stream_family,
)

T0 = int(datetime(2024, 5, 1, 12, 0, tzinfo=UTC).timestamp() * 1000)
EVENTS = topology.ORDERS_EVENTS.of(DEFAULT_ACCOUNT).name
APPROVED = topology.ORDERS_APPROVED.of(DEFAULT_ACCOUNT).name


def submitted(
    cid: str, ms: int, seq: int = 0, *, event_id: str | None = None, stream: str = EVENTS
) -> ArchivedEvent:
    message = OrderSubmitted(
        client_order_id=ClientOrderId(cid), symbol=Symbol("BTCUSDT"), ts_event_ns=ms * 1_000_000
    )
    envelope = Envelope.wrap(message, ts_ns=ms * 1_000_000, event_id=event_id)  # type: ignore[arg-type]
    return ArchivedEvent(stream=stream, entry_id=f"{ms}-{seq}", envelope=envelope)


def operator_action(ms: int) -> ArchivedEvent:
    envelope = Envelope.wrap(OperatorAction(action="cancel_all", actor="alice"))
    return ArchivedEvent(stream="audit", entry_id=f"{ms}-0", envelope=envelope)


def test_an_hour_partition_is_its_utc_date_and_hour_under_the_prefix() -> None:
    partition = Partition.of(T0 + 59 * 60_000)

    assert partition == Partition(T0)
    assert partition.path("mmx/audit") == "mmx/audit/date=2024-05-01/hour=12/"
    assert partition.path("") == "date=2024-05-01/hour=12/"
    assert partition.next().path("p/") == "p/date=2024-05-01/hour=13/"


def test_a_window_covers_every_hour_it_touches_and_no_other() -> None:
    hours = partitions_between(T0 + 30 * 60_000, T0 + 2 * HOUR_MS + 1)

    assert [p.start_ms for p in hours] == [T0, T0 + HOUR_MS, T0 + 2 * HOUR_MS]
    assert partitions_between(T0, T0) == [Partition(T0)]


def test_a_batch_splits_into_one_object_per_hour_each_in_entry_order() -> None:
    late, early, next_hour = (
        submitted("a", T0 + 5),
        submitted("b", T0 + 1),
        submitted("c", T0 + HOUR_MS),
    )

    split = by_partition([late, next_hour, early])

    assert [(p.start_ms, [e.entry_id for e in events]) for p, events in split] == [
        (T0, [early.entry_id, late.entry_id]),
        (T0 + HOUR_MS, [next_hour.entry_id]),
    ]


def test_an_object_is_gzip_ndjson_of_the_events_and_its_manifest_vouches_for_it() -> None:
    events = [submitted("mm-1", T0 + 1), operator_action(T0 + 2), submitted("mm-2", T0 + 3, 4)]

    obj = build_object(events, prefix="mmx/audit", writer="archive-1", seq=7, written_ms=T0 + 9)

    assert obj.key == f"mmx/audit/date=2024-05-01/hour=12/{T0 + 1:013d}-archive-1-000007.ndjson.gz"
    lines = gzip.decompress(obj.body).splitlines()
    assert [ArchivedEvent.from_line(line) for line in lines] == events
    manifest = obj.manifest
    assert manifest.key == manifest_key(obj.key) == obj.key.replace(".ndjson.gz", ".manifest.json")
    assert manifest.sha256 == hashlib.sha256(obj.body).hexdigest()
    assert (manifest.count, manifest.bytes) == (3, len(obj.body))
    assert (manifest.first_ms, manifest.last_ms) == (T0 + 1, T0 + 3)
    assert manifest.first_event_id == events[0].envelope.event_id
    assert manifest.last_event_id == events[-1].envelope.event_id
    assert manifest.client_order_ids == ["mm-1", "mm-2"]
    assert manifest.types == {"OrderSubmitted": 2, "OperatorAction": 1}
    assert manifest.streams[EVENTS].model_dump() == {
        "count": 2,
        "first_entry_id": f"{T0 + 1}-0",
        "last_entry_id": f"{T0 + 3}-4",
    }
    assert parse_manifest(manifest.key, obj.manifest_json()) == manifest
    below = parse_manifest(
        "date=2024-05-01/hour=12/" + manifest.key.rsplit("/", 1)[1], obj.manifest_json()
    )
    assert below.object_key == obj.key.removeprefix("mmx/audit/")  # read from below the prefix
    assert read_object(manifest, obj.body) == events


def test_the_same_events_give_the_same_bytes_so_a_retried_write_is_identical() -> None:
    events = [submitted("mm-1", T0 + 1)]

    first = build_object(events, prefix="p", writer="w", seq=1, written_ms=1)
    again = build_object(events, prefix="p", writer="w", seq=1, written_ms=1)

    assert first.body == again.body and first.manifest == again.manifest


def test_an_object_that_does_not_match_its_manifest_is_refused() -> None:
    obj = build_object([submitted("mm-1", T0)], prefix="p", writer="w", seq=1, written_ms=1)
    tampered = gzip.compress(gzip.decompress(obj.body).replace(b"mm-1", b"mm-9"), mtime=0)

    with pytest.raises(ArchiveCorrupt, match="checksum mismatch"):
        read_object(obj.manifest, tampered)
    with pytest.raises(ArchiveCorrupt, match="checksum mismatch"):
        read_object(obj.manifest, obj.body[:-1])


def test_a_manifest_stored_under_another_objects_name_is_refused() -> None:
    obj = build_object([submitted("mm-1", T0)], prefix="p", writer="w", seq=1, written_ms=1)

    with pytest.raises(ArchiveCorrupt, match="of another object"):
        parse_manifest("p/elsewhere.manifest.json", obj.manifest_json())
    with pytest.raises(ArchiveCorrupt, match="not a manifest"):
        parse_manifest(obj.manifest.key, b"{}")


def test_an_object_never_spans_two_hours() -> None:
    with pytest.raises(ValueError, match="different hours"):
        build_object(
            [submitted("a", T0), submitted("b", T0 + HOUR_MS)],
            prefix="p",
            writer="w",
            seq=1,
            written_ms=1,
        )


def test_dedupe_keeps_the_first_of_each_event_id_in_entry_order_across_calls() -> None:
    original = submitted("mm-1", T0 + 1, event_id="e" * 32)
    rewritten = original.model_copy()  # the same entry written again after a crash
    republished = submitted("mm-1", T0 + 9, event_id="e" * 32)  # same event, a later entry
    other = submitted("mm-2", T0 + 5)
    seen: set[tuple[str, str]] = set()

    kept = dedupe([republished, other, rewritten, original], seen)
    later = dedupe([submitted("mm-1", T0 + HOUR_MS, event_id="e" * 32)], seen)

    assert [e.entry_id for e in kept] == [original.entry_id, other.entry_id]
    assert later == []


def test_the_order_of_an_approval_is_found_inside_it_and_a_fill_of_no_order_has_none() -> None:
    fill = OrderFilled(
        client_order_id=None,
        venue_order_id=VenueOrderId("v1"),
        symbol=Symbol("BTCUSDT"),
        exec_id=ExecId("x1"),
        side=Side.BUY,
        qty=Decimal("0.001"),
        price=Decimal("60000"),
        fee=Decimal("0.01"),
        is_maker=True,
        ts_event_ns=1,
    )
    event = ArchivedEvent(stream=EVENTS, entry_id="1-0", envelope=Envelope.wrap(fill))

    assert event.client_order_id is None
    assert submitted("mm-7", T0).client_order_id == "mm-7"


def test_cloudwatch_batches_stay_within_the_count_and_size_and_keep_time_order() -> None:
    events = [submitted(f"o{i}", T0 + i) for i in range(MAX_EVENTS + 5)]

    sent = list(batches(list(reversed(events))))

    assert len(sent) > 1
    for batch in sent:
        assert len(batch) <= MAX_EVENTS
        assert sum(len(e["message"].encode()) + EVENT_OVERHEAD for e in batch) <= MAX_BYTES
    messages = [e["message"].encode() for b in sent for e in b]
    assert messages == [e.to_line() for e in events]
    assert [e["timestamp"] for b in sent for e in b] == [e.ms for e in events]


def test_cloudwatch_batches_never_span_more_than_a_day() -> None:
    events = [submitted("a", T0), submitted("b", T0 + 25 * HOUR_MS)]

    assert [len(b) for b in batches(events)] == [1, 1]


def test_dedupe_is_per_family_an_approval_keeps_its_commands_event_id() -> None:
    command = submitted("mm-1", T0, event_id="c" * 32)
    approval = ArchivedEvent(stream=APPROVED, entry_id=f"{T0}-0", envelope=command.envelope)

    assert dedupe([command, approval]) == [approval, command]  # approvals rank first


def test_a_stream_is_of_its_family_under_its_accounts_name_the_desks_or_a_plain_old_name() -> None:
    alpha = AccountId("alpha")
    for family in topology.ACCOUNT_STREAMS:
        assert stream_family(family.of(alpha).name) == family.suffix
        assert stream_family(family.suffix) == family.suffix  # written before accounts
    assert stream_family(topology.CONTROL.desk.name) == "control"
    assert stream_family(topology.AUDIT.name) == "audit"


def test_within_a_millisecond_families_keep_their_order_whatever_the_names() -> None:
    alpha = AccountId("alpha")
    action = operator_action(T0)
    control = ArchivedEvent(
        stream=topology.CONTROL.desk.name, entry_id=f"{T0}-0", envelope=action.envelope
    )
    old_events = submitted("mm-1", T0, 3, stream="orders.events")
    alphas = submitted("mm-2", T0, 1, stream=topology.ORDERS_EVENTS.of(alpha).name)
    old_approval = ArchivedEvent(
        stream="orders.approved", entry_id=f"{T0}-5", envelope=action.envelope
    )
    request = ArchivedEvent(
        stream=topology.ORDERS_REQUESTS.desk.name, entry_id=f"{T0}-9", envelope=action.envelope
    )

    ordered = sorted(
        [action, control, old_events, alphas, old_approval, request], key=lambda e: e.sort_key
    )

    assert ordered == [request, old_approval, alphas, old_events, control, action]


def test_dedupe_takes_an_event_under_its_plain_old_name_and_its_accounts_name_as_one() -> None:
    old = submitted("mm-1", T0, event_id="d" * 32, stream="orders.events")
    new = submitted("mm-1", T0 + 5, event_id="d" * 32)
    other_family = ArchivedEvent(
        stream="orders.approved", entry_id=f"{T0}-1", envelope=old.envelope
    )

    assert dedupe([new, old, other_family]) == [other_family, old]
