"""`mmx audit`: read the audit archive back (docs/audit.md).

    mmx audit query --since 2h [--until T] [--order CID] [--type OrderFilled]
        the archived events of a time window, one JSON line each (stream, entry id and the
        envelope), in archive order, each event id once
    mmx audit replay --redis-url URL
        rebuild positions and the order history from the whole archive into an empty Redis

The archive is `--from` (`s3://bucket/prefix`, or a directory), else the one the archive
service's settings name (`MMX_ARCHIVE_BUCKET` and `MMX_ARCHIVE_PREFIX`, or `MMX_ARCHIVE_DIR`),
else the one of the `mmx up` using `--data-dir`. S3 is reached with the AWS credential chain;
`--endpoint-url` and `--region` (else `MMX_ARCHIVE_ENDPOINT_URL`, `MMX_ARCHIVE_REGION`) point
it elsewhere. Times are ISO 8601 (UTC unless an offset is given), Unix milliseconds, or an age
like `90s`, `15m`, `2h`, `3d`. Exit status: 0 done; 1 an object did not match its manifest
(query: left out and said; replay: refused, nothing written) or the target Redis is not empty;
2 the archive or Redis cannot be reached, or a bad argument.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import re
import sys
import time
from collections.abc import Callable, Coroutine
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from pydantic import ValidationError
from redis.exceptions import RedisError

from libs.common.messages import MESSAGE_TYPES
from libs.common.redis_connect import redis_from_url
from services import local_stack
from services.archive.layout import ArchiveCorrupt
from services.archive.reader import ArchiveReader
from services.archive.replay import ReplayReport, replay
from services.archive.settings import ArchiveSettings
from services.archive.store import ArchiveLocation, open_store
from services.operator import table

CORRUPT = 1
UNREACHABLE = 2
"""The archive directory of `mmx up`, inside its data directory."""
_AGE = re.compile(r"^([0-9]+)([smhd])$")
_UNIT_MS = {"s": 1_000, "m": 60_000, "h": 3_600_000, "d": 86_400_000}


class AuditCliError(Exception):
    """A bad argument or no archive to read: said, exit status 2."""


def parse_time(text: str, now_ms: int) -> int:
    """Unix ms of `text`: ISO 8601, Unix ms (digits), or an age before `now_ms` (`15m`)."""
    text = text.strip()
    if text.isdigit():
        return int(text)
    if match := _AGE.fullmatch(text):
        return now_ms - int(match.group(1)) * _UNIT_MS[match.group(2)]
    try:
        moment = datetime.fromisoformat(text.replace("Z", "+00:00"))
    except ValueError:
        raise AuditCliError(
            f"{text!r} is not a time: expected ISO 8601 (2024-05-01T12:00:00Z), Unix "
            "milliseconds, or an age such as 15m, 2h, 3d"
        ) from None
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=UTC)
    return int(moment.timestamp() * 1000)


def resolve_archive(args: argparse.Namespace, environ: dict[str, str]) -> ArchiveLocation:
    """The archive to read: --from, else the archive service's settings, else `mmx up`'s."""
    if args.source:
        try:
            return ArchiveLocation.parse(args.source)
        except ValueError as error:
            raise AuditCliError(str(error)) from None
    named = [ArchiveSettings.env_name(f) for f in ("bucket", "dir")]
    local = Path(args.data_dir).resolve() / local_stack.ARCHIVE_DIR
    try:
        if any(environ.get(name) for name in named):
            return ArchiveSettings().location
        if local.is_dir():
            return ArchiveSettings(dir=local, bucket=None).location
    except ValidationError as error:
        raise AuditCliError(f"the archive settings are invalid: {error}") from None
    raise AuditCliError(
        f"which archive? pass --from s3://bucket/prefix (or a directory), set {named[0]} "
        f"(or {named[1]}), or run it where `mmx up` keeps one ({local} does not exist)"
    )


def _reader(args: argparse.Namespace) -> ArchiveReader:
    location = resolve_archive(args, dict(os.environ))
    region = args.region or os.environ.get(ArchiveSettings.env_name("region")) or None
    endpoint = args.endpoint_url or os.environ.get(ArchiveSettings.env_name("endpoint_url"))
    store = open_store(location, region=region, endpoint_url=endpoint or None)
    return ArchiveReader(store, location.prefix)


async def query(args: argparse.Namespace) -> int:
    now_ms = time.time_ns() // 1_000_000
    since = parse_time(args.since, now_ms)
    until = parse_time(args.until, now_ms) if args.until else now_ms
    if since > until:
        raise AuditCliError(f"--since is after --until ({since} > {until} ms)")
    reader = _reader(args)
    try:
        result = await reader.query(since, until, order=args.order, types=args.type or ())
    finally:
        await reader.store.close()
    out = sys.stdout.buffer
    for event in result.events:
        out.write(event.to_line() + b"\n")
    out.flush()
    for problem in result.corrupt:
        _say(f"left out: {problem}")
    _say(
        f"{len(result.events)} events from {result.objects} objects"
        f" ({result.duplicates} repeated event ids dropped)"
    )
    return CORRUPT if result.corrupt else 0


async def replay_into(args: argparse.Namespace) -> int:
    reader = _reader(args)
    redis = redis_from_url(args.redis_url)
    try:
        keys = int(await redis.dbsize())
        if keys:
            _say(
                f"the target Redis holds {keys} keys: replay rebuilds into an empty one (a "
                "fresh Redis, never the live one); nothing was written"
            )
            return CORRUPT
        try:
            report = await replay(reader, redis)
        except ArchiveCorrupt as error:
            _say(f"refused, nothing was written: {error}")
            return CORRUPT
    finally:
        await redis.aclose()
        await reader.store.close()
    print(_report_text(report, reader))
    return 0


def _report_text(report: ReplayReport, reader: ArchiveReader) -> str:
    rows = [
        [p.symbol, p.qty, p.avg_entry_price or "-", p.realized_pnl, p.fees_paid, p.funding_paid]
        for p in report.positions
    ]
    lines = [
        f"replayed {report.events} events from {report.objects} objects "
        f"({report.duplicates} repeated event ids dropped, {report.unreadable} unreadable): "
        f"{report.fills} fills, {report.fundings} funding settlements, "
        f"{report.orders} orders",
        table(["SYMBOL", "QTY", "ENTRY", "REALIZED", "FEES", "FUNDING"], rows),
    ]
    if report.orphans:
        lines.append(f"{len(report.orphans)} objects without a manifest were left out")
    return "\n".join(lines)


def register(subparsers: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    """Add `audit query | replay` to the `mmx` command."""
    audit = subparsers.add_parser("audit", help="read the audit archive back")
    verbs = audit.add_subparsers(dest="audit_command", required=True)
    query_verb = verbs.add_parser("query", help="archived events of a time window, as JSON lines")
    query_verb.add_argument(
        "--since", required=True, help="from (ISO 8601, Unix ms, or an age: 15m, 2h, 3d)"
    )
    query_verb.add_argument("--until", help="to (same forms; default: now)")
    query_verb.add_argument("--order", metavar="CLIENT_ORDER_ID", help="only this order's events")
    query_verb.add_argument(
        "--type",
        action="append",
        choices=sorted(MESSAGE_TYPES),
        metavar="TYPE",
        help="only this message type (repeatable), e.g. OrderFilled",
    )
    query_verb.set_defaults(func=_runner(query))
    replay_verb = verbs.add_parser(
        "replay", help="rebuild positions and order history into an empty Redis"
    )
    replay_verb.add_argument(
        "--redis-url", required=True, help="the empty Redis to rebuild into (never the live one)"
    )
    replay_verb.set_defaults(func=_runner(replay_into))
    for verb in (query_verb, replay_verb):
        verb.add_argument(
            "--from",
            dest="source",
            metavar="URL",
            help="the archive: s3://bucket/prefix or a directory (default: MMX_ARCHIVE_BUCKET "
            "and MMX_ARCHIVE_PREFIX, or MMX_ARCHIVE_DIR, else the archive of the `mmx up` "
            "using --data-dir)",
        )
        verb.add_argument("--endpoint-url", help="an S3 endpoint other than AWS's (moto, MinIO)")
        verb.add_argument("--region", help="the bucket's AWS region")
        verb.add_argument(
            "--data-dir",
            default=local_stack.DEFAULT_DATA_DIR,
            help=f"the data directory of that `mmx up` (default: ./{local_stack.DEFAULT_DATA_DIR})",
        )


def _runner(
    command: Callable[[argparse.Namespace], Coroutine[Any, Any, int]],
) -> Callable[[argparse.Namespace], int]:
    def run(args: argparse.Namespace) -> int:
        from botocore.exceptions import BotoCoreError, ClientError

        try:
            return asyncio.run(command(args))
        except AuditCliError as error:
            _say(str(error))
        except (BotoCoreError, ClientError, OSError) as error:
            _say(f"the archive cannot be read: {type(error).__name__}: {error}")
        except RedisError as error:
            _say(f"Redis unreachable: {type(error).__name__}: {error}")
        return UNREACHABLE

    return run


def _say(text: str) -> None:
    print(f"mmx audit: {text}", file=sys.stderr, flush=True)
