"""Fold `OrderFilled` and `FundingSettled` into positions and publish `PositionUpdated`, a
batch at a time (below, "fill" stands for either: both are deduped on their execId).

Each fill goes to its account's positions (a fill for an account that is not configured is
poison: it fails to the dead letters, folding nothing). Fills of one (account, symbol) are
applied in arrival order (one after the other: they change the same
record); symbols go concurrently. `PositionStore.apply_fill` applies each execId once across
every instance, so a replayed fill changes nothing and publishes nothing, unless it is a
redelivery (attempt > 1): an earlier delivery may have applied the fill and failed before
publishing, so the position as it stands now is published again, under the same event id.
A fill that fails, or whose update could not be published, is retried alone by the bus
(as a redelivery, so it is said then); its neighbours are done.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Mapping, Sequence

from libs.common import topology
from libs.common.accounts import PerAccount
from libs.common.batching import Incoming, Results, derive_event_id, gather_limited
from libs.common.bus import Bus, PoisonMessage
from libs.common.domain.errors import UnknownAccount, UnknownVenue
from libs.common.domain.ids import AccountId, Symbol, VenueId
from libs.common.domain.positions import Position
from libs.common.messages import Envelope, FundingSettled, OrderFilled, PositionUpdated
from libs.common.metrics import EngineMetrics, Stage
from libs.common.stores import PositionStore
from libs.common.stores.marks import Mark, MarkStore

log = logging.getLogger(__name__)

_Booked = OrderFilled | FundingSettled
_Fill = tuple[int, Incoming, _Booked]
_Outcome = tuple[int, Incoming, _Booked, Position | BaseException, bool]


def position_update(position: Position, mark: Mark | None) -> PositionUpdated:
    """The event describing `position`, marked at `mark`'s price when there is one."""
    return PositionUpdated.from_position(position, None if mark is None else mark.mark)


def _named(fill: _Booked) -> str:
    """`fill <execId> of order <clientOrderId>`, or `funding <execId>`, for a log line."""
    if isinstance(fill, FundingSettled):
        return f"funding {fill.exec_id}"
    return f"fill {fill.exec_id} of order {fill.client_order_id or '(not ours)'}"


class FillsHandler:
    """The `positions` group's handler of `orders.events` batches."""

    def __init__(
        self,
        *,
        positions: PerAccount[Mapping[VenueId, PositionStore]],
        marks: MarkStore,
        bus: Bus[Envelope],
        metrics: EngineMetrics,
    ) -> None:
        self._positions = positions
        self._marks = marks
        self._bus = bus
        self._metrics = metrics

    async def __call__(self, batch: Sequence[Incoming]) -> Results:
        results: list[BaseException | None] = [None] * len(batch)
        by_book: dict[tuple[AccountId, VenueId, Symbol], list[_Fill]] = {}
        for index, incoming in enumerate(batch):
            if isinstance(fill := incoming.message, OrderFilled | FundingSettled):
                unknown = self._unknown(fill)
                if unknown is not None:
                    results[index] = PoisonMessage(f"{_named(fill)}: {unknown}")
                    continue
                book = (fill.account, fill.venue, fill.symbol)
                by_book.setdefault(book, []).append((index, incoming, fill))
        if not by_book:
            return results
        applied = await gather_limited(
            self._apply(self._positions[account][venue], fills)
            for (account, venue, _), fills in by_book.items()
        )
        marks = await self._marks_of(sorted({symbol for _, _, symbol in by_book}))
        updates: list[tuple[int, Envelope]] = []
        stage = self._metrics.order_stage.labels(stage=Stage.FILL_TO_POSITION.value)
        folded_ns = time.time_ns()
        for index, incoming, fill, outcome, changed in (o for per in applied for o in per):
            if isinstance(outcome, BaseException):
                log.warning(
                    "%s not folded into the %s position: %r",
                    _named(fill),
                    fill.symbol,
                    outcome,
                    extra={"cid": incoming.envelope.correlation_id},
                )
                results[index] = outcome
                continue
            if changed:
                stage.observe(max(0.0, (folded_ns - incoming.envelope.ts_ns) / 1e9))
            if changed or incoming.attempt > 1:
                update = position_update(outcome, marks.get(fill.symbol))
                event_id = derive_event_id(incoming.envelope.event_id, "position")
                envelope = Envelope.wrap(
                    update, incoming.envelope.correlation_id, event_id=event_id
                )
                updates.append((index, envelope))
        if updates:
            try:
                await self._bus.publish_many(topology.POSITIONS_UPDATES, [e for _, e in updates])
            except Exception as error:  # applied, not said: redelivered, they are said then
                for index, _ in updates:
                    results[index] = error
        return results

    def _unknown(self, fill: OrderFilled | FundingSettled) -> Exception | None:
        """Why no position store here takes `fill` (its account or venue not configured)."""
        if fill.account not in self._positions:
            return UnknownAccount(fill.account, self._positions.accounts)
        venues = self._positions[fill.account]
        if fill.venue not in venues:
            return UnknownVenue(fill.venue, tuple(venues))
        return None

    async def _marks_of(self, symbols: Sequence[Symbol]) -> dict[Symbol, Mark]:
        """The marks of `symbols`; none if they cannot be read (an update without a mark
        still says the position)."""
        try:
            return await self._marks.get_many(symbols)
        except Exception:
            log.warning("marks of %s unreadable: positions published without marks", symbols)
            return {}

    async def _apply(self, positions: PositionStore, fills: Sequence[_Fill]) -> list[_Outcome]:
        done: list[_Outcome] = []
        for index, incoming, fill in fills:
            try:
                if isinstance(fill, FundingSettled):
                    position, changed = await positions.apply_funding(fill.to_funding())
                else:
                    position, changed = await positions.apply_fill(fill.to_fill())
            except Exception as error:  # this fill alone is retried
                done.append((index, incoming, fill, error, False))
            else:
                done.append((index, incoming, fill, position, changed))
        return done
