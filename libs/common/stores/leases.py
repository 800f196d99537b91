"""The lease store: named leases held by one owner at a time, lost if not renewed.

The router uses one to have exactly one instance own the venue's private stream, with
failover:

    while running:
        if await leases.acquire(name, me, ttl_ms):      # free, expired, or already ours
            consume the stream; every ttl_ms / 3: if not await leases.renew(name, me, ttl_ms):
                stop consuming at once (another instance may own it now)
        else:
            await asyncio.sleep(ttl_ms / 3000)          # stand by; take over after expiry

An owner stalled past its TTL (a long GC pause, a frozen VM) may still act until its next
renewal fails: leases bound that overlap, they cannot fence it. Work done under a lease
must therefore stay idempotent (order updates are compare-and-set, fills dedupe on execId).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Protocol

from redis.asyncio import Redis

from libs.common.stores._support import Clock, LuaScript, ScriptArg, monotonic, text
from libs.common.topology import lease_key


class LeaseStore(Protocol):
    """Named leases with a TTL, owned by one owner string at a time."""

    async def acquire(self, name: str, owner: str, ttl_ms: int) -> bool:
        """Take the lease if free or expired, or extend it if `owner` holds it: True if held."""
        ...

    async def renew(self, name: str, owner: str, ttl_ms: int) -> bool:
        """Extend the lease to `ttl_ms` from now, only if `owner` still holds it."""
        ...

    async def release(self, name: str, owner: str) -> bool:
        """Give the lease up if `owner` holds it; True if it did."""
        ...

    async def holder(self, name: str) -> str | None:
        """Who holds the lease now, or None."""
        ...


def _check_ttl(ttl_ms: int) -> None:
    if ttl_ms < 1:
        raise ValueError(f"ttl_ms {ttl_ms} is invalid: expected >= 1")


@dataclass(frozen=True, slots=True)
class TickLease:
    """The lease of a job one instance does each tick (the exposure audit, markouts, the
    auto-recovery, the limit scaler): `held()` takes or extends it; a tick that finds it
    held by another instance does nothing."""

    store: LeaseStore
    name: str
    owner: str
    ttl_ms: int

    @classmethod
    def every(cls, store: LeaseStore, name: str, owner: str, interval_s: float) -> TickLease:
        """Held for three ticks (at least 1 s): a holder that stops is replaced within three."""
        return cls(store, name, owner, max(1_000, int(interval_s * 3000)))

    async def held(self) -> bool:
        """Take the lease, or extend it if this owner holds it: True while held."""
        return await self.store.acquire(self.name, self.owner, self.ttl_ms)


class InMemoryLeaseStore:
    """The LeaseStore fake: a dict of (owner, expiry) on `clock`."""

    def __init__(self, *, clock: Clock = monotonic) -> None:
        self._leases: dict[str, tuple[str, float]] = {}
        self._clock = clock

    async def acquire(self, name: str, owner: str, ttl_ms: int) -> bool:
        _check_ttl(ttl_ms)
        current = await self.holder(name)
        if current is not None and current != owner:
            return False
        self._leases[name] = (owner, self._clock() + ttl_ms / 1000)
        return True

    async def renew(self, name: str, owner: str, ttl_ms: int) -> bool:
        _check_ttl(ttl_ms)
        if await self.holder(name) != owner:
            return False
        self._leases[name] = (owner, self._clock() + ttl_ms / 1000)
        return True

    async def release(self, name: str, owner: str) -> bool:
        if await self.holder(name) != owner:
            return False
        del self._leases[name]
        return True

    async def holder(self, name: str) -> str | None:
        lease = self._leases.get(name)
        if lease is None or lease[1] <= self._clock():
            return None
        return lease[0]


# Take a free lease or extend our own. KEYS[1] lease key; ARGV: owner, TTL ms.
# Returns 1 if `owner` holds the lease afterwards, 0 if someone else does. Reading the holder
# and setting it are one step: two instances can never both get 1 for the same lease.
_ACQUIRE = LuaScript(
    """
local holder = redis.call('GET', KEYS[1])
if not holder then
  redis.call('SET', KEYS[1], ARGV[1], 'PX', ARGV[2])
  return 1
end
if holder == ARGV[1] then
  redis.call('PEXPIRE', KEYS[1], ARGV[2])
  return 1
end
return 0
"""
)

# Renew (ARGV[3] = 'renew') or release ('release') only if `owner` (ARGV[1]) still holds the
# lease: compare and act in one step, so an owner whose lease expired and was taken over
# can neither extend nor delete the new owner's lease. Returns 1 if it acted, else 0.
_IF_OWNER = LuaScript(
    """
if redis.call('GET', KEYS[1]) ~= ARGV[1] then return 0 end
if ARGV[3] == 'renew' then
  redis.call('PEXPIRE', KEYS[1], ARGV[2])
else
  redis.call('DEL', KEYS[1])
end
return 1
"""
)


class RedisLeaseStore:
    """LeaseStore over Redis: `lease_key(name)` holds the owner, with a PX expiry."""

    def __init__(self, redis: Redis) -> None:
        self._redis = redis

    async def acquire(self, name: str, owner: str, ttl_ms: int) -> bool:
        _check_ttl(ttl_ms)
        return int(await _ACQUIRE(self._redis, [lease_key(name)], [owner, ttl_ms])) == 1

    async def renew(self, name: str, owner: str, ttl_ms: int) -> bool:
        _check_ttl(ttl_ms)
        args: list[ScriptArg] = [owner, ttl_ms, "renew"]
        return int(await _IF_OWNER(self._redis, [lease_key(name)], args)) == 1

    async def release(self, name: str, owner: str) -> bool:
        args: list[ScriptArg] = [owner, 0, "release"]
        return int(await _IF_OWNER(self._redis, [lease_key(name)], args)) == 1

    async def holder(self, name: str) -> str | None:
        owner = await self._redis.get(lease_key(name))
        return None if owner is None else text(owner)
