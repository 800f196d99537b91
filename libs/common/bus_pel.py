"""Consumer-group plumbing over redis-py: groups, the PEL, claims, dead letters.

Every function takes the client explicitly and does one Redis round trip or one pipeline.
"""

from __future__ import annotations

import logging
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from redis.asyncio import Redis
from redis.exceptions import ResponseError

from libs.common.bus_types import DATA_FIELD, ConsumerSpec

log = logging.getLogger(__name__)

Entry = tuple[bytes, dict[bytes, bytes]]
"""A stream entry as redis-py returns it: id and field map."""

# Decide, atomically with the PEL, whether a failed entry is retried or dead-lettered.
# Returns 0 if the entry is no longer pending (acked or trimmed meanwhile), its delivery count
# if it stays pending for a retry, or minus its delivery count once moved to the DLQ and acked.
_SETTLE_LUA = """
local p = redis.call('XPENDING', KEYS[1], ARGV[1], ARGV[2], ARGV[2], 1)
if #p == 0 then return 0 end
local attempts = p[1][4]
if attempts < tonumber(ARGV[3]) then return attempts end
redis.call('XADD', KEYS[2], 'MAXLEN', '~', ARGV[4], '*',
    'stream', KEYS[1], 'id', ARGV[2], 'group', ARGV[1], 'consumer', p[1][2],
    'attempts', attempts, 'error', ARGV[5], '__data__', ARGV[6])
redis.call('XACK', KEYS[1], ARGV[1], ARGV[2])
return -attempts
"""
# XCLAIM each id that is still pending in this consumer; return {id, fields, deliveries}.
# Entries trimmed from the stream are dropped from the PEL by XCLAIM and not returned.
_RECLAIM_OWN_LUA = """
local taken = {}
for i = 3, #ARGV do
    local p = redis.call('XPENDING', KEYS[1], ARGV[1], ARGV[i], ARGV[i], 1, ARGV[2])
    if #p == 1 then
        local e = redis.call('XCLAIM', KEYS[1], ARGV[1], ARGV[2], 0, ARGV[i])
        if #e == 1 and e[1] then
            taken[#taken + 1] = {e[1][1], e[1][2], p[1][4] + 1}
        end
    end
end
return taken
"""
_MAX_ERROR_CHARS = 2_000


@dataclass(frozen=True, slots=True)
class Failure:
    """A message whose handling failed, to be retried or dead-lettered."""

    entry_id: bytes
    data: bytes
    error: BaseException
    poison: bool
    """Dead-letter at once whatever the delivery count (PoisonMessage, undecodable entry)."""


@dataclass(frozen=True, slots=True)
class DeadLetter:
    """An entry of a `<stream>.dlq` stream, as `settle_failures` wrote it."""

    dlq_id: str
    stream: str
    entry_id: str
    group: str
    consumer: str
    attempts: int
    error: str
    data: bytes

    @classmethod
    def from_entry(cls, entry: Entry) -> DeadLetter:
        dlq_id, fields = entry
        text = {k.decode(): v.decode(errors="replace") for k, v in fields.items()}
        return cls(
            dlq_id=dlq_id.decode(),
            stream=text["stream"],
            entry_id=text["id"],
            group=text["group"],
            consumer=text["consumer"],
            attempts=int(text["attempts"]),
            error=text["error"],
            data=fields[DATA_FIELD],
        )


async def ensure_group(redis: Redis, stream: str, group: str, start_id: str) -> bool:
    """Create `group` on `stream` (and the stream) at `start_id`; return False if it existed."""
    try:
        await redis.xgroup_create(stream, group, id=start_id, mkstream=True)
    except ResponseError as exc:
        if "BUSYGROUP" not in str(exc):
            raise
        return False
    return True


def is_nogroup(exc: BaseException) -> bool:
    """Tell whether Redis refused a command because the group (or its stream) is gone."""
    return isinstance(exc, ResponseError) and str(exc).startswith("NOGROUP")


def parse_read(response: Any) -> list[Entry]:
    """Entries of an XREAD/XREADGROUP reply on one stream (RESP2), skipping deleted ones."""
    if not response:
        return []
    ((_stream, entries),) = response
    return [(entry_id, fields) for entry_id, fields in entries if fields is not None]


