"""Ending a task for sure, and sleeping until told to stop.

`task.cancel(); await task` hangs for good when something below the task catches the
CancelledError and carries on (a library retry loop, a `wait_for` racing its own timeout on
Python 3.11): the task then waits on its next await with nobody left to cancel it again, and
the process needs a SIGKILL. `cancel_and_wait` cancels again until the task has ended, and
`wait_or_timeout` is the loops' interruptible sleep without `wait_for`.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from typing import Any

log = logging.getLogger(__name__)


async def cancel_and_wait(task: asyncio.Task[Any], *, every_s: float = 0.5) -> None:
    """Cancel `task` and wait until it has ended, cancelling it again every `every_s` while
    it has not (its own exception, if any, is logged, not raised)."""
    attempts = 0
    while not task.done():
        task.cancel()
        attempts += 1
        await asyncio.wait({task}, timeout=every_s)
    if attempts > 1:
        log.warning("task %s ended only after %d cancels", task.get_name(), attempts)
    with contextlib.suppress(asyncio.CancelledError):
        error = task.exception()
        if error is not None:
            log.warning("task %s ended with %r", task.get_name(), error)


async def wait_or_timeout(event: asyncio.Event, timeout_s: float) -> bool:
    """Wait until `event` is set or `timeout_s` has passed; whether it is set. A loop's
    sleep that its stop can cut short, and that a cancel always ends (`asyncio.wait_for`
    on Python 3.11 can swallow a cancel that races its own timeout)."""
    with contextlib.suppress(TimeoutError):
        async with asyncio.timeout(timeout_s):
            await event.wait()
    return event.is_set()
