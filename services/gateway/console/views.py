"""What the operator console shows beyond `/v1/risk` (which has the venue circuits),
`/v1/positions` and `/v1/orders`, read from Redis: edge per symbol, the audit trail, the
venue rate-limit buckets and headroom, the reconciliation drift and stream health.

Every reader is read-only: a hash (edge, headroom; the two drift hashes in one pipeline),
one XREVRANGE, one pipeline of XLEN and XINFO GROUPS over every stream of the desk (each
account's of `MMX_ACCOUNTS`, the desk's: `topology.all_streams`), and one pipeline over the
router's known rate-limit buckets (`topology.rate_limit_buckets`). Nothing scans the
keyspace.
"""

from __future__ import annotations

import asyncio
import json
import logging
import time
from collections.abc import Iterable
from decimal import Decimal
from typing import Any

from redis.asyncio import Redis
from redis.exceptions import ResponseError

from libs.common import topology
from libs.common.bus_types import DATA_FIELD
from libs.common.display import Bps, Money, Ratio
from libs.common.domain.ids import AccountId
from libs.common.domain.time import NS_PER_MS
from libs.common.messages import Envelope
from libs.common.metrics import EdgeSource
from libs.common.stores._support import text
from services.gateway.schemas import ApiModel

log = logging.getLogger(__name__)

AUDIT_ROWS = 50
"""Newest audit entries shown."""
RATE_WINDOW_US = 1_000_000
"""Rate-limit use is counted over the last second (the venue's window)."""
HEADROOM_STALE_MS = topology.VENUE_HEADROOM_TTL_MS
"""A venue answer older than this says nothing about its rate-limit window now."""


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


class HeadroomRow(ApiModel):
    """One venue endpoint's rate-limit headroom, from the `X-Bapi-Limit*` headers of its
    latest answer to any router (`VENUE_HEADROOM_KEY`)."""

    endpoint: str
    """The venue path, e.g. `/v5/order/create`."""
    group: str
    """The router's quota group of the endpoint (trade, batch, cancel_all, query)."""
    limit: int
    """Requests the venue admits in its window."""
    remaining: int
    """Requests left in that window when the venue answered."""
    used: Ratio
    """(limit - remaining) / limit, 4 places: 1 when nothing is left."""
    reset_time: int | None
    """Unix ms the venue's window resets."""
    updated_time: int
    """Unix ms of the answer."""
    stale: bool
    """The answer is older than `HEADROOM_STALE_MS`: no data on the window now."""


class DriftRow(ApiModel):
    """A symbol's latest reconciliation with the venue: its position, by the positions
    service (`POSITION_DRIFT_KEY`), and its orders, by the router (`ORDER_DRIFT_KEY`). The
    fields of a side that has not reconciled the symbol are null."""

    symbol: str
    engine_qty: Money | None = None
    """Our signed position, base units."""
    venue_qty: Money | None = None
    """The venue's signed position, base units."""
    qty_drift: Money | None = None
    """|venue qty - our qty| (0 when both agree)."""
    positions_checked_time: int | None = None
    """Unix ms of the position reconciliation."""
    open_orders_drift: int | None = None
    """Orders the router found open on one side only (and repaired)."""
    executions_drift: int | None = None
    """Venue executions the router had to publish itself."""
    orders_checked_time: int | None = None
    """Unix ms of the order reconciliation."""


class GroupRow(ApiModel):
    group: str
    lag: int | None
    """Entries not yet delivered to the group (None when Redis cannot tell)."""
    pending: int
    """Delivered, not acknowledged."""


class StreamRow(ApiModel):
    stream: str
    """Its name: `mmx:{account}:orders.events`, `audit`, ..."""
    length: int
    dead_letters: int
    """Entries in its dead-letter stream."""
    groups: list[GroupRow]


class Overview(ApiModel):
    """Everything the console reads that no other `/v1` route answers."""

    edge: list[EdgeRow]
    audit: list[AuditRow]
    rate_limits: list[RateRow]
    rate_limit_headroom: list[HeadroomRow]
    reconciliation: list[DriftRow]
    streams: list[StreamRow]
    unfreeze_cooldown_s: Decimal
    """An unfreeze within this long of the freeze is refused unless forced."""


