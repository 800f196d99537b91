"""Contract of ApiKeyStore: records by id, never a key; create once; revocation sticks."""

from __future__ import annotations

import asyncio

import pytest

from libs.common.api_keys import (
    ApiKeyRecord,
    ApiKeyStore,
    InMemoryApiKeyStore,
    RedisApiKeyStore,
    Role,
    issue_key,
    parse_key,
)
from tests.contract.conftest import Clients

Stores = tuple[ApiKeyStore, ApiKeyStore]


@pytest.fixture
def key_stores(clients: Clients | None) -> Stores:
    """Two stores sharing state, as two gateway instances (or a gateway and `mmx keys`)."""
    if clients is None:
        fake = InMemoryApiKeyStore()
        return fake, fake
    return RedisApiKeyStore(clients[0]), RedisApiKeyStore(clients[1])


def new_record(name: str = "alice", role: Role = Role.TRADER, now_ns: int = 100) -> ApiKeyRecord:
    return ApiKeyRecord.issue(issue_key(), role, name, now_ns=now_ns)


async def test_a_created_record_is_read_back_by_another_instance(key_stores: Stores) -> None:
    first, second = key_stores
    record = new_record()

    assert await first.create(record) is True

    assert await second.get(record.key_id) == record


async def test_an_unknown_id_has_no_record(key_stores: Stores) -> None:
    assert await key_stores[0].get("0123456789ab") is None


async def test_an_id_is_created_once_and_the_first_record_stays(key_stores: Stores) -> None:
    first, second = key_stores
    record = new_record("alice")
    impostor = record.model_copy(update={"name": "mallory", "role": Role.OPERATOR})

    created = await asyncio.gather(first.create(record), second.create(impostor))

    assert sorted(created) == [False, True]
    winner = record if created[0] else impostor
    assert await first.get(record.key_id) == await second.get(record.key_id) == winner
    assert await first.create(record) is False


async def test_all_lists_every_record_oldest_first_revoked_included(key_stores: Stores) -> None:
    store, other = key_stores
    records = [new_record(f"k{i}", now_ns=300 - i) for i in range(3)]
    for record in records:
        await store.create(record)
    await other.revoke(records[0].key_id, now_ns=400)

    listed = await other.all()

    assert [r.name for r in listed] == ["k2", "k1", "k0"]
    assert [r.revoked for r in listed] == [False, False, True]


async def test_revoking_drops_the_hash_and_refuses_the_key(key_stores: Stores) -> None:
    first, second = key_stores
    issued = issue_key()
    record = ApiKeyRecord.issue(issued, Role.OPERATOR, "ops", now_ns=1)
    await first.create(record)

    revoked = await second.revoke(record.key_id, now_ns=50)

    assert revoked is not None
    assert (revoked.revoked_ns, revoked.key_hash, revoked.name) == (50, "", "ops")
    stored = await first.get(record.key_id)
    assert stored == revoked
    assert not stored.accepts(parse_key(issued.key))


async def test_a_revoked_key_stays_revoked_at_its_first_revocation(key_stores: Stores) -> None:
    store, _ = key_stores
    record = new_record()
    await store.create(record)
    await store.revoke(record.key_id, now_ns=50)

    again = await store.revoke(record.key_id, now_ns=99)

    assert again is not None and again.revoked_ns == 50
    assert await store.create(record) is False


async def test_revoking_an_unknown_id_changes_nothing(key_stores: Stores) -> None:
    store, _ = key_stores

    assert await store.revoke("0123456789ab", now_ns=5) is None
    assert await store.all() == []


async def test_a_tombstone_records_a_revoked_id_the_store_never_issued(
    key_stores: Stores,
) -> None:
    first, second = key_stores

    tomb = await first.revoke("0123456789ab", now_ns=7, tombstone_name="tombstone")

    assert tomb is not None
    assert (tomb.key_id, tomb.key_hash, tomb.revoked_ns, tomb.role) == (
        "0123456789ab",
        "",
        7,
        Role.VIEWER,
    )
    assert await second.get("0123456789ab") == tomb
