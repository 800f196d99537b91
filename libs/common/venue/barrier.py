"""The send barrier: whether a create or an amend may go out, decided right before its bytes.

The router closes the barrier the moment it learns of a freeze, before it sweeps, and opens
it when trading resumes. Every POST to a gated path (create, amend and their batches) passes
`sending` right before the request is written, each internal resend included (after an
ambiguous answer, a 10006 or a 10002): a closed barrier refuses it with `SendRefused`, and
the venue is never called. Cancels are never gated: they only reduce risk.

Sends admitted while the barrier was open are counted until they resolve, so the sweep can
wait for them (`quiesce`) before it confirms the venue flat. A send that ended without an
answer (a timeout, a dropped connection) may still reach the venue until its signature's
`recv_window` runs out: `doubtful_until_ms` says until when, and `doubtful` which orders.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Iterator
from contextlib import contextmanager

from libs.common.tasks import wait_or_timeout
from libs.common.venue.errors import VenueUnavailable

GATED_PATHS = frozenset(
    {
        "/v5/order/create",
        "/v5/order/amend",
        "/v5/order/create-batch",
        "/v5/order/amend-batch",
    }
)
"""The venue calls that add or increase exposure: what a freeze must stop."""


class SendRefused(VenueUnavailable):
    """A gated call refused by a closed barrier (trading is frozen): nothing was sent."""

    def __init__(self, path: str) -> None:
        super().__init__(path, "refused by the send barrier: trading is frozen", sent=False)


class SendBarrier:
    """See the module docstring. Starts closed: the router opens it once it has read the
    trading state."""

    def __init__(self, *, recv_window_ms: int, is_open: bool = False) -> None:
        self._open = is_open
        self._recv_window_ms = recv_window_ms
        self._in_flight = 0
        self._idle = asyncio.Event()
        self._idle.set()
        self.doubtful_until_ms = 0
        """Wall ms until which a send that got no answer may still reach the venue."""
        self.refused = 0
        """Gated sends refused since start."""

    @property
    def is_open(self) -> bool:
        return self._open

    @property
    def in_flight(self) -> int:
        """Gated sends written (or about to be) and not resolved yet."""
        return self._in_flight

    def open(self) -> None:
        self._open = True

    def close(self) -> None:
        """Refuse every gated send from now on; those in flight go on and are counted."""
        self._open = False

    @contextmanager
    def sending(self, path: str) -> Iterator[None]:
        """Around one request to `path`: refused if gated and closed; counted while open."""
        if path not in GATED_PATHS:
            yield
            return
        if not self._open:
            self.refused += 1
            raise SendRefused(path)
        self._in_flight += 1
        self._idle.clear()
        started_ms = time.time_ns() // 1_000_000
        try:
            yield
        except VenueUnavailable as error:
            if error.sent:  # no answer: it may still land until its recv_window runs out
                self.doubt(started_ms)
            raise
        except BaseException:
            self.doubt(started_ms)
            raise
        finally:
            self._in_flight -= 1
            if self._in_flight == 0:
                self._idle.set()

    def doubt(self, started_ms: int) -> None:
        """A send started at `started_ms` has an unknown outcome."""
        self.doubtful_until_ms = max(self.doubtful_until_ms, started_ms + self._recv_window_ms)

    async def quiesce(self, timeout_s: float) -> bool:
        """Wait until no gated send is in flight; False if some still are after `timeout_s`."""
        return await wait_or_timeout(self._idle, timeout_s)
