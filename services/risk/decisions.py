"""Risk's decisions, remembered: once an order is approved it is never denied, and back.

A decision is written with SET NX before its effects (publishing, moving the record), so a
redelivered command, or the same entry claimed by a second instance while the first still
handles it, finds the decision and repeats its effects instead of deciding again on a state
that has moved on (after an approval, its own reservation; after a freeze, FROZEN).
"""

from __future__ import annotations

from collections.abc import Sequence

from pydantic import BaseModel, ConfigDict
from redis.asyncio import Redis

from libs.common.domain.ids import AccountId
from libs.common.domain.risk_checks import Check
from libs.common.stores._support import text
from libs.common.topology import keys_of


class Decision(BaseModel):
    """Approved, or denied by `check` for `reason`."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    approved: bool
    check: Check | None = None
    reason: str = ""

    @classmethod
    def approve(cls) -> Decision:
        return cls(approved=True)

    @classmethod
    def deny(cls, check: Check, reason: str) -> Decision:
        return cls(approved=False, check=check, reason=reason)


class DecisionStore:
    """One account's decisions by key in one namespace (`AccountKeys.idempotency`), with a
    TTL: all in the account's slot, so that the admission script can write them."""

    def __init__(self, redis: Redis, namespace: str, ttl_s: float, *, account: AccountId) -> None:
        self._redis = redis
        self._namespace = namespace
        self._keys = keys_of(account)
        self._ttl_ms = max(1, int(ttl_s * 1000))

    async def get_many(self, keys: Sequence[str]) -> list[Decision | None]:
        """The decisions taken on `keys`, None where none was; one round trip."""
        if not keys:
            return []
        values = await self._redis.mget([self._keys.idempotency(self._namespace, k) for k in keys])
        return [None if v is None else Decision.model_validate_json(text(v)) for v in values]

    async def record_many(
        self, items: Sequence[tuple[str, Decision]]
    ) -> list[tuple[Decision, bool]]:
        """Record each decision unless one exists; return (decision in force, won) per item."""
        if not items:
            return []
        async with self._redis.pipeline(transaction=False) as pipe:
            for key, decision in items:
                name = self._keys.idempotency(self._namespace, key)
                pipe.set(name, decision.model_dump_json(), nx=True, px=self._ttl_ms)
                pipe.get(name)
            replies = await pipe.execute()
        results = []
        for index, (_, decision) in enumerate(items):
            won, stored = bool(replies[2 * index]), replies[2 * index + 1]
            kept = decision if won else Decision.model_validate_json(text(stored))
            results.append((kept, won))
        return results
