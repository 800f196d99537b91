"""How every mmx process logs: one line per record, timestamped, with who wrote it.

    2026-12-04T08:01:02.345Z INFO risk host-4242 [cid=9f0c...] services.risk.placing: ...

That is: the time (ISO-8601, UTC, milliseconds), the level, the service, the instance
(`ServiceSettings.instance`), `[cid=...]` when the line is about one bus message (its
envelope's `correlation_id`, which every event caused by a client's command keeps), the
logger, and the message. A traceback or a multi-line message stays on the line: its line
breaks are written as the two characters `\\n`. `configure_logging` sets this up on the root
logger (uvicorn's own loggers write through it too), at the level `MMX_LOG_LEVEL` (default
INFO). Lines go to stderr; `mmx up` puts each service's in `<data dir>/logs/<service>.log`.

A line names its correlation id itself, `log.warning("...", extra={"cid":
envelope.correlation_id})`: what batch handlers do at the lines about one message, so only a
line that fires pays for it. Work on one message alone can instead run inside
`with correlation(envelope.correlation_id):` (a context variable): every line logged inside
it, in that task and in the tasks it starts, carries the id. The lines that carry one are
listed in README.md (Service logs).

Redis going away (the local stack stopping, a failover) makes every loop that talks to it
fail at once. `RedisLossFilter` turns that storm into one line: the first such failure is
logged as `lost Redis at host:port (...)` without its traceback, the following ones are
dropped for `quiet_s`, then counted in one `still no Redis` line. While the process is
stopping (`mark_stopping`, on SIGTERM / SIGINT) the first says `...; stopping` and the rest
are dropped.
"""

from __future__ import annotations

import contextlib
import logging
import os
import time
from collections.abc import Iterator
from contextvars import ContextVar
from datetime import UTC, datetime
from urllib.parse import urlsplit

from redis.exceptions import ConnectionError as RedisConnectionError
from redis.exceptions import TimeoutError as RedisTimeoutError

LEVEL_ENV = "MMX_LOG_LEVEL"
UVICORN_LOGGERS = ("uvicorn", "uvicorn.error", "uvicorn.access")
"""uvicorn's loggers: their own handlers (uvicorn's default dictConfig) are dropped."""
CORRELATION_ID: ContextVar[str | None] = ContextVar("mmx_correlation_id", default=None)
"""The correlation id of the message the current task works on, if any."""


@contextlib.contextmanager
def correlation(cid: str | None) -> Iterator[None]:
    """Within the block, log lines carry `[cid=<cid>]` (None: no id)."""
    token = CORRELATION_ID.set(cid)
    try:
        yield
    finally:
        CORRELATION_ID.reset(token)


class ContextFilter(logging.Filter):
    """Stamp every record with the service, the instance and the correlation id."""

    def __init__(self, service: str, instance: str) -> None:
        super().__init__()
        self.service = service
        self.instance = instance

    def filter(self, record: logging.LogRecord) -> bool:
        record.service = self.service
        record.instance = self.instance
        if getattr(record, "cid", None) is None:
            record.cid = CORRELATION_ID.get()
        return True


def utc_iso(seconds: float) -> str:
    """Epoch `seconds` as ISO-8601 UTC to the millisecond (`2026-12-04T08:01:02.345Z`)."""
    stamp = datetime.fromtimestamp(seconds, UTC).isoformat(timespec="milliseconds")
    return stamp.replace("+00:00", "Z")


class LineFormatter(logging.Formatter):
    """`<time> <LEVEL> <service> <instance> [cid=<id>] <logger>: <message>`, one line."""

    def format(self, record: logging.LogRecord) -> str:
        head = [
            utc_iso(record.created),
            record.levelname,
            str(getattr(record, "service", "-")),
            str(getattr(record, "instance", "-")),
        ]
        if cid := getattr(record, "cid", None):
            head.append(f"[cid={cid}]")
        text = f"{' '.join(head)} {record.name}: {record.getMessage()}"
        if record.exc_info:
            text = f"{text}\n{self.formatException(record.exc_info)}"
        if record.stack_info:
            text = f"{text}\n{self.formatStack(record.stack_info)}"
        return text.replace("\r", "").replace("\n", "\\n")


