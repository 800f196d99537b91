"""`mmx keys`: issue, list and revoke the gateway's API keys, straight in Redis.

    mmx keys create --role trader --name alice    print a new key ONCE; Redis keeps its hash
    mmx keys create --role trader --name bob --accounts alpha,beta
                                                  a key that reads and trades only those
                                                  accounts (default: default; '*': all)
    mmx keys create --role viewer --name grafana --secret-record
                                                  print a key and its record for the secret
                                                  {env}/gateway/api-keys; nothing is stored
    mmx keys list                                 id, name, role, accounts, created, revoked
    mmx keys revoke ID [--reason TEXT]            refused at the next request, every gateway
    mmx keys revoke ID --tombstone                block an id Redis does not know (a key
                                                  listed in the secret) until the secret changes

The key goes to stdout alone (`KEY=$(mmx keys create ...)`), everything else to stderr.
Redis is `--redis-url` (a URL with a password is then visible in `ps`), else `REDIS_URL`,
else the embedded Redis of the `mmx up` using `--data-dir` (default ./.mmx); without any
of these the command refuses rather than guess. Every create and revoke is appended to the
`audit` stream (`OperatorAction`) under the caller's login name. Exit status: 0 done,
1 refused, 2 Redis unreachable or not found. `python -m services.keys_cli ...` works as
`mmx keys ...`.
"""

from __future__ import annotations

import argparse
import json
import re
import sys
import time
from collections.abc import Awaitable, Callable, Sequence
from datetime import UTC, datetime

import redis.asyncio as aioredis

from libs.common import topology
from libs.common.api_keys import (
    KEY_ID_PATTERN,
    ApiKeyRecord,
    OperatorAction,
    RedisApiKeyStore,
    Role,
    issue_key,
    parse_bound_accounts,
)
from libs.common.bus import Bus
from libs.common.messages import Envelope
from libs.common.service import EnvelopeCodec
from services.operator import table
from services.redis_cli import actor, add_redis_arguments, run_with_redis

TOMBSTONE_NAME = "tombstone"

Command = Callable[[argparse.Namespace, RedisApiKeyStore, Bus[Envelope]], Awaitable[int]]


async def create(args: argparse.Namespace, store: RedisApiKeyStore, bus: Bus[Envelope]) -> int:
    issued = issue_key()
    try:
        accounts = parse_bound_accounts(args.accounts)
    except ValueError as error:
        _say(f"--accounts {args.accounts!r}: {error}")
        return 2
    record = ApiKeyRecord.issue(
        issued, Role(args.role), args.name, now_ns=time.time_ns(), accounts=accounts
    )
    if args.secret_record:
        entry = {"id": record.key_id, "hash": record.key_hash, "role": record.role.value,
                 "name": record.name, "created_ns": record.created_ns,
                 "accounts": list(record.accounts)}  # fmt: skip
        print(issued.key)
        print(json.dumps(entry))
        _say("line 2 is the record to append to the secret's list; nothing was stored in Redis")
        return 0
    if not await store.create(record):
        _say(f"key id {record.key_id} is taken (a one-in-2^48 draw): run the command again")
        return 1
    await _audit(bus, "api_key_created", args, record)
    print(issued.key)
    _say(
        f"API key {record.actor}, role {record.role}, accounts {','.join(record.accounts)}. "
        "It is shown this once: only its hash is "
        "stored. Hand it over privately; it goes in the X-API-Key header (or Bearer)."
    )
    return 0


async def list_keys(args: argparse.Namespace, store: RedisApiKeyStore, bus: Bus[Envelope]) -> int:
    rows = [
        [
            r.key_id,
            r.name,
            r.role,
            ",".join(r.accounts),
            _time(r.created_ns),
            _time(r.revoked_ns) if r.revoked else "-",
        ]
        for r in await store.all()
    ]
    print(table(["ID", "NAME", "ROLE", "ACCOUNTS", "CREATED", "REVOKED"], rows))
    return 0


