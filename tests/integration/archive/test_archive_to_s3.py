"""The archive writer against a real Redis and moto's S3 and CloudWatch Logs over HTTP:
every entry of the audit trail goes out, in objects with manifests; `mmx audit query` reads
it back; an S3 outage loses nothing, shows in the backlog and ends with every event archived
(once, after dedupe); a dead instance's entries are taken over; a poison entry is
dead-lettered like in every group."""

from __future__ import annotations

import asyncio
import gzip
import hashlib
import json
import time
from collections.abc import Sequence
from decimal import Decimal
from typing import Any

import pytest
import redis.asyncio as aioredis

from libs.common import topology
from libs.common.bus import Bus, EnvelopeCodec
from libs.common.domain.enums import OrderType, Side
from libs.common.domain.ids import (
    DEFAULT_ACCOUNT,
    AccountId,
    ClientOrderId,
    ExecId,
    Symbol,
    VenueOrderId,
)
from libs.common.domain.risk_checks import RiskLimits, TradingState
from libs.common.messages import (
    Envelope,
    FreezeTrading,
    OperatorAction,
    OrderAcknowledged,
    OrderApproved,
    OrderFilled,
    PlaceOrder,
    SetRiskLimits,
    TradingStateChanged,
)
from services.cli import main
from tests.e2e.harness import wait_for
from tests.integration.archive.conftest import (
    ACCOUNTS,
    ARCHIVED,
    BUCKET,
    PREFIX,
    Gate,
    Moto,
    Writers,
)

pytestmark = pytest.mark.integration

GROUP = str(topology.Group.ARCHIVE)


def place(cid: str, account: AccountId) -> PlaceOrder:
    return PlaceOrder(
        account=account,
        client_order_id=ClientOrderId(cid),
        symbol=Symbol("BTCUSDT"),
        side=Side.BUY,
        order_type=OrderType.LIMIT,
        qty=Decimal("0.001"),
        price=Decimal("60000"),
    )


def trail(cid: str, account: AccountId = DEFAULT_ACCOUNT) -> list[tuple[topology.Stream, Envelope]]:
    """One order of `account`'s whole trail over every archived family (its account's
    streams), plus a desk freeze, an account freeze, a limit change and an operator action."""
    order = place(cid, account)
    ids = {"client_order_id": ClientOrderId(cid), "symbol": Symbol("BTCUSDT")}
    fill = OrderFilled(
        account=account,
        **ids,
        venue_order_id=VenueOrderId(f"v-{cid}"),
        exec_id=ExecId(f"x-{cid}"),
        side=Side.BUY,
        qty=Decimal("0.001"),
        price=Decimal("60000"),
        fee=Decimal("0.012"),
        is_maker=True,
        ts_event_ns=time.time_ns(),
    )
    acknowledged = OrderAcknowledged(
        account=account, **ids, venue_order_id=VenueOrderId(f"v-{cid}"), ts_event_ns=time.time_ns()
    )
    frozen = TradingStateChanged(state=TradingState.FROZEN, reason="test", actor="alice", epoch=1)
    return [
        (topology.ORDERS_REQUESTS.of(account), Envelope.wrap(order)),
        (topology.ORDERS_APPROVED.of(account), Envelope.wrap(OrderApproved(order=order))),
        (topology.ORDERS_EVENTS.of(account), Envelope.wrap(acknowledged)),
        (topology.ORDERS_EVENTS.of(account), Envelope.wrap(fill)),
        (topology.AUDIT, Envelope.wrap(FreezeTrading(reason="test", actor="alice"))),
        (topology.CONTROL.desk, Envelope.wrap(frozen)),
        (
            topology.CONTROL.of(account),
            Envelope.wrap(frozen.model_copy(update={"account": account})),
        ),
        (
            topology.AUDIT,
            Envelope.wrap(SetRiskLimits(limits=RiskLimits(), actor="alice", reason="test")),
        ),
        (topology.AUDIT, Envelope.wrap(OperatorAction(action="cancel_all", actor="alice"))),
    ]


async def publish(
    redis: aioredis.Redis, entries: Sequence[tuple[topology.Stream, Envelope]]
) -> None:
    bus = Bus(redis, EnvelopeCodec())
    for stream, envelope in entries:
        await bus.publish(stream, envelope)


async def unarchived(redis: aioredis.Redis) -> int:
    """Entries of the trail the archive group has not acknowledged (lag + pending)."""
    total = 0
    for stream in ARCHIVED:
        for info in await redis.xinfo_groups(stream.name):
            if info["name"].decode() == GROUP:
                total += int(info["lag"] or 0) + int(info["pending"])
    return total


