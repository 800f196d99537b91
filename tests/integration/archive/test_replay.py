"""`mmx audit replay` refuses an archive whose objects do not match their manifests (nothing
written), and folds fills and funding into positions exactly once however often the archive
holds them, under whichever stream names (objects written before accounts had streams of
their own name them plainly)."""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator, Sequence
from datetime import UTC, datetime
from decimal import Decimal

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
    VenueId,
    VenueOrderId,
)
from libs.common.messages import Envelope, FundingSettled, OrderFilled, PlaceOrder
from libs.common.redis_connect import redis_from_url
from libs.common.redis_server import start_redis_server
from libs.common.stores import RedisPositionStore
from services.archive.layout import ArchivedEvent, build_object
from services.archive.replay import archived_order
from services.cli import main
from tests.e2e.harness import wait_for
from tests.integration.archive.conftest import ACCOUNTS, BUCKET, PREFIX, Moto, Writers

pytestmark = pytest.mark.integration


@pytest.fixture
async def target() -> AsyncIterator[tuple[str, aioredis.Redis]]:
    """A fresh, empty redis-server to replay into."""
    server = start_redis_server()
    client = redis_from_url(server.url)
    try:
        yield server.url, client
    finally:
        await client.aclose()
        server.stop()


def fill(exec_id: str, side: Side, qty: str, price: str) -> OrderFilled:
    return OrderFilled(
        client_order_id=ClientOrderId("mm-r"),
        venue_order_id=VenueOrderId("v-r"),
        symbol=Symbol("BTCUSDT"),
        exec_id=ExecId(exec_id),
        side=side,
        qty=Decimal(qty),
        price=Decimal(price),
        fee=Decimal("0.01"),
        is_maker=True,
        ts_event_ns=time.time_ns(),
    )


async def archive(
    redis: aioredis.Redis, writers: Writers, extra: Sequence[OrderFilled] = ()
) -> None:
    bus = Bus(redis, EnvelopeCodec())
    await writers.start("archive-r")
    for theirs in extra:  # on their account's stream
        await bus.publish(topology.ORDERS_EVENTS.of(theirs.account), Envelope.wrap(theirs))
    for message in (
        fill("x1", Side.BUY, "0.002", "60000"),
        fill("x2", Side.SELL, "0.001", "60100"),
        FundingSettled(
            symbol=Symbol("BTCUSDT"),
            exec_id=ExecId("f1"),
            amount=Decimal("0.006"),
            rate=Decimal("0.0001"),
            position_qty=Decimal("0.001"),
            mark_price=Decimal("60000"),
            ts_event_ns=time.time_ns(),
        ),
    ):
        await bus.publish(topology.ORDERS_EVENTS.of(DEFAULT_ACCOUNT), Envelope.wrap(message))

    async def done() -> bool:
        left = 0
        for stream in topology.ORDERS_EVENTS.each(ACCOUNTS):
            for info in await redis.xinfo_groups(stream.name):
                if info["name"] == b"archive":
                    left += int(info["lag"] or 0) + int(info["pending"])
        return left == 0

    await wait_for(done, what="archived")


async def the_archived_object(redis: aioredis.Redis, moto: Moto, writers: Writers) -> str:
    """Archive a few events into one object; its key."""
    await archive(redis, writers)
    listed = moto.client("s3").list_objects_v2(Bucket=BUCKET, Prefix=PREFIX)["Contents"]
    (key,) = [o["Key"] for o in listed if o["Key"].endswith(".ndjson.gz")]
    return str(key)


async def replay(moto: Moto, url: str) -> int:
    return await asyncio.to_thread(
        main,
        ["audit", "replay", "--redis-url", url, "--from", f"s3://{BUCKET}/{PREFIX}",
         "--endpoint-url", moto.url, "--region", "us-east-1"],
    )  # fmt: skip


async def test_replay_folds_each_fill_and_funding_once_even_when_archived_twice(
    redis: aioredis.Redis,
    moto: Moto,
    writers: Writers,
    target: tuple[str, aioredis.Redis],
    capsys: pytest.CaptureFixture[str],
) -> None:
    await archive(redis, writers)
    events = topology.ORDERS_EVENTS.of(DEFAULT_ACCOUNT)
    await redis.xgroup_setid(events.name, "archive", "0")  # written again

    async def twice() -> bool:
        s3 = moto.client("s3")
        keys = s3.list_objects_v2(Bucket=BUCKET, Prefix=PREFIX).get("Contents", [])
        return sum(1 for k in keys if k["Key"].endswith(".ndjson.gz")) == 2

    await wait_for(twice, what="the same events in two objects")
    url, client = target

    assert await replay(moto, url) == 0
    (position,) = await RedisPositionStore(client).all()
    assert (position.qty, position.avg_entry_price) == (Decimal("0.001"), Decimal("60000"))
    assert position.realized_pnl == Decimal("0.1")
    assert (position.fees_paid, position.funding_paid) == (Decimal("0.02"), Decimal("0.006"))
    assert "3 repeated event ids dropped" in capsys.readouterr().out