_stopping = False


def mark_stopping() -> None:
    """The process is stopping (SIGTERM / SIGINT): Redis errors from now on are expected."""
    global _stopping
    _stopping = True


def redis_where(url: str) -> str:
    """Where a Redis URL points, without its password: `host:port` (the sentinels and the
    service name for `redis+sentinel://`), the socket path for `unix://`."""
    parts = urlsplit(url)
    if parts.scheme == "unix":
        return parts.path
    hosts = parts.netloc.rpartition("@")[2]
    if not hosts:
        return parts.scheme or "Redis"
    if parts.scheme.endswith("sentinel"):
        return f"{hosts}{parts.path}"
    return hosts if ":" in hosts.rpartition("]")[2] else f"{hosts}:6379"


def _redis_loss(record: logging.LogRecord) -> BaseException | None:
    """The Redis connection failure behind `record`'s exception, if it is one."""
    error = record.exc_info[1] if record.exc_info else None
    seen = 0
    while error is not None and seen < 10:
        if isinstance(error, RedisConnectionError | RedisTimeoutError):
            return error
        error = error.__cause__ or error.__context__
        seen += 1
    return None


class RedisLossFilter(logging.Filter):
    """One line, not a traceback per loop, when Redis goes away (see the module doc)."""

    def __init__(self, where: str, *, quiet_s: float = 60.0, new_loss_after_s: float = 5.0):
        super().__init__()
        self.where = where
        self.quiet_s = quiet_s
        self.new_loss_after_s = new_loss_after_s
        self._last_logged = float("-inf")
        self._last_seen = float("-inf")
        self._dropped = 0

    def filter(self, record: logging.LogRecord) -> bool:
        error = _redis_loss(record)
        if error is None:
            return True
        now = time.monotonic()
        new_loss = now - self._last_seen > self.new_loss_after_s
        self._last_seen = now
        if new_loss:
            self._dropped = 0
        elif _stopping or now - self._last_logged < self.quiet_s:
            self._dropped += 1
            return False
        what = f"{type(error).__name__}: {error}"
        if new_loss and _stopping:
            message = f"lost Redis at {self.where} ({what}); stopping"
        elif new_loss:
            message = (
                f"lost Redis at {self.where} ({what}): {record.getMessage()}; Redis connection "
                f"errors are not logged again for {self.quiet_s:.0f} s"
            )
        else:
            message = (
                f"still no Redis at {self.where} ({what}); {self._dropped} such errors "
                f"in the last {self.quiet_s:.0f} s were not logged"
            )
            self._dropped = 0
        self._last_logged = now
        record.msg, record.args, record.exc_info, record.exc_text = message, None, None, None
        record.levelno, record.levelname = logging.ERROR, "ERROR"
        return True


def configure_logging(
    service: str, instance: str, *, redis_url: str | None = None, level: str | None = None
) -> logging.Handler:
    """Send every record of this process to stderr as `LineFormatter` lines stamped by
    `ContextFilter` (and `RedisLossFilter` when the process uses Redis); replaces the root
    logger's handlers. The level is `level`, else MMX_LOG_LEVEL, else INFO (or the lower level
    logging was already configured at, e.g. by a `sitecustomize` that turns on DEBUG)."""
    handler = logging.StreamHandler()
    handler.setFormatter(LineFormatter())
    handler.addFilter(ContextFilter(service, instance))
    if redis_url is not None:
        handler.addFilter(RedisLossFilter(redis_where(redis_url)))
    root = logging.getLogger()
    earlier = root.level if root.handlers and root.level != logging.NOTSET else logging.INFO
    for old in root.handlers[:]:
        root.removeHandler(old)
    root.addHandler(handler)
    for name in UVICORN_LOGGERS:  # through the root's handler, whatever configured them before
        server_logger = logging.getLogger(name)
        server_logger.handlers.clear()
        server_logger.propagate, server_logger.disabled = True, False
        server_logger.setLevel(logging.NOTSET)
    chosen = level or os.environ.get(LEVEL_ENV)
    root.setLevel(chosen.upper() if chosen else min(earlier, logging.INFO))
    return handler
