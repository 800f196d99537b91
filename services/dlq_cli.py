"""`mmx dlq`: look at, replay and drop dead letters, straight in Redis.

    mmx dlq list [--stream S]                 every dead letter: id, source stream, group,
                                              attempts, message type, error
    mmx dlq show ID --stream S                one dead letter whole, its message decoded
    mmx dlq replay ID --stream S --reason R   put its message back on S and remove it from
                                              S.dlq, in one step
    mmx dlq drop ID --stream S --reason R     remove it for good

`S` is the source stream (orders.events, not orders.events.dlq). A replay appends the
original message to S, so every group reading S sees it again; every handler is idempotent
(orders by clientOrderId and version, fills by execId), which makes a replay safe. Replay and
drop are one Lua step each: run twice (two operators), the second finds nothing and changes
nothing. Each is appended to the `audit` stream (`OperatorAction`) with the caller and the
reason; `dead_letter_length` and the DeadLettersPresent alert follow the dead-letter streams.
Redis is `REDIS_URL` (or `--redis-url`), else redis://127.0.0.1:6379/0. Exit status: 0 done,
1 refused or not found, 2 Redis unreachable.
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Awaitable, Callable
from typing import Any

import orjson
import redis.asyncio as aioredis

from libs.common import topology
from libs.common.bus import DATA_FIELD, Bus
from libs.common.messages import Envelope, OperatorAction
from libs.common.service import EnvelopeCodec
from libs.common.stores._support import LuaScript
from services.operator import table
from services.redis_cli import DEFAULT_REDIS_URL, actor, run_with_redis

SOURCES = {s.name: s for s in topology.STREAMS}
ERROR_CHARS = 60

# Move a dead letter back to its stream: KEYS[1] the dlq, KEYS[2] the source stream; ARGV[1]
# the entry id. Returns the new entry's id, or false when the dead letter is not there.
_REPLAY = LuaScript(
    """
local found = redis.call('XRANGE', KEYS[1], ARGV[1], ARGV[1])
if #found == 0 then return false end
local fields = found[1][2]
local data = nil
for i = 1, #fields, 2 do
  if fields[i] == '__data__' then data = fields[i + 1] end
end
if not data then return false end
local id = redis.call('XADD', KEYS[2], '*', '__data__', data)
redis.call('XDEL', KEYS[1], ARGV[1])
return id
"""
)

Command = Callable[[argparse.Namespace, aioredis.Redis], Awaitable[int]]


async def list_letters(args: argparse.Namespace, redis: aioredis.Redis) -> int:
    sources = [SOURCES[args.stream]] if args.stream else list(SOURCES.values())
    rows = []
    for source in sources:
        entries: Any = await redis.xrange(source.dlq.name)
        for entry_id, fields in entries:
            f = _decoded(fields)
            error = f.get("error", "")
            rows.append(
                [
                    entry_id.decode(),
                    source.name,
                    f.get("group", "-"),
                    f.get("attempts", "-"),
                    _message_type(fields.get(DATA_FIELD)),
                    error[:ERROR_CHARS] + ("…" if len(error) > ERROR_CHARS else ""),
                ]
            )
    print(table(["ID", "STREAM", "GROUP", "ATTEMPTS", "TYPE", "ERROR"], rows))
    return 0


async def show(args: argparse.Namespace, redis: aioredis.Redis) -> int:
    found: Any = await redis.xrange(SOURCES[args.stream].dlq.name, args.entry_id, args.entry_id)
    if not found:
        _say(f"no dead letter {args.entry_id} in {args.stream}.dlq (mmx dlq list)")
        return 1
    fields = found[0][1]
    shown: dict[str, Any] = {k: v for k, v in _decoded(fields).items() if k != DATA_FIELD.decode()}
    raw = fields.get(DATA_FIELD)
    try:
        shown["message"] = orjson.loads(raw) if raw is not None else None
    except orjson.JSONDecodeError:
        shown["message"] = (raw or b"").decode(errors="replace")
    print(orjson.dumps(shown, option=orjson.OPT_INDENT_2).decode())
    return 0


async def replay(args: argparse.Namespace, redis: aioredis.Redis) -> int:
    source = SOURCES[args.stream]
    new_id = await _REPLAY(redis, [source.dlq.name, source.name], [args.entry_id])
    if not new_id:
        _say(f"no dead letter {args.entry_id} in {source.name}.dlq: replayed or dropped already?")
        return 1
    new = new_id.decode() if isinstance(new_id, bytes) else str(new_id)
    await _audit(redis, "dlq_replay", args, {"stream": source.name, "id": args.entry_id, "as": new})
    print(f"replayed {args.entry_id} onto {source.name} as {new}")
    return 0


async def drop(args: argparse.Namespace, redis: aioredis.Redis) -> int:
    source = SOURCES[args.stream]
    if not await redis.xdel(source.dlq.name, args.entry_id):
        _say(f"no dead letter {args.entry_id} in {source.name}.dlq: replayed or dropped already?")
        return 1
    await _audit(redis, "dlq_drop", args, {"stream": source.name, "id": args.entry_id})
    print(f"dropped {args.entry_id} from {source.name}.dlq")
    return 0


def register(subparsers: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    """Add `dlq list | show | replay | drop` to the `mmx` command."""
    dlq = subparsers.add_parser("dlq", help="look at, replay and drop dead letters")
    dlq.add_argument("--redis-url", help=f"Redis (default: REDIS_URL, else {DEFAULT_REDIS_URL})")
    verbs = dlq.add_subparsers(dest="dlq_command", required=True)
    listed = verbs.add_parser("list", help="every dead letter, oldest first")
    listed.add_argument("--stream", choices=sorted(SOURCES), help="one source stream only")
    listed.set_defaults(func=_runner(list_letters))
    for name, command, what in (
        ("show", show, "one dead letter whole"),
        ("replay", replay, "put a dead letter's message back on its stream"),
        ("drop", drop, "remove a dead letter for good"),
    ):
        verb = verbs.add_parser(name, help=what)
        verb.add_argument("entry_id", metavar="ID", help="the dead letter's id (mmx dlq list)")
        verb.add_argument("--stream", required=True, choices=sorted(SOURCES), help="its source")
        if name != "show":
            verb.add_argument("--reason", required=True, help="why, for the audit trail")
        verb.set_defaults(func=_runner(command))


def _runner(command: Command) -> Callable[[argparse.Namespace], int]:
    def run(args: argparse.Namespace) -> int:
        return run_with_redis(args, lambda redis: command(args, redis), _say)

    return run


async def _audit(
    redis: aioredis.Redis, action: str, args: argparse.Namespace, details: dict[str, str]
) -> None:
    entry = OperatorAction(
        action=action, actor=actor("mmx dlq"), reason=args.reason, details=details
    )
    await Bus(redis, EnvelopeCodec()).publish(topology.AUDIT, Envelope.wrap(entry))


def _decoded(fields: dict[bytes, bytes]) -> dict[str, str]:
    return {k.decode(): v.decode(errors="replace") for k, v in fields.items()}


def _message_type(raw: bytes | None) -> str:
    try:
        return str(orjson.loads(raw or b"{}").get("type", "?"))
    except (orjson.JSONDecodeError, AttributeError):
        return "undecodable"


def _say(text: str) -> None:
    print(f"mmx dlq: {text}", file=sys.stderr)