async def test_replay_folds_each_accounts_fills_into_that_accounts_positions(
    redis: aioredis.Redis, moto: Moto, writers: Writers, target: tuple[str, aioredis.Redis]
) -> None:
    alpha = AccountId("alpha")
    theirs = fill("a1", Side.SELL, "0.004", "61000").model_copy(update={"account": alpha})
    await archive(redis, writers, extra=[theirs])
    url, client = target

    assert await replay(moto, url) == 0
    (mine,) = await RedisPositionStore(client).all()
    (alphas,) = await RedisPositionStore(client, account=alpha).all()
    assert (mine.qty, alphas.qty) == (Decimal("0.001"), Decimal("-0.004"))
    assert alphas.account == alpha


async def test_replay_folds_each_venues_fills_into_that_venues_position(
    redis: aioredis.Redis, moto: Moto, writers: Writers, target: tuple[str, aioredis.Redis]
) -> None:
    binance = VenueId("binance-usdm")
    there = fill("b1", Side.BUY, "0.003", "60050").model_copy(update={"venue": binance})
    await archive(redis, writers, extra=[there])
    url, client = target

    assert await replay(moto, url) == 0
    (bybit,) = await RedisPositionStore(client).all()
    (at_binance,) = await RedisPositionStore(client, venue=binance).all()
    assert (bybit.qty, at_binance.qty) == (Decimal("0.001"), Decimal("0.003"))
    assert (bybit.venue, at_binance.venue) == ("bybit", binance)


async def test_replay_reads_objects_that_name_the_streams_plainly_as_before_accounts(
    moto: Moto, target: tuple[str, aioredis.Redis], capsys: pytest.CaptureFixture[str]
) -> None:
    """An hour archived under the old names (`orders.requests`, `orders.events`), then the
    next under the account's streams, one fill in both (a stream renamed with entries the
    archive had not acknowledged): each event folds once, in archive order."""
    t0 = int(datetime(2024, 5, 1, 12, tzinfo=UTC).timestamp() * 1000)
    order = PlaceOrder(
        client_order_id=ClientOrderId("mm-r"),
        symbol=Symbol("BTCUSDT"),
        side=Side.BUY,
        order_type=OrderType.LIMIT,
        qty=Decimal("0.002"),
        price=Decimal("60000"),
    )
    bought = Envelope.wrap(fill("x1", Side.BUY, "0.002", "60000"))
    sold = Envelope.wrap(fill("x2", Side.SELL, "0.001", "60100"))
    old = [
        ArchivedEvent(stream="orders.requests", entry_id=f"{t0}-0", envelope=Envelope.wrap(order)),
        ArchivedEvent(stream="orders.events", entry_id=f"{t0 + 1}-0", envelope=bought),
        ArchivedEvent(stream="orders.events", entry_id=f"{t0 + 2}-0", envelope=sold),
    ]
    renamed = topology.ORDERS_EVENTS.of(DEFAULT_ACCOUNT).name
    new = [ArchivedEvent(stream=renamed, entry_id=f"{t0 + 3_600_000}-0", envelope=sold)]
    s3 = moto.client("s3")
    for seq, events in enumerate((old, new), 1):
        obj = build_object(events, prefix=PREFIX, writer="archive-v1", seq=seq, written_ms=t0)
        s3.put_object(Bucket=BUCKET, Key=obj.key, Body=obj.body)
        s3.put_object(Bucket=BUCKET, Key=obj.manifest.key, Body=obj.manifest_json())
    url, client = target

    assert await replay(moto, url) == 0
    (position,) = await RedisPositionStore(client).all()
    assert (position.qty, position.realized_pnl) == (Decimal("0.001"), Decimal("0.1"))
    assert position.fees_paid == Decimal("0.02")
    assert "1 repeated event ids dropped" in capsys.readouterr().out
    history = await archived_order(client, "mm-r")
    assert history is not None
    assert [e["stream"] for e in history["events"]] == [
        "orders.requests", "orders.events", "orders.events"
    ]  # fmt: skip
    assert [f["exec_id"] for f in history["fills"]] == ["x1", "x2"]


async def test_replay_refuses_an_archive_with_an_object_that_does_not_match_its_manifest(
    redis: aioredis.Redis,
    moto: Moto,
    writers: Writers,
    target: tuple[str, aioredis.Redis],
    capsys: pytest.CaptureFixture[str],
) -> None:
    key = await the_archived_object(redis, moto, writers)
    moto.client("s3").put_object(Bucket=BUCKET, Key=key, Body=b"not what the manifest says")
    url, client = target

    code = await replay(moto, url)

    assert code == 1
    err = capsys.readouterr().err
    assert "refused, nothing was written" in err and "checksum mismatch" in err and key in err
    assert await client.dbsize() == 0


async def test_replay_refuses_a_redis_that_is_not_empty(
    moto: Moto, target: tuple[str, aioredis.Redis], capsys: pytest.CaptureFixture[str]
) -> None:
    url, client = target
    await client.set("something", "live")

    assert await replay(moto, url) == 1
    assert "holds 1 keys" in capsys.readouterr().err
    assert await client.dbsize() == 1


async def test_replay_refuses_an_archive_missing_an_object_its_manifest_describes(
    redis: aioredis.Redis,
    moto: Moto,
    writers: Writers,
    target: tuple[str, aioredis.Redis],
    capsys: pytest.CaptureFixture[str],
) -> None:
    key = await the_archived_object(redis, moto, writers)
    moto.client("s3").delete_object(Bucket=BUCKET, Key=key)
    url, client = target

    code = await replay(moto, url)

    assert code == 1
    assert f"{key}: missing, though its manifest is there" in capsys.readouterr().err
    assert await client.dbsize() == 0
