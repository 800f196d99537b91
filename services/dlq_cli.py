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
drop are one Lua step each, their line on the `audit` stream (`OperatorAction`, with the
caller and the reason) included: run twice (two operators), the second finds nothing and
changes nothing, and no action goes unrecorded. `dead_letter_length` and the
DeadLettersPresent alert follow the dead-letter streams. Redis is `--redis-url`, else
`REDIS_URL`, else the embedded Redis of the `mmx up` using `--data-dir` (default ./.mmx);
without any of these the command refuses. Exit status: 0 done, 1 refused or not found,
2 Redis unreachable or not found.
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Awaitable, Callable
from typing import Any

import orjson
import redis.asyncio as aioredis

from libs.common import topology
from libs.common.bus import DATA_FIELD
from libs.common.messages import Envelope, OperatorAction
from libs.common.stores._support import XADD_LUA, LuaScript, maxlen_arg
from services.operator import table
from services.redis_cli import actor, add_redis_arguments, run_with_redis

SOURCES = {s.name: s for s in topology.STREAMS}
ERROR_CHARS = 60

# Replay (KEYS[3] given) or drop a dead letter, and write its audit line, in one step: KEYS[1]
# the dlq, KEYS[2] the audit stream, KEYS[3] the source stream; ARGV: the entry id, the audit
# stream's maxlen, the audit entry, the source stream's maxlen ('' for a stream its groups
# trim, as both are).
# Returns the replayed entry's new id (1 for a drop), or false when the dead letter is not
# there (nothing written).
_SETTLE = LuaScript(
    XADD_LUA
    + """
local found = redis.call('XRANGE', KEYS[1], ARGV[1], ARGV[1])
if #found == 0 then return false end
local result = 1
if KEYS[3] then
  local fields, data = found[1][2], nil
  for i = 1, #fields, 2 do
    if fields[i] == '__data__' then data = fields[i + 1] end
  end
  if not data then return false end
  result = xadd(KEYS[3], ARGV[4], data)
end
redis.call('XDEL', KEYS[1], ARGV[1])
xadd(KEYS[2], ARGV[2], ARGV[3])
return result
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
    new_id = await _settle(redis, args, "dlq_replay", replay=True)
    if new_id is not None:
        print(f"replayed {args.entry_id} onto {args.stream} as {new_id}")
    return 0 if new_id is not None else 1


async def drop(args: argparse.Namespace, redis: aioredis.Redis) -> int:
    done = await _settle(redis, args, "dlq_drop", replay=False)
    if done is not None:
        print(f"dropped {args.entry_id} from {args.stream}.dlq")
    return 0 if done is not None else 1


def register(subparsers: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    """Add `dlq list | show | replay | drop` to the `mmx` command."""
    dlq = subparsers.add_parser("dlq", help="look at, replay and drop dead letters")
    add_redis_arguments(dlq)
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


async def _settle(
    redis: aioredis.Redis, args: argparse.Namespace, action: str, *, replay: bool
) -> str | None:
    """Replay or drop the dead letter with its audit line (one Lua step); the replayed
    entry's new id ("1" for a drop), or None (said) when it is not there."""
    source, audit = SOURCES[args.stream], topology.AUDIT
    entry = OperatorAction(
        action=action,
        actor=actor("mmx dlq"),
        reason=args.reason,
        details={"stream": source.name, "id": args.entry_id},
    )
    keys = [source.dlq.name, audit.name, *([source.name] if replay else [])]
    data = Envelope.wrap(entry).to_json()
    argv = [args.entry_id, maxlen_arg(audit.maxlen), data, maxlen_arg(source.maxlen)]
    result = await _SETTLE(redis, keys, argv)
    if not result:
        _say(f"no dead letter {args.entry_id} in {source.name}.dlq: replayed or dropped already?")
        return None
    return result.decode() if isinstance(result, bytes) else str(result)


def _decoded(fields: dict[bytes, bytes]) -> dict[str, str]:
    return {k.decode(): v.decode(errors="replace") for k, v in fields.items()}


def _message_type(raw: bytes | None) -> str:
    try:
        return str(orjson.loads(raw or b"{}").get("type", "?"))
    except (orjson.JSONDecodeError, AttributeError):
        return "undecodable"


def _say(text: str) -> None:
    print(f"mmx dlq: {text}", file=sys.stderr)
