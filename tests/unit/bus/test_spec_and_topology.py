"""Consumer specs, retry backoff and topology names: no Redis."""

from __future__ import annotations

from typing import Any

import pytest

from libs.common import topology
from libs.common.bus import Ack, BusConfigError, ConsumerSpec, default_consumer_name
from libs.common.domain.errors import InvalidIdentifier
from libs.common.domain.ids import (
    DEFAULT_ACCOUNT,
    AccountId,
    ClientOrderId,
    EventId,
    ExecId,
    Symbol,
    VenueOrderId,
    parse_account_id,
)


def make_spec(**overrides: Any) -> ConsumerSpec:
    return ConsumerSpec(
        stream=topology.ORDERS_REQUESTS, group=topology.Group.RISK, ack=Ack.BATCH, **overrides
    )


def test_spec_defaults_bound_the_batch_and_name_the_consumer_per_process() -> None:
    spec = make_spec()

    assert spec.max_records == 50
    assert spec.consumer != make_spec().consumer
    assert spec.consumer.count("-") >= 2


@pytest.mark.parametrize(
    ("overrides", "problem"),
    [
        ({"max_records": 0}, "max_records"),
        ({"block_ms": 0}, "block_ms"),
        ({"max_deliveries": 0}, "max_deliveries"),
        ({"claim_idle_ms": 300, "retry_backoff_ms": 200}, "claim_idle_ms must exceed"),
        ({"start_id": ">"}, "start_id"),
        ({"consumer": ""}, "non-empty"),
    ],
)
def test_spec_with_bad_settings_is_refused_at_construction(
    overrides: dict[str, Any], problem: str
) -> None:
    with pytest.raises(BusConfigError, match=problem):
        make_spec(**overrides)


def test_retry_delay_doubles_per_delivery_up_to_half_the_claim_idle() -> None:
    spec = make_spec(retry_backoff_ms=100, claim_idle_ms=1_000)

    assert [spec.retry_delay_ms(n) for n in (1, 2, 3, 4, 50)] == [100, 200, 400, 500, 500]


def test_default_consumer_name_is_unique() -> None:
    assert len({default_consumer_name() for _ in range(100)}) == 100


def test_every_stream_has_a_distinct_name_and_a_dlq_in_its_slot() -> None:
    streams = topology.all_streams([DEFAULT_ACCOUNT, AccountId("alpha")])
    names = [s.name for s in streams] + [s.dlq.name for s in streams]

    assert len(names) == len(set(names))
    events = topology.ORDERS_EVENTS.of(DEFAULT_ACCOUNT)
    assert events.name == "mmx:{default}:orders.events"
    assert events.dlq.name == "mmx:{default}:orders.events.dlq"
    assert topology.ORDERS_EVENTS.dlq.of(DEFAULT_ACCOUNT) == events.dlq
    assert topology.AUDIT.dlq.name == "{audit}.dlq"  # hashes as `audit` does
    assert topology.CONTROL.desk.name == "mmx:{desk}:control"
    with pytest.raises(ValueError, match="dead-letter"):
        _ = events.dlq.dlq
    with pytest.raises(ValueError, match="only each account"):
        _ = topology.ORDERS_EVENTS.desk


def test_desk_is_no_accounts_name() -> None:
    with pytest.raises(InvalidIdentifier, match="reserved"):
        parse_account_id(topology.DESK)


def test_every_consumed_stream_is_in_the_topology() -> None:
    accounts = [DEFAULT_ACCOUNT, AccountId("alpha")]
    consumed = {s for streams in topology.consumed(accounts).values() for s in streams}

    assert consumed <= set(topology.all_streams(accounts))
    served = {
        s
        for g, streams in topology.CONSUMES.items()
        if g is not topology.Group.ARCHIVE
        for s in streams
    }
    assert topology.CONTROL not in served, "control is read without a group (but the archive's)"


def test_key_builders() -> None:
    default, alpha = topology.keys_of(DEFAULT_ACCOUNT), topology.keys_of(AccountId("alpha"))
    assert default.order(ClientOrderId("mm-1")) == "mmx:{default}:order:mm-1"
    assert default.open_orders(Symbol("BTCUSDT")) == "mmx:{default}:orders:open:BTCUSDT"
    assert alpha.position(Symbol("BTCUSDT")) == "mmx:{alpha}:position:BTCUSDT"


def test_every_key_of_an_account_shares_its_hash_tag() -> None:
    keys = topology.keys_of(AccountId("alpha"))
    btc, cid = Symbol("BTCUSDT"), ClientOrderId("c-1")
    built = [
        keys.order(cid),
        keys.open_orders(btc),
        keys.venue_order(VenueOrderId("v")),
        keys.exposure_symbols,
        keys.exposure(btc),
        keys.unfolded(btc),
        keys.position(btc),
        keys.position_symbols,
        keys.exec_seen(ExecId("e")),
        keys.order_times(btc),
        keys.pnl_baseline("20261204"),
    ]
    assert all(key.startswith("mmx:{alpha}:") for key in built)
    assert len(set(built)) == len(built)


def test_key_builders_desk_wide() -> None:
    assert (
        topology.event_seen_key(topology.Group.POSITIONS, EventId("e1"))
        == "mmx:idem:event:positions:e1"
    )
    assert topology.lease_key("reconcile") == "mmx:lease:reconcile"


def test_default_retries_outlast_an_outage_before_dead_lettering() -> None:
    from libs.common.bus_types import Ack, ConsumerSpec
    from libs.common.topology import ORDERS_EVENTS

    spec = ConsumerSpec(stream=ORDERS_EVENTS, group="positions", ack=Ack.BATCH, claim_idle_ms=5_000)
    waited_s = sum(spec.retry_delay_ms(d) for d in range(1, spec.max_deliveries)) / 1000
    assert waited_s >= 20
