"""Backpressure: how far behind risk and the router are, for the gateway's admission.

Every `backlog_poll_s` the gateway reads, with one XINFO GROUPS per stream, the entries of
every account's (and the desk's) `orders.requests` not yet handled by risk and of every
account's `orders.approved` not yet handled by the router (lag plus pending). While their
sum is above `max_engine_backlog`, `Admission` refuses new places and amends with 429 before
anything is written: a queue the engine cannot drain only makes every order late (and its
quote stale), and the CPU the gateway would spend accepting it is what risk and the router
need to catch up. Cancels are never refused.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from redis.asyncio import Redis

from libs.common import topology
from libs.common.batching import Periodic
from libs.common.domain.ids import AccountId
from services.gateway.admission import Admission

WATCHED = (
    (topology.ORDERS_REQUESTS, topology.Group.RISK),
    (topology.ORDERS_APPROVED, topology.Group.ROUTER),
)
"""The queues in front of risk and the router (families: each account's stream)."""


class BacklogWatch:
    """Keeps `admission.backlog` current; `runner()` is its periodic task."""

    def __init__(self, redis: Redis, admission: Admission, accounts: Sequence[AccountId]) -> None:
        self._redis = redis
        self._admission = admission
        self._watched = [(s, group) for family, group in WATCHED for s in family.each(accounts)]

    def runner(self, interval_s: float) -> Periodic:
        return Periodic("gateway:backlog", interval_s, self.refresh)

    async def refresh(self) -> None:
        self._admission.backlog = await self.read()

    async def read(self) -> int:
        """Entries waiting for risk or the router (lag + pending of their groups)."""
        async with self._redis.pipeline(transaction=False) as pipe:
            for stream, _ in self._watched:
                pipe.xinfo_groups(stream.name)
            replies = await pipe.execute(raise_on_error=False)
        total = 0
        for (_, group), infos in zip(self._watched, replies, strict=True):
            if isinstance(infos, Exception):
                continue  # no stream yet: nothing waits
            total += sum(_waiting(info) for info in infos if _text(info.get("name")) == group)
        return total


def _waiting(info: dict[Any, Any]) -> int:
    lag = info.get("lag")
    return int(info.get("pending") or 0) + (int(lag) if lag is not None else 0)


def _text(value: object) -> str:
    return value.decode() if isinstance(value, bytes) else str(value)
