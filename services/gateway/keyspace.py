"""Finding keys by their prefix, for the few readers that have no index to read instead.

`names_under` walks the whole keyspace with SCAN (`SCAN_COUNT` keys a step), so its cost
grows with every key in the db (order records, their terms, dedup markers), not with the
few keys it finds: fine for an operator's listing or a console refresh, not for a hot path.
"""

from __future__ import annotations

from redis.asyncio import Redis

from libs.common.stores._support import text

SCAN_COUNT = 1_000
"""Keys per SCAN step (Redis's default, 10, would take a round trip per 10 keys)."""


async def names_under(redis: Redis, prefix: str) -> list[str]:
    """The distinct rest of each key that starts with `prefix`, sorted (the symbol of
    `mmx:orders:open:{symbol}`, the instance of a circuit key...)."""
    keys = redis.scan_iter(match=f"{prefix}*", count=SCAN_COUNT)
    return sorted({text(key).removeprefix(prefix) async for key in keys})