async def settle_failures(
    redis: Redis, spec: ConsumerSpec, failures: Sequence[Failure]
) -> list[int]:
    """Retry or dead-letter each failure atomically; results as in `_SETTLE_LUA`."""
    async with redis.pipeline(transaction=False) as pipe:
        for failure in failures:
            pipe.eval(
                _SETTLE_LUA,
                2,
                spec.stream.name,
                spec.stream.dlq.name,
                spec.group,
                failure.entry_id,
                0 if failure.poison else spec.max_deliveries,
                spec.stream.dlq.length_cap,
                describe_error(failure.error),
                failure.data,
            )
        return [int(r) for r in await pipe.execute()]


def describe_error(error: BaseException) -> str:
    """One line for the DLQ: `Type: message`, bounded in length."""
    text = f"{type(error).__name__}: {error}"
    if error.__cause__ is not None:
        text += f" (caused by {type(error.__cause__).__name__}: {error.__cause__})"
    return text[:_MAX_ERROR_CHARS]


async def delivery_counts(
    redis: Redis, stream: str, group: str, entry_ids: Sequence[bytes]
) -> dict[bytes, int]:
    """Delivery count of each entry still pending in `group` (absent ones are left out)."""
    async with redis.pipeline(transaction=False) as pipe:
        for entry_id in entry_ids:
            pipe.xpending_range(stream, group, min=entry_id, max=entry_id, count=1)
        replies = await pipe.execute()
    return {reply[0]["message_id"]: int(reply[0]["times_delivered"]) for reply in replies if reply}


async def autoclaim(
    redis: Redis, spec: ConsumerSpec, cursor: bytes
) -> tuple[bytes, list[Entry], list[bytes]]:
    """XAUTOCLAIM one page of entries idle longer than `claim_idle_ms`.

    Return the next cursor (`0-0` after a full scan), the claimed entries, and the ids that
    were pending but whose entries had been trimmed (Redis drops them from the PEL).
    """
    reply = await redis.xautoclaim(
        spec.stream.name,
        spec.group,
        spec.consumer,
        min_idle_time=spec.claim_idle_ms,
        start_id=cursor,
        count=spec.max_records,
    )
    next_cursor, entries, *rest = reply
    deleted: list[bytes] = list(rest[0]) if rest else []
    claimed = [(entry_id, fields) for entry_id, fields in entries if fields is not None]
    return next_cursor, claimed, deleted


async def reclaim_own(
    redis: Redis, spec: ConsumerSpec, entry_ids: Sequence[bytes]
) -> tuple[list[Entry], dict[bytes, int]]:
    """Redeliver to this consumer those of `entry_ids` it still owns (XCLAIM bumps their
    delivery count); return them and their delivery counts. An entry another consumer claimed
    meanwhile is theirs now and is left alone."""
    reply: Any = await redis.eval(
        _RECLAIM_OWN_LUA, 1, spec.stream.name, spec.group, spec.consumer, *entry_ids
    )
    entries: list[Entry] = []
    attempts: dict[bytes, int] = {}
    for entry_id, flat, delivered in reply:
        entries.append((entry_id, dict(zip(flat[::2], flat[1::2], strict=True))))
        attempts[entry_id] = int(delivered)
    return entries, attempts


async def release_consumer(redis: Redis, stream: str, group: str, consumer: str) -> bool:
    """Delete `consumer` from the group if it has nothing pending; return whether it did."""
    pending = await redis.xpending_range(stream, group, "-", "+", 1, consumername=consumer)
    if pending:
        return False
    await redis.xgroup_delconsumer(stream, group, consumer)
    return True


async def reap_idle_consumers(redis: Redis, stream: str, group: str, idle_ms: int) -> list[str]:
    """Delete the group's consumers idle for `idle_ms` with nothing pending (dead processes)."""
    reaped: list[str] = []
    for info in await redis.xinfo_consumers(stream, group):
        name = _text(info["name"])
        if int(info["pending"]) == 0 and int(info["idle"]) >= idle_ms:
            await redis.xgroup_delconsumer(stream, group, name)
            reaped.append(name)
    return reaped


def _text(value: bytes | str) -> str:
    return value.decode() if isinstance(value, bytes) else value


def fields_as_data(fields: Mapping[bytes, bytes]) -> bytes:
    """The bytes to keep in the DLQ for an entry: its data field, else a dump of all fields."""
    data = fields.get(DATA_FIELD)
    if data is not None:
        return data
    return repr(dict(fields)).encode()