def stored(moto: Moto) -> dict[str, bytes]:
    s3 = moto.client("s3")
    listed = s3.list_objects_v2(Bucket=BUCKET, Prefix=PREFIX).get("Contents", [])
    return {o["Key"]: s3.get_object(Bucket=BUCKET, Key=o["Key"])["Body"].read() for o in listed}


async def query(
    capsys: pytest.CaptureFixture[str], moto: Moto, *args: str
) -> tuple[int, list[dict[str, Any]]]:
    """`mmx audit query` (in a thread: it runs its own event loop) and what it printed."""
    code = await asyncio.to_thread(
        main,
        ["audit", "query", "--from", f"s3://{BUCKET}/{PREFIX}", "--endpoint-url", moto.url,
         "--region", "us-east-1", *args],
    )  # fmt: skip
    out = capsys.readouterr().out
    return code, [json.loads(line) for line in out.splitlines()]


async def test_every_stream_of_the_trail_goes_to_s3_with_manifests_and_query_reads_it_back(
    redis: aioredis.Redis, moto: Moto, writers: Writers, capsys: pytest.CaptureFixture[str]
) -> None:
    sent = trail("mm-1") + trail("mm-2", ACCOUNTS[1])
    since = time.time_ns() // 1_000_000
    writer, _ = await writers.start("archive-a")

    await publish(redis, sent)
    await wait_for(lambda: _zero(unarchived(redis)), what="every entry archived", timeout_s=10)

    objects = stored(moto)
    data = {k: v for k, v in objects.items() if k.endswith(".ndjson.gz")}
    manifests = {k: json.loads(v) for k, v in objects.items() if k.endswith(".manifest.json")}
    assert data and len(manifests) == len(data)
    for key, body in data.items():
        manifest = manifests[key.replace(".ndjson.gz", ".manifest.json")]
        assert manifest["sha256"] == hashlib.sha256(body).hexdigest()
        assert manifest["count"] == len(gzip.decompress(body).splitlines())
        assert "/date=" in key and "/hour=" in key and "archive-a" in key
    archived = [json.loads(line) for b in data.values() for line in gzip.decompress(b).splitlines()]
    assert sorted(a["envelope"]["event_id"] for a in archived) == sorted(
        e.event_id for _, e in sent
    )
    assert {a["stream"] for a in archived} == {s.name for s, _ in sent}

    code, events = await query(capsys, moto, "--since", str(since - 1000))
    assert code == 0
    assert sorted(e["envelope"]["event_id"] for e in events) == sorted(e.event_id for _, e in sent)
    for stream in ARCHIVED:  # each stream in its own order
        assert [e["envelope"]["event_id"] for e in events if e["stream"] == stream.name] == [
            e.event_id for s, e in sent if s == stream
        ]
    assert [e["entry_id"] for e in events] == sorted(
        (e["entry_id"] for e in events), key=lambda i: int(i.split("-")[0])
    )
    assert events[0]["envelope"] == json.loads(sent[0][1].to_json())

    code, of_order = await query(capsys, moto, "--since", "5m", "--order", "mm-2")
    assert {e["envelope"]["type"] for e in of_order} == {
        "PlaceOrder", "OrderApproved", "OrderAcknowledged", "OrderFilled"
    }  # fmt: skip
    assert all("mm-2" in json.dumps(e) for e in of_order)
    code, fills = await query(capsys, moto, "--since", "5m", "--type", "OrderFilled")
    assert [e["envelope"]["payload"]["exec_id"] for e in fills] == ["x-mm-1", "x-mm-2"]
    code, none = await query(capsys, moto, "--since", "2h", "--until", "1h")
    assert none == []
    assert writer.stats.failed_writes == 0


async def test_cloudwatch_logs_gets_every_event_too(
    redis: aioredis.Redis, moto: Moto, writers: Writers
) -> None:
    logs = moto.client("logs")
    logs.create_log_group(logGroupName="mmx-audit")
    sent = trail("mm-3")
    await writers.start("archive-cw", log_group="mmx-audit")

    await publish(redis, sent)
    await wait_for(lambda: _zero(unarchived(redis)), what="every entry archived", timeout_s=10)

    got = logs.get_log_events(logGroupName="mmx-audit", logStreamName="archive-cw")["events"]
    lines = [json.loads(e["message"]) for e in got]
    assert sorted(line["envelope"]["event_id"] for line in lines) == sorted(
        e.event_id for _, e in sent
    )
    assert [e["timestamp"] for e in got] == [int(line["entry_id"].split("-")[0]) for line in lines]


