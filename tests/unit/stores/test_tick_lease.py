"""A tick job's lease: held for three ticks (at least 1 s), by one instance at a time."""

from __future__ import annotations

from libs.common.stores import InMemoryLeaseStore
from libs.common.stores.leases import TickLease


def test_a_tick_lease_lasts_three_ticks_and_never_under_a_second() -> None:
    store = InMemoryLeaseStore()

    assert TickLease.every(store, "job", "a", 2.0).ttl_ms == 6_000
    assert TickLease.every(store, "job", "a", 0.05).ttl_ms == 1_000


async def test_one_instance_holds_it_and_keeps_it_the_other_waits() -> None:
    store = InMemoryLeaseStore()
    a, b = (TickLease.every(store, "job", owner, 1.0) for owner in ("a", "b"))

    assert [await a.held(), await b.held(), await a.held()] == [True, False, True]
