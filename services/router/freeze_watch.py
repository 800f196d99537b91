"""Obeying a freeze: every router instance follows the trading state and, while FROZEN, makes
sure nothing rests at the venue.

The state an account's lane obeys is the stricter of the desk's and the account's own
(`combined_state`); its news is (both generations, the sum of both epochs), which moves on
whenever either changes (the desk's news alone while the account never had a state). A
broadcast about the desk or this account makes the watcher read both; one about another
account is not its business.

The state comes from `control` broadcasts (read without a group: every instance sees every
one; the freeze writes its broadcast in the same step as the state) and from a read of the
freeze key every `freeze_poll_s`, so a router that missed a broadcast, or starts later,
learns within one period. News is compared by (generation, epoch): within a generation a
lower epoch is stale; another generation (Redis lost its data) is news.

On FROZEN, for a (generation, epoch) this instance has not confirmed flat yet:

1. close the send barrier: no create or amend goes out any more, resends included;
2. wait until the sends in flight have resolved (`quiesce`), and until those that got no
   answer can no longer reach the venue (their signature's recv_window has run out);
3. the instance that takes the sweep lease of this epoch cancels everything: one cancel-all
   by settle coin (for symbols nobody here knows of) and, at the same time, cancel-all on
   each symbol we know of, repeated while the venue's cap of `CANCEL_ALL_CAP` orders per
   call cuts it short; every other instance goes straight to 4;
4. every instance verifies: list every open order (all pages), cancel what it finds
   (concurrently per symbol), and list again, until the venue has none;
5. confirm: this instance records the epoch as flat (`freeze_flat_key`) and logs it.

On ACTIVE (newer news): the sweep stops and the barrier opens, and `on_resume` is told of it
(`is_resume`: not the state first seen at start, nor news seen before), so that an open venue
circuit is probed afresh (`VenueHealth.on_resume`). While FROZEN, reconciliation cancels
whatever it finds open.

Fail-safe: when the freeze key cannot be read (an error, or no answer within four poll
periods) for `redis_loss_cancel_s`, the router closes the barrier and cancels everything at
the venue on its own (the venue is reached without Redis); it opens again once Redis
answers and the state is not FROZEN. Bybit's disconnect-cancel, armed by the private
stream, is the venue-side switch for when the routers themselves are gone.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Callable, Sequence

from libs.common import topology
from libs.common.bus import Delivery
from libs.common.domain.risk_checks import TradingState, combined_state
from libs.common.messages import Envelope, TradingStateChanged
from libs.common.metrics import DriftKind
from libs.common.tasks import cancel_and_wait
from libs.common.venue import CANCEL_ALL_CAP, SendBarrier, VenueError, VenueOrder
from services.router.context import RouterContext

log = logging.getLogger(__name__)

News = tuple[str, int]
"""(generation, epoch) of a trading state change."""


def newer(news: News, than: News | None) -> bool:
    """True when `news` is not older than `than`: another generation, or a later epoch."""
    return than is None or news[0] != than[0] or news[1] >= than[1]


def is_resume(state: TradingState, news: News, seen: News | None) -> bool:
    """Trading ACTIVE under news newer than `seen` (an epoch moves on every freeze and every
    unfreeze, so this follows a freeze, seen or missed); never the first state seen, nor the
    same news read again."""
    return seen is not None and state is TradingState.ACTIVE and news != seen and newer(news, seen)


class FreezeWatcher:
    """Follows the trading state; closes the barrier and sweeps while FROZEN (a Runner)."""

    def __init__(
        self,
        ctx: RouterContext,
        barrier: SendBarrier,
        on_resume: Callable[[News], None] | None = None,
    ) -> None:
        self._ctx = ctx
        self._barrier = barrier
        self._on_resume = on_resume
        self._readers = ctx.bus.broadcast_readers(  # the desk's broadcast and the account's
            [topology.CONTROL.desk, topology.CONTROL.of(ctx.account)], self._on_control
        )
        self._seen: News | None = None
        self._frozen = False
        self._sweep: asyncio.Task[None] | None = None
        self._poll: asyncio.Task[None] | None = None
        self._failsafe_fired = False
        self.confirmed: News | None = None
        """The last freeze this instance confirmed flat at the venue."""

    @property
    def barrier(self) -> SendBarrier:
        """The send barrier this watcher closes on a freeze."""
        return self._barrier

    @property
    def sweeping(self) -> bool:
        return self._sweep is not None and not self._sweep.done()

    async def start(self) -> None:
        for reader in self._readers:
            await reader.start()
        await self._read_state()  # before anything can be sent: the barrier starts closed
        self._poll = asyncio.create_task(self._poll_loop(), name="router:freeze-poll")

    async def stop(self) -> None:
        for reader in self._readers:
            await reader.stop()
        for task in (self._poll, self._sweep):
            if task is not None:
                await cancel_and_wait(task)
        self._poll = self._sweep = None

    # -- following the state ------------------------------------------------------------------

    async def _on_control(self, delivery: Delivery[Envelope]) -> None:
        message = delivery.message.open()
        if isinstance(message, TradingStateChanged) and message.account in (
            None,
            self._ctx.account,
        ):
            await self._read_state()

    async def _poll_loop(self) -> None:
        settings = self._ctx.settings
        lost_since: float | None = None
        while True:
            await asyncio.sleep(settings.freeze_poll_s)
            # Bounded: a Redis that stops answering (no reset, no error) is lost too. Not
            # wait_for: on 3.11 it can swallow a cancel, hanging stop().
            try:
                async with asyncio.timeout(settings.freeze_poll_s * 4):
                    await self._read_state()
            except Exception as error:
                lost_since = lost_since or time.monotonic()
                if time.monotonic() - lost_since >= settings.redis_loss_cancel_s:
                    await self._failsafe(error)
                continue
            lost_since = None

    async def _read_state(self) -> None:
        desk, own = await asyncio.gather(
            self._ctx.risk.trading_state(), self._ctx.account_risk.trading_state()
        )
        state = combined_state(desk.state, own.state)
        if self._failsafe_fired:
            log.warning("freeze watch: Redis answers again (%s)", state)
            self._failsafe_fired = False
            self._seen = None  # follow the key as it is now
        reason = (
            desk.reason if state is desk.state else f"account {self._ctx.account}: {own.reason}"
        )
        news = (desk.generation, desk.epoch)  # the desk's, while the account has no state
        if own.generation or own.epoch:
            news = (f"{desk.generation}/{own.generation}", desk.epoch + own.epoch)
        self._follow(state, news, reason)

    def _follow(self, state: TradingState, news: News, reason: str) -> None:
        if not newer(news, self._seen):
            return  # older news than what we acted on
        resumed = is_resume(state, news, self._seen)
        self._seen = news
        if state is TradingState.FROZEN:
            self._freeze(news, reason)
        else:
            self._resume()
        if resumed and self._on_resume is not None:
            self._on_resume(news)

    def _freeze(self, news: News, reason: str) -> None:
        self._barrier.close()
        if not self._frozen:
            log.warning("freeze %s (%s): barrier closed, sweeping the venue flat", news, reason)
        self._frozen = True
        if news == self.confirmed or self.sweeping:
            return  # confirmed flat already, or the running sweep goes on until flat
        self._sweep = asyncio.create_task(self._until_flat(news), name="router:freeze-sweep")

    def _resume(self) -> None:
        if self._sweep is not None and not self._sweep.done():
            self._sweep.cancel()
        self._sweep = None
        if self._frozen or not self._barrier.is_open:
            log.info("trading resumed: barrier open")
        self._frozen = False
        self._barrier.open()

    # -- the sweep ----------------------------------------------------------------------------

    async def _until_flat(self, news: News) -> None:
        settings = self._ctx.settings
        started = time.monotonic()
        if not await self._barrier.quiesce(settings.freeze_quiesce_s):
            log.error("freeze sweep: sends still in flight after %.1f s", settings.freeze_quiesce_s)
        await self._outlast_doubt()
        if await self._ctx.leases.acquire(
            self._ctx.scoped(_lease(news)), self._ctx.instance, 60_000
        ):
            await self._cancel_everything()
        delay = settings.freeze_backoff_s
        attempt = 0
        while True:
            attempt += 1
            try:
                await self._outlast_doubt()
                still_open = await self._list()
                self._report(attempt, still_open)
                if not still_open:
                    break
                await self._cancel(still_open)
            except VenueError as exc:
                log.warning("freeze sweep attempt %d: the venue failed (%s)", attempt, exc)
            except Exception:
                log.exception("freeze sweep attempt %d failed; retrying", attempt)
            await asyncio.sleep(delay)
            delay = min(delay * 2, settings.freeze_backoff_max_s)
        self.confirmed = news
        elapsed_ms = (time.monotonic() - started) * 1000
        await self._ctx.redis.hset(
            topology.freeze_flat_key(*news), self._ctx.lane, str(time.time_ns())
        )
        await self._ctx.redis.expire(topology.freeze_flat_key(*news), 86_400)
        log.warning("freeze %s: the venue is flat (confirmed in %.0f ms)", news, elapsed_ms)

    async def _outlast_doubt(self) -> None:
        """Wait until no send without an answer can still reach the venue."""
        wait_ms = self._barrier.doubtful_until_ms - time.time_ns() // 1_000_000
        if wait_ms > 0:
            log.warning("freeze sweep: waiting %d ms for unanswered sends to expire", wait_ms)
            await asyncio.sleep(wait_ms / 1000)

    async def _cancel_everything(self) -> None:
        """Cancel-all by settle coin and, at once, on every symbol we know of (concurrently:
        a cancel-all cancels at most `CANCEL_ALL_CAP` orders); the verification lists and
        cancels whatever is left."""
        category = self._ctx.settings.category
        known: set[str] = set(self._ctx.settings.symbols) | await self._ctx.ledger.symbols()
        by_coin = self._ctx.gate.cancel_all(category, None)
        result, _ = await asyncio.gather(
            by_coin, self._cancel_symbols(known), return_exceptions=True
        )
        if isinstance(result, BaseException):
            log.warning("freeze sweep: cancel-all by settle coin failed: %s", result)

    async def _cancel(self, orders: Sequence[VenueOrder]) -> None:
        """Cancel-all on each symbol that has an open order, concurrently."""
        await self._cancel_symbols({o.symbol for o in orders})

    async def _cancel_symbols(self, symbols: set[str]) -> None:
        """Cancel-all on each of `symbols` concurrently, again while the venue's cap cut a
        call short."""
        category = self._ctx.settings.category

        async def flatten(symbol: str) -> None:
            while len(await self._ctx.gate.cancel_all(category, symbol)) >= CANCEL_ALL_CAP:
                pass

        ordered = sorted(symbols)
        results = await asyncio.gather(*(flatten(s) for s in ordered), return_exceptions=True)
        for symbol, result in zip(ordered, results, strict=True):
            if isinstance(result, Exception):  # the next listing tells whether it matters
                log.warning("freeze sweep: cancel-all %s failed: %s", symbol, result)

    async def _list(self) -> list[VenueOrder]:
        return await self._ctx.gate.open_orders(self._ctx.settings.category)

    async def _failsafe(self, error: Exception) -> None:
        """Redis is gone: stop sending and cancel everything at the venue, on our own."""
        self._barrier.close()
        if self._failsafe_fired:
            return
        self._failsafe_fired = True
        log.critical(
            "freeze watch: the freeze key unreadable for %.0f s (%s): cancelling everything "
            "at the venue and refusing every send until Redis answers",
            self._ctx.settings.redis_loss_cancel_s,
            error,
        )
        venue = self._ctx.gate.venue
        try:
            await venue.cancel_all(self._ctx.settings.category, None)
        except Exception:
            log.exception("freeze watch: the fail-safe cancel-all failed; retrying next poll")
            self._failsafe_fired = False

    def _report(self, attempt: int, still_open: list[VenueOrder]) -> None:
        counts: dict[str, int] = dict.fromkeys(self._ctx.settings.symbols, 0)
        for order in still_open:
            counts[order.symbol] = counts.get(order.symbol, 0) + 1
        gauge, account = self._ctx.metrics.reconciliation_drift, self._ctx.account
        kind, venue = DriftKind.OPEN_ORDERS.value, self._ctx.venue
        for symbol, count in counts.items():
            gauge.labels(account=account, venue=venue, kind=kind, symbol=symbol).set(count)
        if still_open:
            log.warning(
                "freeze sweep attempt %d: %d order(s) still open at the venue %s",
                attempt,
                len(still_open),
                {s: n for s, n in counts.items() if n},
            )


def _lease(news: News) -> str:
    generation, epoch = news
    return f"freeze-sweep:{generation}:{epoch}"
