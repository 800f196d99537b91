"""The routers' venue circuits as each router instance last wrote its own: one reader for
every service that looks at them (the gateway's `/v1/risk`, risk's auto-recovery).

A router writes `venue_circuit_key(instance)` (state, failures, reason, updated_ns and, after
probing for a resume of trading, `probed_epoch`) and registers itself in
`VENUE_CIRCUITS_KEY`; the hash expires when its router stops writing it.
"""

from __future__ import annotations

from typing import Any

from redis.asyncio import Redis

from libs.common import topology
from libs.common.stores._support import text


async def read_circuit_fields(redis: Redis) -> dict[str, dict[str, str]]:
    """Each registered router instance's circuit hash, by instance name (sorted): the
    registry, then one pipeline of the hashes; an expired hash is left out."""
    registered: Any = await redis.zrange(topology.VENUE_CIRCUITS_KEY, 0, -1)
    instances = sorted(text(i) for i in registered)
    async with redis.pipeline(transaction=False) as pipe:
        for instance in instances:
            pipe.hgetall(topology.venue_circuit_key(instance))
        hashes: list[Any] = await pipe.execute()
    return {
        instance: {text(k): text(v) for k, v in raw.items()}
        for instance, raw in zip(instances, hashes, strict=True)
        if raw  # expired between the registry read and the hash read
    }
