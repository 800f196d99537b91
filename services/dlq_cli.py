"""`mmx dlq`: look at, replay and drop dead letters, straight in Redis.

    mmx dlq list [--stream S]                 every dead letter: id, source stream, group,
                                              attempts, message type, error
    mmx dlq show ID --stream S                one dead letter whole, its message decoded
    mmx dlq replay ID --stream S --reason R   put its message back on S and remove it from
                                              S's dead letters, in one step
    mmx dlq drop ID --stream S --reason R     remove it for good

`S` is the source stream as `mmx dlq list` names it (`mmx:{alpha}:orders.events`, not its
dead-letter stream): any stream of the desk, each account's of `MMX_ACCOUNTS` (`default` when
unset) and the desk's. A replay appends the original message to S, so every group reading S
sees it again; every handler is idempotent (orders by clientOrderId and version, fills by
execId), which makes a replay safe.

Replay and drop each write their line on the `audit` stream first (`OperatorAction`, with
the caller and the reason: what is about to be done), once the dead letter is found, then
replay or drop it in one Lua step that touches only S and its dead-letter stream (one Redis
Cluster slot; the audit stream is in another, so it cannot be in the same step). No action
goes unrecorded; run again once done, the command finds nothing, changes nothing and writes
no line; two operators at once settle it once (the step finds it gone). The cost of the
order: a crash between the audit line and the step, or another
operator settling the same dead letter in between (the command then says so), leaves an
audit line for a replay or drop that did not happen; rerunning the command completes it
(with a line of its own). `dead_letter_length` and the DeadLettersPresent alert follow the
dead-letter streams.

Redis is `--redis-url`, else `REDIS_URL`, else the embedded Redis of the `mmx up` using
`--data-dir` (default ./.mmx); without any of these the command refuses. Exit status: 0
done, 1 refused or not found, 2 Redis unreachable or not found.
"""

from __future__ import annotations

import argparse
import os
import sys
from collections.abc import Awaitable, Callable, Mapping
from typing import Any

import orjson
import redis.asyncio as aioredis

from libs.common import topology
from libs.common.accounts import parse_accounts
from libs.common.bus import DATA_FIELD, Bus, EnvelopeCodec
from libs.common.domain.ids import DEFAULT_ACCOUNT
from libs.common.messages import Envelope, OperatorAction
from libs.common.stores._support import XADD_LUA, LuaScript, maxlen_arg
from services.operator import table
from services.redis_cli import actor, add_redis_arguments, run_with_redis

ERROR_CHARS = 60

# Replay (KEYS[2] given) or drop a dead letter, in one step: KEYS[1] the dlq, KEYS[2] the
# source stream (same slot); ARGV: the entry id, the source stream's maxlen ('' for a stream
# its groups trim). Returns the replayed entry's new id (1 for a drop), or false when the
# dead letter is not there, or has no message to replay (nothing written).
_SETTLE = LuaScript(
    XADD_LUA
    + """
local found = redis.call('XRANGE', KEYS[1], ARGV[1], ARGV[1])
if #found == 0 then return false end
local result = 1
if KEYS[2] then
  local fields, data = found[1][2], nil
  for i = 1, #fields, 2 do
    if fields[i] == '__data__' then data = fields[i + 1] end
  end
  if not data then return false end
  result = xadd(KEYS[2], ARGV[2], data)
end
redis.call('XDEL', KEYS[1], ARGV[1])
return result
"""
)

Sources = Mapping[str, topology.Stream]
"""The desk's streams, by name."""
Command = Callable[[argparse.Namespace, aioredis.Redis, Sources], Awaitable[int]]


def desk_sources(environ: Mapping[str, str]) -> dict[str, topology.Stream]:
    """Every stream of the desk whose accounts `MMX_ACCOUNTS` names (`default` when unset),
    by name; ValueError if it names none, or one twice or wrongly."""
    accounts = parse_accounts(environ.get("MMX_ACCOUNTS", DEFAULT_ACCOUNT))
    return {s.name: s for s in topology.all_streams(accounts)}


async def list_letters(args: argparse.Namespace, redis: aioredis.Redis, streams: Sources) -> int:
    sources = [streams[args.stream]] if args.stream else list(streams.values())
    async with redis.pipeline(transaction=False) as pipe:
        for source in sources:
            pipe.xrange(source.dlq.name)
        letters: list[Any] = await pipe.execute()
    rows = []
    for source, entries in zip(sources, letters, strict=True):
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


