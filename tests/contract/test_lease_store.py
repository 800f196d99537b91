"""Contract of LeaseStore: one holder at a time, takeover only after expiry."""

from __future__ import annotations

import asyncio

from libs.common.stores import LeaseStore

Stores = tuple[LeaseStore, LeaseStore]
NAME = "venue-private-stream"
SHORT_MS = 200


async def test_free_lease_is_acquired_and_held(lease_stores: Stores) -> None:
    first, second = lease_stores

    assert await first.acquire(NAME, "router-1", 10_000) is True
    assert await second.holder(NAME) == "router-1"


async def test_held_lease_is_refused_to_another_owner(lease_stores: Stores) -> None:
    first, second = lease_stores
    await first.acquire(NAME, "router-1", 10_000)

    assert await second.acquire(NAME, "router-2", 10_000) is False
    assert await second.holder(NAME) == "router-1"


async def test_holder_acquiring_again_keeps_the_lease(lease_stores: Stores) -> None:
    store, _ = lease_stores
    await store.acquire(NAME, "router-1", SHORT_MS)

    assert await store.acquire(NAME, "router-1", 10_000) is True
    await asyncio.sleep(SHORT_MS * 1.5 / 1000)
    assert await store.holder(NAME) == "router-1"  # extended to the longer TTL


async def test_concurrent_acquires_have_exactly_one_winner(lease_stores: Stores) -> None:
    attempts = [lease_stores[i % 2].acquire(NAME, f"router-{i}", 10_000) for i in range(20)]

    results = await asyncio.gather(*attempts)

    assert sum(results) == 1
    assert await lease_stores[0].holder(NAME) == f"router-{results.index(True)}"


async def test_renew_keeps_the_lease_past_its_first_ttl(lease_stores: Stores) -> None:
    first, second = lease_stores
    await first.acquire(NAME, "router-1", SHORT_MS)

    for _ in range(4):  # 4 x 50 ms: past the first TTL, each renewal well within the last
        await asyncio.sleep(SHORT_MS / 4 / 1000)
        assert await first.renew(NAME, "router-1", SHORT_MS) is True

    assert await second.acquire(NAME, "router-2", SHORT_MS) is False


async def test_renew_by_non_holder_fails_and_changes_nothing(lease_stores: Stores) -> None:
    first, second = lease_stores
    await first.acquire(NAME, "router-1", 10_000)

    assert await second.renew(NAME, "router-2", 10_000) is False
    assert await second.renew("other-lease", "router-2", 10_000) is False
    assert await first.holder(NAME) == "router-1"


async def test_expired_lease_is_taken_over_and_old_holder_cannot_renew_or_release_it(
    lease_stores: Stores,
) -> None:
    first, second = lease_stores
    await first.acquire(NAME, "router-1", SHORT_MS)

    await asyncio.sleep(SHORT_MS * 1.5 / 1000)

    assert await first.holder(NAME) is None
    assert await second.acquire(NAME, "router-2", 10_000) is True
    assert await first.renew(NAME, "router-1", 10_000) is False
    assert await first.release(NAME, "router-1") is False
    assert await first.holder(NAME) == "router-2"


async def test_release_frees_the_lease_for_another_owner(lease_stores: Stores) -> None:
    first, second = lease_stores
    await first.acquire(NAME, "router-1", 10_000)

    assert await second.release(NAME, "router-2") is False
    assert await first.release(NAME, "router-1") is True

    assert await second.holder(NAME) is None
    assert await second.acquire(NAME, "router-2", 10_000) is True
