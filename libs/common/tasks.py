"""Ending a task for sure.

`task.cancel(); await task` hangs for good when something below the task catches the
CancelledError and carries on (a library retry loop, a `wait_for` racing its own timeout on
Python 3.11): the task then waits on its next await with nobody left to cancel it again, and
the process needs a SIGKILL. `cancel_and_wait` cancels again until the task has ended.
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