async def test_an_s3_outage_loses_nothing_shows_a_backlog_and_everything_is_archived_once(
    redis: aioredis.Redis,
    moto: Moto,
    gate: Gate,
    writers: Writers,
    capsys: pytest.CaptureFixture[str],
) -> None:
    since = time.time_ns() // 1_000_000 - 1000
    writer, gauges = await writers.start("archive-o", endpoint_url=gate.url)
    before = trail("mm-4")
    await publish(redis, before)
    await wait_for(lambda: _zero(unarchived(redis)), what="archived before the outage")

    await gate.close()
    during = trail("mm-5") + trail("mm-6")
    await publish(redis, during)

    async def failing_with_a_backlog() -> bool:
        await gauges.refresh()
        backlog = sum(b for b, _ in gauges.last_values.values())
        return writer.stats.failed_writes >= 2 and backlog == len(during)

    await wait_for(failing_with_a_backlog, what="failed writes and a backlog", timeout_s=15)
    pending = await redis.xpending(topology.ORDERS_EVENTS.of(DEFAULT_ACCOUNT).name, GROUP)
    assert pending["pending"] == 4, "read, held, not acknowledged"
    await gauges.refresh()
    oldest = max(age for _, age in gauges.last_values.values())
    assert oldest > 0
    metric = gauges.metrics.registry.get_sample_value
    assert metric("audit_archive_backlog", {"stream": "audit"}) == 6
    assert metric("audit_archive_oldest_unarchived_seconds", {"stream": "audit"}) > 0
    assert metric("audit_archive_writes_total", {"outcome": "failed"}) >= 2
    for stream in ARCHIVED:
        assert await redis.xlen(stream.dlq.name) == 0, "an outage dead-letters nothing"

    await gate.open()
    await wait_for(lambda: _zero(unarchived(redis)), what="the backlog archived", timeout_s=15)
    await gauges.refresh()
    assert all(backlog == 0 and age == 0 for backlog, age in gauges.last_values.values())

    code, events = await query(capsys, moto, "--since", str(since))
    ids = [e["envelope"]["event_id"] for e in events]
    assert code == 0
    assert sorted(ids) == sorted(e.event_id for _, e in before + during)
    assert len(ids) == len(set(ids))


async def test_entries_written_twice_come_back_once(
    redis: aioredis.Redis, moto: Moto, writers: Writers, capsys: pytest.CaptureFixture[str]
) -> None:
    since = time.time_ns() // 1_000_000 - 1000
    sent = trail("mm-7")
    await writers.start("archive-1")
    await publish(redis, sent)
    await wait_for(lambda: _zero(unarchived(redis)), what="archived once")
    # As after a crash between a write and its acknowledgement: everything comes again.
    for stream in ARCHIVED:
        await redis.xgroup_setid(stream.name, GROUP, "0")
    await wait_for(lambda: _zero(unarchived(redis)), what="archived twice")

    archived = [
        line
        for key, body in stored(moto).items()
        if key.endswith(".ndjson.gz")
        for line in gzip.decompress(body).splitlines()
    ]
    code, events = await query(capsys, moto, "--since", str(since))

    assert len(archived) == 2 * len(sent)
    assert code == 0
    assert sorted(e["envelope"]["event_id"] for e in events) == sorted(e.event_id for _, e in sent)


async def test_a_dead_instances_pending_entries_are_taken_over(
    redis: aioredis.Redis, moto: Moto, writers: Writers
) -> None:
    dead, _ = await writers.start("archive-dead", run=False, flush_interval_s=3600)
    sent = trail("mm-8")
    await publish(redis, sent)
    await dead.poll()  # reads everything, then "dies" before writing it
    assert dead.held == len(sent)

    alive, _ = await writers.start("archive-alive")
    await wait_for(lambda: _zero(unarchived(redis)), what="taken over and archived", timeout_s=10)

    assert alive.stats.claimed == len(sent)
    keys = [k for k in stored(moto) if k.endswith(".ndjson.gz")]
    assert keys and all("archive-alive" in k for k in keys)


async def test_an_entry_that_is_no_envelope_is_dead_lettered_and_the_rest_archived(
    redis: aioredis.Redis, moto: Moto, writers: Writers
) -> None:
    await writers.start("archive-p")
    await redis.xadd(topology.AUDIT.name, {"something": "else"})
    await redis.xadd(topology.AUDIT.name, {"__data__": "not json"})
    await publish(redis, trail("mm-9"))

    await wait_for(lambda: _zero(unarchived(redis)), what="archived and dead-lettered")

    letters = await redis.xrange(topology.AUDIT.dlq.name)
    assert [f[b"group"] for _, f in letters] == [b"archive", b"archive"]
    archived = [k for k in stored(moto) if k.endswith(".ndjson.gz")]
    assert archived


async def _zero(count: object) -> bool:
    return await count == 0  # type: ignore[misc]
