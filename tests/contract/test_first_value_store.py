"""Contract of FirstValueStore: the first value of a key is kept and told to later callers."""

from __future__ import annotations

import asyncio

import pytest

from libs.common.stores.idempotency import FirstValueStore

Stores = tuple[FirstValueStore, FirstValueStore]


async def test_first_value_is_kept_and_later_callers_are_told_it(
    first_value_stores: Stores,
) -> None:
    first, second = first_value_stores

    kept = await first.keep_first("terms", [("c-1", "buy 1"), ("c-2", "sell 2")], ttl_s=60)
    told = await second.keep_first("terms", [("c-1", "buy 9"), ("c-3", "buy 3")], ttl_s=60)

    assert kept == [None, None]
    assert told == ["buy 1", None]
    assert await first.keep_first("terms", [("c-1", "buy 1")], ttl_s=60) == ["buy 1"]


async def test_concurrent_callers_of_one_key_all_see_the_one_value_kept(
    first_value_stores: Stores,
) -> None:
    calls = [
        first_value_stores[i % 2].keep_first("terms", [("c-1", f"v{i}")], ttl_s=60)
        for i in range(20)
    ]

    answers = [held for (held,) in await asyncio.gather(*calls)]

    assert answers.count(None) == 1
    winner = f"v{answers.index(None)}"
    assert {a for a in answers if a is not None} == {winner}


async def test_forgotten_and_expired_values_can_be_kept_again(first_value_stores: Stores) -> None:
    first, second = first_value_stores
    await first.keep_first("terms", [("c-1", "a"), ("c-2", "b")], ttl_s=60)
    await first.keep_first("terms", [("c-3", "c")], ttl_s=0.05)

    await second.forget_many("terms", ["c-1", "c-2"])
    await asyncio.sleep(0.1)

    again = await first.keep_first("terms", [("c-1", "x"), ("c-2", "y"), ("c-3", "z")], ttl_s=60)
    assert again == [None, None, None]


async def test_namespaces_are_independent(first_value_stores: Stores) -> None:
    store, _ = first_value_stores
    await store.keep_first("terms", [("c-1", "a")], ttl_s=60)

    assert await store.keep_first("other", [("c-1", "b")], ttl_s=60) == [None]


@pytest.mark.parametrize("ttl_s", [0, -1.0])
async def test_non_positive_ttl_is_refused(first_value_stores: Stores, ttl_s: float) -> None:
    with pytest.raises(ValueError, match="ttl_s"):
        await first_value_stores[0].keep_first("terms", [("c-1", "a")], ttl_s=ttl_s)
