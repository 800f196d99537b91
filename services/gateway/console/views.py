"""What the operator console shows beyond `/v1/risk` (which has the venue circuits),
`/v1/positions` and `/v1/orders`, read from Redis: edge per symbol, the audit trail, the
venue rate-limit buckets and stream health.

Every reader is read-only: a hash, one XREVRANGE, XLEN and XINFO GROUPS per stream, and a
SCAN for the rate-limit keys (`keyspace.names_under`, which walks the whole keyspace), as
`GET /v1/risk` does for the circuit keys and `GET /v1/orders` for the symbols with open
orders.
"""

from __future__ import annotations

import json
from decimal import Decimal
from typing import Any

from redis.asyncio import Redis
from redis.exceptions import ResponseError

from libs.common import topology
from libs.common.bus_types import DATA_FIELD
from libs.common.display import Bps
from libs.common.domain.time import NS_PER_MS
from libs.common.messages import Envelope
from libs.common.metrics import EdgeSource
from libs.common.stores._support import text
from services.gateway.keyspace import names_under
from services.gateway.schemas import ApiModel

AUDIT_ROWS = 50
"""Newest audit entries shown."""
RATE_WINDOW_US = 1_000_000
"""Rate-limit use is counted over the last second (the venue's window)."""
_BLOCKED = ":blocked"


class EdgeRow(ApiModel):
    """A symbol's latest edge, as risk keeps it (`EDGE_KEY`), in bps (2 places)."""

    symbol: str
    reported: Bps | None
    measured: Bps | None
    measured_fills: int | None
    """Fills in the measured figure's rolling window."""


class AuditRow(ApiModel):
    """One entry of the `audit` stream (newest first)."""

    time: int
    """Unix ms."""
    type: str
    actor: str
    reason: str
    details: str
    """The rest of the record, as compact JSON."""


class RateRow(ApiModel):
    """One shared venue rate-limit bucket."""

    bucket: str
    used_last_second: int
    """Units admitted in the last second (the limit is the router's configuration)."""
    blocked_until: int | None
    """Unix ms the venue closed the bucket until, while it is closed."""


class GroupRow(ApiModel):
    group: str
    lag: int | None
    """Entries not yet delivered to the group (None when Redis cannot tell)."""
    pending: int
    """Delivered, not acknowledged."""


class StreamRow(ApiModel):
    stream: str
    length: int
    dead_letters: int
    """Entries in `<stream>.dlq`."""
    groups: list[GroupRow]


class Overview(ApiModel):
    """Everything the console reads that no other `/v1` route answers."""

    edge: list[EdgeRow]
    audit: list[AuditRow]
    rate_limits: list[RateRow]
    streams: list[StreamRow]
    unfreeze_cooldown_s: Decimal
    """An unfreeze within this long of the freeze is refused unless forced."""


async def read_overview(redis: Redis, unfreeze_cooldown_s: Decimal) -> Overview:
    """Every part of the overview, read now."""
    return Overview(
        edge=await read_edge(redis),
        audit=await read_audit(redis),
        rate_limits=await read_rate_limits(redis),
        streams=await read_streams(redis),
        unfreeze_cooldown_s=unfreeze_cooldown_s,
    )


async def read_edge(redis: Redis) -> list[EdgeRow]:
    raw: Any = await redis.hgetall(topology.EDGE_KEY)
    rows: dict[str, dict[str, str]] = {}
    for key, value in raw.items():
        symbol, _, kind = text(key).partition("|")
        rows.setdefault(symbol, {})[kind] = text(value)
    return [
        EdgeRow(
            symbol=symbol,
            reported=_decimal(fields.get(EdgeSource.REPORTED.value)),
            measured=_decimal(fields.get(EdgeSource.MEASURED.value)),
            measured_fills=int(fields["fills"]) if "fills" in fields else None,
        )
        for symbol, fields in sorted(rows.items())
    ]


async def read_audit(redis: Redis, count: int = AUDIT_ROWS) -> list[AuditRow]:
    entries: Any = await redis.xrevrange(topology.AUDIT.name, count=count)
    rows = []
    for _, fields in entries:
        data = fields.get(DATA_FIELD)
        if data is None:
            continue
        envelope = Envelope.from_json(data)
        payload = dict(envelope.payload)
        actor, reason = payload.pop("actor", ""), payload.pop("reason", "")
        rows.append(
            AuditRow(
                time=envelope.ts_ns // NS_PER_MS,
                type=envelope.type,
                actor=str(actor or ""),
                reason=str(reason or ""),
                details=json.dumps(payload, separators=(",", ":"), sort_keys=True),
            )
        )
    return rows


async def read_rate_limits(redis: Redis) -> list[RateRow]:
    """Each bucket's use in the last second and how long it is blocked: a SCAN for the
    buckets, then one pipeline."""
    seconds, micros = await redis.time()
    now_us = int(seconds) * 1_000_000 + int(micros)
    names = await names_under(redis, topology.rate_limit_key(""))
    buckets = sorted({name.removesuffix(_BLOCKED) for name in names})
    async with redis.pipeline(transaction=False) as pipe:
        for bucket in buckets:
            pipe.zcount(topology.rate_limit_key(bucket), now_us - RATE_WINDOW_US, "+inf")
            pipe.get(topology.rate_limit_key(bucket + _BLOCKED))
        replies: list[Any] = await pipe.execute()
    rows = []
    for bucket, used, until in zip(buckets, replies[::2], replies[1::2], strict=True):
        until_ms = int(text(until)) if until is not None else None
        blocked = until_ms if until_ms is not None and until_ms * 1000 > now_us else None
        rows.append(RateRow(bucket=bucket, used_last_second=int(used), blocked_until=blocked))
    return rows


async def read_streams(redis: Redis) -> list[StreamRow]:
    """Each stream's length, dead letters and groups: one pipeline for every stream."""
    async with redis.pipeline(transaction=False) as pipe:
        for stream in topology.STREAMS:
            pipe.xlen(stream.name)
            pipe.xlen(stream.dlq.name)
            pipe.xinfo_groups(stream.name)
        # XINFO GROUPS of a stream not created yet is an error: that stream has no groups
        replies: list[Any] = await pipe.execute(raise_on_error=False)
    rows = []
    for i, stream in enumerate(topology.STREAMS):
        length, dead, groups = replies[3 * i : 3 * i + 3]
        if isinstance(groups, ResponseError):  # no such stream yet
            groups = []
        rows.append(
            StreamRow(
                stream=stream.name,
                length=int(length),
                dead_letters=int(dead),
                groups=[_group(g) for g in groups],
            )
        )
    return rows


def _group(info: dict[Any, Any]) -> GroupRow:
    fields = {text(k): v for k, v in info.items()}
    lag = fields.get("lag")
    return GroupRow(
        group=text(fields["name"]),
        lag=None if lag is None else int(lag),
        pending=int(fields.get("pending", 0)),
    )


def _decimal(value: str | None) -> Decimal | None:
    return None if value is None else Decimal(value)
