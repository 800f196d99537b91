"""Obeying a freeze: every router instance follows `control` and, on FROZEN, flattens the book.

Each instance reads `control` without a group, so each sees every broadcast. On a FROZEN
broadcast (or at start-up, when the freeze key already says FROZEN) it cancels everything at
the venue (cancel-all per configured symbol), then lists the venue's open orders over REST
and repeats, with backoff, until the venue has none: each attempt is logged and sets
`reconciliation_drift{kind="open_orders"}` to what is still open. The records follow from
the venue's cancel pushes (private-stream holder) and reconciliation. An ACTIVE broadcast, or
a freeze key no longer FROZEN, ends the sweep. Placing never waits for any of this: it reads
the freeze key before every venue call.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging

from libs.common import topology
from libs.common.bus import Delivery
from libs.common.domain.ids import Symbol
from libs.common.domain.risk_checks import TradingState
from libs.common.messages import Envelope, TradingStateChanged
from libs.common.metrics import DriftKind
from libs.common.venue import VenueError, VenueOrder
from services.router.context import RouterContext

log = logging.getLogger(__name__)


class FreezeWatcher:
    """Follows `control`; sweeps the venue flat while trading is FROZEN (a Runner)."""

    def __init__(self, ctx: RouterContext) -> None:
        self._ctx = ctx
        self._reader = ctx.bus.broadcast_reader(topology.CONTROL, self._on_control)
        self._sweep: asyncio.Task[None] | None = None
        self._epoch = -1
        self.confirmed_epoch = -1
        """Epoch of the last freeze this instance confirmed flat at the venue."""

    @property
    def sweeping(self) -> bool:
        return self._sweep is not None and not self._sweep.done()

    async def start(self) -> None:
        await self._reader.start()
        status = await self._ctx.risk.trading_state()
        if status.state is TradingState.FROZEN:
            log.warning("starting frozen (epoch %d): sweeping the venue flat", status.epoch)
            self._begin(status.epoch)

    async def stop(self) -> None:
        await self._reader.stop()
        await self._end()

    async def _on_control(self, delivery: Delivery[Envelope]) -> None:
        message = delivery.message.open()
        if not isinstance(message, TradingStateChanged) or message.epoch < self._epoch:
            return  # not a state change, or older news than what we acted on
        if message.state is TradingState.FROZEN:
            log.warning(
                "freeze (epoch %d, %s): cancelling everything", message.epoch, message.reason
            )
            self._begin(message.epoch)
        else:
            self._epoch = message.epoch
            await self._end()

    def _begin(self, epoch: int) -> None:
        self._epoch = epoch
        if self.sweeping:
            return  # the running sweep goes on until flat
        self._sweep = asyncio.create_task(self._until_flat(epoch), name="router:freeze-sweep")

    async def _end(self) -> None:
        if self._sweep is not None:
            self._sweep.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._sweep
            self._sweep = None

    async def _until_flat(self, epoch: int) -> None:
        settings = self._ctx.settings
        delay = settings.freeze_backoff_s
        targets: set[Symbol] = set(settings.symbols)
        attempt = 0
        while True:
            attempt += 1
            try:
                if (await self._ctx.risk.trading_state()).state is not TradingState.FROZEN:
                    log.info("freeze sweep: trading is no longer frozen; stopping")
                    return
                still_open = await self._sweep_once(targets)
            except VenueError as exc:
                log.warning(
                    "freeze sweep attempt %d: the venue failed (%s); retrying", attempt, exc
                )
            except Exception:
                log.exception("freeze sweep attempt %d failed; retrying", attempt)
            else:
                self._report(attempt, targets, still_open)
                if not still_open:
                    self.confirmed_epoch = max(self.confirmed_epoch, epoch)
                    return
                targets |= {Symbol(o.symbol) for o in still_open}
            await asyncio.sleep(delay)
            delay = min(delay * 2, settings.freeze_backoff_max_s)

    async def _sweep_once(self, symbols: set[Symbol]) -> list[VenueOrder]:
        """Cancel-all on each symbol, then the venue's open orders (every symbol)."""
        category = self._ctx.settings.category
        gate = self._ctx.gate
        for symbol in sorted(symbols):
            try:
                await gate.cancel_all(category, symbol)
            except VenueError as exc:  # the listing below tells whether it matters
                log.warning("freeze sweep: cancel-all %s failed: %s", symbol, exc)
        return await gate.query(category, lambda: gate.venue.open_orders(category))

    def _report(self, attempt: int, symbols: set[Symbol], still_open: list[VenueOrder]) -> None:
        counts = dict.fromkeys(symbols, 0)
        for order in still_open:
            counts[Symbol(order.symbol)] = counts.get(Symbol(order.symbol), 0) + 1
        gauge = self._ctx.metrics.reconciliation_drift
        for symbol, count in counts.items():
            gauge.labels(kind=DriftKind.OPEN_ORDERS.value, symbol=symbol).set(count)
        if still_open:
            log.warning(
                "freeze sweep attempt %d: %d order(s) still open at the venue %s",
                attempt,
                len(still_open),
                {s: n for s, n in counts.items() if n},
            )
        else:
            log.warning("freeze sweep attempt %d: the venue has no open order", attempt)
