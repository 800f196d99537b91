"""What the code writes on the streams, in real Redis, is what the AsyncAPI document says:
one `__data__` field holding an envelope the channel accepts, and the plain-field entries of
`risk.freeze_history` and of the dead-letter streams."""

from __future__ import annotations

import time
from typing import Any

import orjson
import pytest
import redis.asyncio as aioredis

from libs.common import topology
from libs.common.bus import (
    Ack,
    Bus,
    ConsumerSpec,
    Delivery,
    EnvelopeCodec,
    PoisonMessage,
)
from libs.common.domain.ids import DEFAULT_ACCOUNT
from libs.common.domain.risk_checks import TradingState
from libs.common.messages import CancelOrder, Envelope
from libs.common.stores import RedisRiskStateStore
from libs.common.stream_flows import STREAM_FLOWS
from tests.integration.bus.conftest import Start
from tests.integration.bus.helpers import wait_until
from tests.unit.test_asyncapi import accepts
from tests.unit.test_messages import SAMPLES

pytestmark = pytest.mark.integration


async def entries(redis: aioredis.Redis, stream: topology.Stream) -> list[dict[str, str]]:
    raw: Any = await redis.xrange(stream.name)
    return [{k.decode(): v.decode() for k, v in fields.items()} for _, fields in raw]


def parsed(entry: dict[str, str]) -> object:
    """The JSON of an enveloped entry, which has that one field."""
    assert set(entry) == {"__data__"}, entry
    return orjson.loads(entry["__data__"])


async def test_each_producer_publishes_one_field_its_channel_accepts(
    redis: aioredis.Redis,
) -> None:
    bus = Bus(redis, EnvelopeCodec())
    by_type = {m.TYPE: m for m in SAMPLES}
    published, expected = 0, 0

    for flow in (f for f in STREAM_FLOWS if f.enveloped):
        for service, types in flow.producers.items():
            sent = [Envelope.wrap(by_type[t.TYPE]) for t in types]
            expected += len(sent)
            stream = (
                flow.stream.of(DEFAULT_ACCOUNT)
                if isinstance(flow.stream, topology.AccountStream)
                else flow.stream
            )
            await redis.delete(stream.name)
            await bus.publish_many(stream, sent)
            for entry in await entries(redis, stream):
                assert accepts(f"{flow.stream}:send:{service}", parsed(entry)), entry
                published += 1
    assert published == expected


async def test_a_trading_state_change_writes_the_entries_the_document_describes(
    redis: aioredis.Redis,
) -> None:
    store = RedisRiskStateStore(redis)

    await store.transition(TradingState.FROZEN, "drill", "ops", time.time_ns(), None)

    (control,) = await entries(redis, topology.CONTROL.desk)
    (history,) = await entries(redis, topology.RISK_FREEZE_HISTORY.desk)
    assert accepts("mmx:{account}:control:read:router", parsed(control))
    assert accepts("mmx:{account}:risk.freeze_history:send:risk", history)
    assert not accepts("mmx:{account}:risk.freeze_history:send:risk", {**history, "epoch": "1x"})


async def test_a_dead_letter_is_the_entry_the_document_describes(
    redis: aioredis.Redis, start: Start
) -> None:
    async def refuse(delivery: Delivery[Envelope]) -> None:
        raise PoisonMessage("refused for the test")

    spec = ConsumerSpec(
        stream=topology.ORDERS_REQUESTS.of(DEFAULT_ACCOUNT),
        group=topology.Group.RISK,
        ack=Ack.BATCH,
        block_ms=20,
    )
    bus = Bus(redis, EnvelopeCodec())
    consumer = await start(bus.consumer(spec, refuse))
    cancel = next(m for m in SAMPLES if isinstance(m, CancelOrder))
    await bus.publish(topology.ORDERS_REQUESTS.of(DEFAULT_ACCOUNT), Envelope.wrap(cancel))

    await wait_until(lambda: consumer.stats.dead_lettered == 1)
    (dead,) = await entries(redis, topology.ORDERS_REQUESTS.of(DEFAULT_ACCOUNT).dlq)
    assert accepts("mmx:{account}:orders.requests.dlq:send:risk", dead)
    assert accepts(
        "mmx:{account}:orders.requests:group:risk", parsed({"__data__": dead["__data__"]})
    )