async def show(args: argparse.Namespace, redis: aioredis.Redis, streams: Sources) -> int:
    fields = await _dead_letter(redis, streams[args.stream], args.entry_id)
    if fields is None:
        return 1
    shown: dict[str, Any] = {k: v for k, v in _decoded(fields).items() if k != DATA_FIELD.decode()}
    raw = fields.get(DATA_FIELD)
    try:
        shown["message"] = orjson.loads(raw) if raw is not None else None
    except orjson.JSONDecodeError:
        shown["message"] = (raw or b"").decode(errors="replace")
    print(orjson.dumps(shown, option=orjson.OPT_INDENT_2).decode())
    return 0


async def replay(args: argparse.Namespace, redis: aioredis.Redis, streams: Sources) -> int:
    new_id = await _settle(redis, args, streams[args.stream], replay=True)
    if new_id is not None:
        print(f"replayed {args.entry_id} onto {args.stream} as {new_id}")
    return 0 if new_id is not None else 1


async def drop(args: argparse.Namespace, redis: aioredis.Redis, streams: Sources) -> int:
    done = await _settle(redis, args, streams[args.stream], replay=False)
    if done is not None:
        print(f"dropped {args.entry_id} from {streams[args.stream].dlq.name}")
    return 0 if done is not None else 1


def register(subparsers: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    """Add `dlq list | show | replay | drop` to the `mmx` command."""
    dlq = subparsers.add_parser("dlq", help="look at, replay and drop dead letters")
    add_redis_arguments(dlq)
    verbs = dlq.add_subparsers(dest="dlq_command", required=True)
    listed = verbs.add_parser("list", help="every dead letter, oldest first")
    listed.add_argument("--stream", metavar="STREAM", help="one source stream only")
    listed.set_defaults(func=_runner(list_letters))
    for name, command, what in (
        ("show", show, "one dead letter whole"),
        ("replay", replay, "put a dead letter's message back on its stream"),
        ("drop", drop, "remove a dead letter for good"),
    ):
        verb = verbs.add_parser(name, help=what)
        verb.add_argument("entry_id", metavar="ID", help="the dead letter's id (mmx dlq list)")
        verb.add_argument("--stream", metavar="STREAM", required=True, help="its source stream")
        if name != "show":
            verb.add_argument("--reason", required=True, help="why, for the audit trail")
        verb.set_defaults(func=_runner(command))


def _runner(command: Command) -> Callable[[argparse.Namespace], int]:
    def run(args: argparse.Namespace) -> int:
        try:
            streams = desk_sources(os.environ)
        except ValueError as error:
            _say(f"MMX_ACCOUNTS: {error}")
            return 1
        if args.stream is not None and args.stream not in streams:
            example = topology.ORDERS_EVENTS.of(DEFAULT_ACCOUNT).name
            _say(
                f"{args.stream} is no stream of the accounts of MMX_ACCOUNTS: expected a name "
                f"as `mmx dlq list` shows it, e.g. {example}"
            )
            return 1
        return run_with_redis(args, lambda redis: command(args, redis, streams), _say)

    return run


async def _dead_letter(
    redis: aioredis.Redis, source: topology.Stream, entry_id: str
) -> dict[bytes, bytes] | None:
    """The fields of dead letter `entry_id` of `source`, or None (said) when it is not there."""
    found: Any = await redis.xrange(source.dlq.name, entry_id, entry_id)
    if not found:
        _say(f"no dead letter {entry_id} in {source.dlq.name} (mmx dlq list)")
        return None
    fields: dict[bytes, bytes] = found[0][1]
    return fields


async def _settle(
    redis: aioredis.Redis, args: argparse.Namespace, source: topology.Stream, *, replay: bool
) -> str | None:
    """Replay or drop the dead letter: its audit line first, then the one-slot Lua step; the
    replayed entry's new id ("1" for a drop), or None (said) when it is not there."""
    fields = await _dead_letter(redis, source, args.entry_id)
    if fields is None:
        return None
    if replay and DATA_FIELD not in fields:
        _say(f"dead letter {args.entry_id} holds no message to replay: drop it")
        return None
    entry = OperatorAction(
        action="dlq_replay" if replay else "dlq_drop",
        actor=actor("mmx dlq"),
        reason=args.reason,
        details={"stream": source.name, "id": args.entry_id},
    )
    await Bus(redis, EnvelopeCodec()).publish(topology.AUDIT, Envelope.wrap(entry))
    keys = [source.dlq.name, *([source.name] if replay else [])]
    result = await _SETTLE(redis, keys, [args.entry_id, maxlen_arg(source.maxlen)])
    if not result:
        _say(
            f"no dead letter {args.entry_id} in {source.dlq.name} any more: settled by someone "
            "else since it was found (the audit line just written records an attempt)"
        )
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
