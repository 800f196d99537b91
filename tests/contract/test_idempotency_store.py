"""Contract of IdempotencyStore: one claim wins per key and namespace, for a TTL."""

from __future__ import annotations

import asyncio

import pytest

from libs.common.stores import IdempotencyStore

Stores = tuple[IdempotencyStore, IdempotencyStore]


async def test_first_claim_wins_and_later_claims_lose(idempotency_stores: Stores) -> None:
    first, second = idempotency_stores

    assert await first.claim("event:risk", "ev-1", ttl_s=60) is True
    assert await second.claim("event:risk", "ev-1", ttl_s=60) is False
    assert await second.seen("event:risk", "ev-1") is True


async def test_unclaimed_key_is_not_seen(idempotency_stores: Stores) -> None:
    assert await idempotency_stores[0].seen("event:risk", "ev-1") is False


async def test_namespaces_are_independent(idempotency_stores: Stores) -> None:
    store, _ = idempotency_stores
    await store.claim("event:risk", "ev-1", ttl_s=60)

    assert await store.claim("event:router", "ev-1", ttl_s=60) is True


async def test_concurrent_claims_of_one_key_have_exactly_one_winner(
    idempotency_stores: Stores,
) -> None:
    claims = [idempotency_stores[i % 2].claim("cmd", "c-1", ttl_s=60) for i in range(20)]

    assert sum(await asyncio.gather(*claims)) == 1


async def test_claim_expires_after_its_ttl(idempotency_stores: Stores) -> None:
    store, _ = idempotency_stores
    await store.claim("cmd", "c-1", ttl_s=0.05)

    await asyncio.sleep(0.1)

    assert await store.seen("cmd", "c-1") is False
    assert await store.claim("cmd", "c-1", ttl_s=60) is True


async def test_forgotten_claim_can_be_claimed_again(idempotency_stores: Stores) -> None:
    first, second = idempotency_stores
    await first.claim("cmd", "c-1", ttl_s=60)

    await second.forget("cmd", "c-1")

    assert await first.claim("cmd", "c-1", ttl_s=60) is True


@pytest.mark.parametrize("ttl_s", [0, -1.0])
async def test_non_positive_ttl_is_refused(idempotency_stores: Stores, ttl_s: float) -> None:
    with pytest.raises(ValueError, match="ttl_s"):
        await idempotency_stores[0].claim("cmd", "c-1", ttl_s=ttl_s)
