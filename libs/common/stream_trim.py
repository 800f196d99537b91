"""Trimming the streams consumer groups read: never an entry a group has not acknowledged.

A stream with `maxlen` None (each account's orders.requests, orders.approved, orders.events
and control, the desk's orders.requests and control, audit) is appended without MAXLEN. Every
service's stream-health refresh (every `stream_health_interval_s`) hands the XINFO GROUPS
replies and lengths it read for the streams it consumes to `trim_acked`, which trims each
such stream below the oldest entry any group still needs:

- for each group: its oldest pending entry (delivered, not acknowledged) when it has one,
  else the entry after its last delivered one;
- and never newer than `keep_s` ago, so readers without a group (the gateway's WebSocket
  fan-out) and operators keep a recent window;
- nor within the stream's last `keep` entries when it has a count (control, audit: the
  console reads the last audit lines by range). A refresh removes at most `TRIM_BATCH` entries
  for the count, so a long backlog drains over a few refreshes without one large read.

`XTRIM MINID ~` removes only whole macro nodes below that id, never an entry at or above it.
A group that stops reading therefore holds its stream's history from where it stopped:
`stream_length` grows and StreamBacklogHigh fires long before memory is a problem. N
instances trimming at once are harmless (each trim only removes what all allow).
"""

from __future__ import annotations

import time
from collections.abc import Iterable, Mapping, Sequence
from typing import Any

from redis.asyncio import Redis

from libs.common.domain.ids import AccountId
from libs.common.topology import Stream, consumed

TRIM_BATCH = 10_000
"""Entries a refresh removes at most for a stream's count (`Stream.keep`)."""


def group_trimmed_streams(accounts: Iterable[AccountId]) -> list[Stream]:
    """The streams consumer groups read whose trim waits for their acknowledgements, of a
    desk with `accounts`, by name."""
    read = {s for streams in consumed(accounts).values() for s in streams}
    return sorted((s for s in read if s.maxlen is None), key=lambda s: s.name)


def min_id(*ids: str) -> str:
    """The lowest of stream ids `ms-seq`."""
    return min(ids, key=lambda i: tuple(int(part) for part in i.split("-")))


def after(entry_id: str) -> str:
    """The id just after `entry_id` (the lowest a trim to keep everything after it may use)."""
    ms, seq = entry_id.split("-")
    return f"{ms}-{int(seq) + 1}"


def trim_point(
    groups: Sequence[Mapping[str, Any]], oldest_pending: Mapping[str, str], keep_from: str
) -> str | None:
    """The MINID below which every group is done with `groups` (XINFO GROUPS replies,
    decoded), `oldest_pending` (group -> its oldest pending id) and no later than
    `keep_from`. None when the stream has no group: nothing is known to be done."""
    if not groups:
        return None
    needed = []
    for group in groups:
        name = str(group["name"])
        if int(group.get("pending") or 0) == 0:
            needed.append(after(str(group["last-delivered-id"])))
        elif name in oldest_pending:
            needed.append(oldest_pending[name])
        else:
            return None  # pending entries whose oldest is unknown: trim nothing this round
    return min_id(*needed, keep_from)


async def count_points(
    redis: Redis, streams: Sequence[Stream], lengths: Mapping[str, int]
) -> dict[str, str]:
    """For each of `streams` with a `keep` count: the MINID that keeps its last `keep`
    entries, removing at most `TRIM_BATCH` ("0-0": nothing to remove). `lengths` are the
    streams' XLEN when known (else read here)."""
    kept = [s for s in streams if s.keep is not None]
    unknown = [s for s in kept if s.name not in lengths]
    known = dict(lengths)
    if unknown:
        async with redis.pipeline(transaction=False) as pipe:
            for stream in unknown:
                pipe.xlen(stream.name)
            known |= {s.name: int(n) for s, n in zip(unknown, await pipe.execute(), strict=True)}
    points = {s.name: "0-0" for s in kept}
    over = [(s, min(TRIM_BATCH, known[s.name] - s.keep)) for s in kept if s.keep is not None]
    over = [(s, n) for s, n in over if n > 0]
    if over:
        async with redis.pipeline(transaction=False) as pipe:
            for stream, n in over:
                pipe.xrange(stream.name, "-", "+", count=n)
            oldest = await pipe.execute()
        for (stream, _), entries in zip(over, oldest, strict=True):
            if entries:
                points[stream.name] = after(_text(entries[-1][0]))
    return points


async def trim_acked(
    redis: Redis,
    keep_s: float,
    streams: Sequence[Stream],
    infos: Sequence[Any] | None = None,
    lengths: Mapping[str, int] | None = None,
) -> int:
    """Trim each of `streams` (read by groups) below what its groups still need; `infos`
    are their XINFO GROUPS replies and `lengths` their XLEN when the caller has them (else
    read here). Returns the entries removed."""
    targets = list(streams)
    if infos is None:
        async with redis.pipeline(transaction=False) as pipe:
            for stream in targets:
                pipe.xinfo_groups(stream.name)
            infos = await pipe.execute(raise_on_error=False)
    pending_of: list[tuple[str, str]] = []
    async with redis.pipeline(transaction=False) as pipe:
        for stream, groups in zip(targets, infos, strict=True):
            for group in groups if isinstance(groups, list) else []:
                if int(group.get("pending") or 0) > 0:
                    name = _text(group["name"])
                    pending_of.append((stream.name, name))
                    pipe.xpending(stream.name, name)
        summaries = await pipe.execute(raise_on_error=False) if pending_of else []
    oldest: dict[tuple[str, str], str] = {}
    for key, summary in zip(pending_of, summaries, strict=True):
        if isinstance(summary, dict) and summary.get("min") is not None:
            oldest[key] = _text(summary["min"])
    keep_from = f"{int((time.time() - keep_s) * 1000)}-0"
    counted = await count_points(redis, targets, lengths or {})
    points: list[tuple[str, str]] = []
    for stream, groups in zip(targets, infos, strict=True):
        if not isinstance(groups, list):
            continue  # no such stream yet
        decoded = [{_text(k): _text(v) for k, v in g.items()} for g in groups]
        pending = {g: i for (s, g), i in oldest.items() if s == stream.name}
        keep = min_id(keep_from, counted[stream.name]) if stream.name in counted else keep_from
        point = trim_point(decoded, pending, keep)
        if point is not None:
            points.append((stream.name, point))
    if not points:
        return 0
    async with redis.pipeline(transaction=False) as pipe:
        for name, point in points:
            pipe.xtrim(name, minid=point, approximate=True)
        return sum(int(n) for n in await pipe.execute())


def _text(value: Any) -> str:
    return value.decode() if isinstance(value, bytes) else str(value)
