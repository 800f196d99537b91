"""Following the trading state for `VenueHealth`: which news is a resume of trading.

The `control` broadcasts (read without a group, as `FreezeWatcher` reads them) and a read of
the freeze key (`read`, at every venue probe, for a broadcast missed) feed `follow`. News is
(generation, epoch), as in `freeze_watch`; only news newer than the last seen counts, so a
state seen twice (broadcast, then read) is one resume. `on_resume` is told of trading turning
ACTIVE under newer news after some earlier news (an epoch moves on every freeze and every
unfreeze, so this follows a freeze, seen or missed); never of the first state seen at start.
"""

from __future__ import annotations

import contextlib
from collections.abc import Callable

from libs.common import topology
from libs.common.bus import Bus, Delivery
from libs.common.domain.risk_checks import TradingState
from libs.common.messages import Envelope, TradingStateChanged
from libs.common.stores import RiskStateStore

News = tuple[str, int]
"""(generation, epoch) of a trading state."""


class ResumeWatch:
    """Tells `on_resume` when trading turns ACTIVE under newer news (a Runner)."""

    def __init__(
        self, bus: Bus[Envelope], risk: RiskStateStore, on_resume: Callable[[News], None]
    ) -> None:
        self._risk = risk
        self._on_resume = on_resume
        self._reader = bus.broadcast_reader(topology.CONTROL, self._on_control)
        self.news: News | None = None
        """The latest news seen (None until the first)."""

    async def start(self) -> None:
        await self._reader.start()

    async def stop(self) -> None:
        await self._reader.stop()

    async def read(self) -> None:
        """Follow the freeze key as it is now (best effort: the next read tries again)."""
        with contextlib.suppress(Exception):
            status = await self._risk.trading_state()
            self.follow(status.state, (status.generation, status.epoch))

    def follow(self, state: TradingState, news: News) -> None:
        """Take news of the trading state; a resume under newer news calls `on_resume`."""
        seen = self.news
        if seen is not None and news[0] == seen[0] and news[1] <= seen[1]:
            return  # this news, or older
        self.news = news
        if seen is not None and state is TradingState.ACTIVE:
            self._on_resume(news)

    async def _on_control(self, delivery: Delivery[Envelope]) -> None:
        message = delivery.message.open()
        if isinstance(message, TradingStateChanged):
            self.follow(message.state, (message.generation, message.epoch))
