"""Timeouts of different services that must agree, checked at start across services.

An order approved by risk waits up to risk's `claim_idle_ms` behind a dead risk instance,
then up to the router's `claim_idle_s` behind a dead router; it must still be younger than
the router's `max_order_age_s` when it is sent, or a crash turns it into a "stale" rejection.
One service's settings cannot see the other's, so each writes its own timings into Redis at
start (`TIMINGS_KEY`, one field per service) and checks them against what the others wrote.
Each writes before it reads, so of two services starting together at least the second sees
the first: a conflict stops the start with a message naming both settings.
"""

from __future__ import annotations

import json
from collections.abc import Mapping

from redis.asyncio import Redis

from libs.common.topology import TIMINGS_KEY

Timings = Mapping[str, float]
"""One service's timing settings, in seconds, by name."""


class TimingConflict(ValueError):
    """Two services' timeouts contradict each other: a crash would turn into a rejection."""


def conflicts(by_service: Mapping[str, Timings]) -> list[str]:
    """What is wrong with the timings the services published, one line per problem."""
    risk, router = by_service.get("risk"), by_service.get("router")
    if risk is None or router is None:
        return []
    waited_s = risk["claim_idle_s"] + router["claim_idle_s"]
    if waited_s < router["max_order_age_s"]:
        return []
    return [
        f"MMX_RISK_CLAIM_IDLE_MS {risk['claim_idle_s'] * 1000:g} + MMX_ROUTER_CLAIM_IDLE_S "
        f"{router['claim_idle_s']:g} = {waited_s:g} s must be below MMX_ROUTER_MAX_ORDER_AGE_S "
        f"{router['max_order_age_s']:g}: an order behind a dead risk and a dead router would "
        "be refused as stale"
    ]


async def publish_and_check(redis: Redis, service: str, timings: Timings) -> None:
    """Write `service`'s timings, read every service's, raise TimingConflict on a conflict."""
    async with redis.pipeline(transaction=True) as pipe:
        pipe.hset(TIMINGS_KEY, service, json.dumps(dict(timings)))
        pipe.hgetall(TIMINGS_KEY)
        _, raw = await pipe.execute()
    published = {_text(k): json.loads(v) for k, v in raw.items()}
    if problems := conflicts(published):
        raise TimingConflict("; ".join(problems))


def _text(value: bytes | str) -> str:
    return value.decode() if isinstance(value, bytes) else value