async def revoke(args: argparse.Namespace, store: RedisApiKeyStore, bus: Bus[Envelope]) -> int:
    tombstone = TOMBSTONE_NAME if args.tombstone else None
    record = await store.revoke(args.key_id, now_ns=time.time_ns(), tombstone_name=tombstone)
    if record is None:
        _say(
            f"no key with id {args.key_id} in Redis. A key listed in the secret "
            "{env}/gateway/api-keys: remove it there, and pass --tombstone to block it now"
        )
        return 1
    await _audit(bus, "api_key_revoked", args, record)
    print(f"revoked {record.actor} ({record.role}); every gateway refuses it from now on")
    return 0


async def _audit(
    bus: Bus[Envelope], action: str, args: argparse.Namespace, r: ApiKeyRecord
) -> None:
    details = {
        "keyId": r.key_id,
        "name": r.name,
        "role": r.role.value,
        "accounts": ",".join(r.accounts),
    }
    entry = OperatorAction(
        action=action, actor=_actor(), reason=getattr(args, "reason", "") or "", details=details
    )
    await bus.publish(topology.AUDIT, Envelope.wrap(entry))


def register(subparsers: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    """Add `keys create | list | revoke` to the `mmx` command."""
    keys = subparsers.add_parser("keys", help="issue, list and revoke gateway API keys")
    add_redis_arguments(keys)
    verbs = keys.add_subparsers(dest="keys_command", required=True)
    made = verbs.add_parser("create", help="issue a key; it is printed once")
    made.add_argument("--role", required=True, choices=[r.value for r in Role])
    made.add_argument("--name", required=True, help="who holds it, e.g. alice or strat-btc")
    made.add_argument(
        "--accounts",
        default="default",
        help="the accounts it reads and trades, comma-separated, or '*' for every account and "
        "the desk-wide actions (default: default)",
    )
    made.add_argument(
        "--secret-record",
        action="store_true",
        help="print the record for the secret {env}/gateway/api-keys instead of storing it",
    )
    made.set_defaults(func=_runner(create))
    listed = verbs.add_parser("list", help="every key: id, name, role, created, revoked")
    listed.set_defaults(func=_runner(list_keys))
    gone = verbs.add_parser("revoke", help="refuse a key from now on")
    gone.add_argument("key_id", metavar="ID", help="the key's id (mmx keys list)")
    gone.add_argument("--reason", default="", help="why, for the audit trail")
    gone.add_argument("--tombstone", action="store_true", help="block an id Redis has no record of")
    gone.set_defaults(func=_runner(revoke))


def _runner(command: Command) -> Callable[[argparse.Namespace], int]:
    def run(args: argparse.Namespace) -> int:
        if getattr(args, "key_id", None) is not None and not _is_key_id(args.key_id):
            _say(f"{args.key_id[:4]}… is not a key id: expected what `mmx keys list` shows")
            return 1

        async def use(redis: aioredis.Redis) -> int:
            return await command(args, RedisApiKeyStore(redis), Bus(redis, EnvelopeCodec()))

        try:
            return run_with_redis(args, use, _say)
        except ValueError as error:  # a name or id the record refuses
            _say(f"refused: {error}")
            return 1

    return run


def _is_key_id(value: str) -> bool:
    return re.fullmatch(KEY_ID_PATTERN, value) is not None


def _actor() -> str:
    return actor("mmx keys")


def _time(ns: int | None) -> str:
    if not ns:
        return "-"
    return datetime.fromtimestamp(ns / 1e9, UTC).strftime("%Y-%m-%d %H:%M:%S UTC")


def _say(text: str) -> None:
    print(f"mmx keys: {text}", file=sys.stderr)


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="mmx")
    register(parser.add_subparsers(dest="command", required=True))
    args = parser.parse_args(["keys", *(sys.argv[1:] if argv is None else argv)])
    result: int = args.func(args)
    return result


if __name__ == "__main__":
    sys.exit(main())