async def read_overview(
    redis: Redis, unfreeze_cooldown_s: Decimal, accounts: Iterable[AccountId]
) -> Overview:
    """Every part of the overview of the desk with `accounts`, read now: the parts at once
    (their round trips overlap)."""
    edge, audit, rate_limits, headroom, drift, streams = await asyncio.gather(
        read_edge(redis),
        read_audit(redis),
        read_rate_limits(redis),
        read_headroom(redis),
        read_drift(redis),
        read_streams(redis, accounts),
    )
    return Overview(
        edge=edge,
        audit=audit,
        rate_limits=rate_limits,
        rate_limit_headroom=headroom,
        reconciliation=drift,
        streams=streams,
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
    """Each bucket's use in the last second and how long it is blocked, for the buckets the
    router has used (`rate_limit_buckets`: no scan of the keyspace), in one pipeline."""
    seconds, micros = await redis.time()
    now_us = int(seconds) * 1_000_000 + int(micros)
    buckets = sorted(topology.rate_limit_buckets())
    async with redis.pipeline(transaction=False) as pipe:
        for bucket in buckets:
            pipe.exists(topology.rate_limit_key(bucket), topology.rate_limit_block_key(bucket))
            pipe.zcount(topology.rate_limit_key(bucket), now_us - RATE_WINDOW_US, "+inf")
            pipe.get(topology.rate_limit_block_key(bucket))
        replies: list[Any] = await pipe.execute()
    rows = []
    for bucket, exists, used, until in zip(
        buckets, replies[::3], replies[1::3], replies[2::3], strict=True
    ):
        if not exists:
            continue
        until_ms = int(text(until)) if until is not None else None
        blocked = until_ms if until_ms is not None and until_ms * 1000 > now_us else None
        rows.append(RateRow(bucket=bucket, used_last_second=int(used), blocked_until=blocked))
    return rows


async def read_headroom(redis: Redis, now_ms: int | None = None) -> list[HeadroomRow]:
    """Each venue endpoint's headroom, by group and path: one HGETALL."""
    now_ms = time.time_ns() // 1_000_000 if now_ms is None else now_ms
    raw: Any = await redis.hgetall(topology.VENUE_HEADROOM_KEY)
    rows = []
    for path, value in raw.items():
        endpoint = text(path)
        try:
            record = json.loads(value)
            limit, remaining = int(record["limit"]), int(record["remaining"])
            reset_ms, updated_ms = record.get("reset_ms"), int(record["updated_ms"])
            group = str(record["group"])
        except (ValueError, KeyError, TypeError) as exc:
            log.warning("headroom of %s unreadable (%s): %r", endpoint, exc, value)
            continue
        used = Decimal(1) if limit <= 0 else Decimal(max(0, limit - remaining)) / limit
        rows.append(
            HeadroomRow(
                endpoint=endpoint,
                group=group,
                limit=limit,
                remaining=remaining,
                used=min(used, Decimal(1)),
                reset_time=None if reset_ms is None else int(reset_ms),
                updated_time=updated_ms,
                stale=now_ms - updated_ms > HEADROOM_STALE_MS,
            )
        )
    return sorted(rows, key=lambda r: (r.group, r.endpoint))


async def read_drift(redis: Redis) -> list[DriftRow]:
    """Each symbol's latest position and order reconciliation: two HGETALLs, one pipeline."""
    async with redis.pipeline(transaction=False) as pipe:
        pipe.hgetall(topology.POSITION_DRIFT_KEY)
        pipe.hgetall(topology.ORDER_DRIFT_KEY)
        positions, orders = await pipe.execute()
    rows: dict[str, dict[str, Any]] = {}
    for raw, fields in ((positions, _POSITION_FIELDS), (orders, _ORDER_FIELDS)):
        for symbol, value in raw.items():
            try:
                record = json.loads(value)
                parsed = {name: convert(record[key]) for name, (key, convert) in fields.items()}
            except (ValueError, KeyError, TypeError, ArithmeticError) as exc:
                log.warning("drift of %s unreadable (%s): %r", text(symbol), exc, value)
                continue
            rows.setdefault(text(symbol), {}).update(parsed)
    return [DriftRow(symbol=symbol, **fields) for symbol, fields in sorted(rows.items())]


_POSITION_FIELDS: dict[str, tuple[str, Any]] = {
    "engine_qty": ("engine_qty", Decimal),
    "venue_qty": ("venue_qty", Decimal),
    "qty_drift": ("drift", Decimal),
    "positions_checked_time": ("checked_ms", int),
}
"""`DriftRow` field -> (field of the positions service's JSON, its parser)."""
_ORDER_FIELDS: dict[str, tuple[str, Any]] = {
    "open_orders_drift": ("open_orders", int),
    "executions_drift": ("executions", int),
    "orders_checked_time": ("checked_ms", int),
}
"""`DriftRow` field -> (field of the router's JSON, its parser)."""


async def read_streams(redis: Redis, accounts: Iterable[AccountId]) -> list[StreamRow]:
    """The length, dead letters and groups of every stream of the desk with `accounts`
    (`topology.all_streams`, in its order): one pipeline for them all."""
    streams = topology.all_streams(accounts)
    async with redis.pipeline(transaction=False) as pipe:
        for stream in streams:
            pipe.xlen(stream.name)
            pipe.xlen(stream.dlq.name)
            pipe.xinfo_groups(stream.name)
        # XINFO GROUPS of a stream not created yet is an error: that stream has no groups
        replies: list[Any] = await pipe.execute(raise_on_error=False)
    rows = []
    for i, stream in enumerate(streams):
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
