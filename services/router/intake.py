"""The batch handler of `orders.approved`: a read of the stream, split by what it asks.

The bus hands `Intake` each read as a whole (`Bus.batch_consumer`), so that a batch of
approved places is one venue call; it answers one outcome per message, and only the failed
ones are retried. It keeps the stream's order where it matters: a run of consecutive places
is one batch, and a command (amend, cancel, cancel-all) is handled where it stands, so
"cancel all, then quote again" never cancels the new quotes.

Each account has a lane at each venue (the account's credentials there, its records): a
place or command goes to its account's lane at its venue (a cancel-all naming no venue: to
every venue's); one for an account or a venue this router does not have (`MMX_ACCOUNTS`,
`MMX_VENUES`) is poison.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import NamedTuple

from libs.common.bus import Delivery, PoisonMessage
from libs.common.domain.errors import UnknownAccount, UnknownVenue
from libs.common.domain.ids import AccountId, VenueId
from libs.common.messages import (
    AmendOrder,
    CancelAllOrders,
    CancelOrder,
    Envelope,
    Message,
    OrderApproved,
)
from services.router.commands import Commands, Requested
from services.router.placing import Approved, Placer


class Lane(NamedTuple):
    """What handles one account's approvals at one venue."""

    placer: Placer
    commands: Commands


LaneKey = tuple[AccountId, VenueId]


class Intake:
    """The batch handler of `orders.approved`."""

    def __init__(self, lanes: Mapping[LaneKey, Lane]) -> None:
        self._lanes = lanes
        self._accounts = tuple(dict.fromkeys(account for account, _ in lanes))
        self._venues = tuple(dict.fromkeys(venue for _, venue in lanes))

    async def __call__(
        self, deliveries: Sequence[Delivery[Envelope]]
    ) -> list[BaseException | None]:
        failures: dict[int, Exception] = {}
        places: list[Approved] = []
        for index, delivery in enumerate(deliveries):
            try:
                message = delivery.message.open()
            except Exception as exc:
                failures[index] = PoisonMessage(f"cannot open {delivery.message.type}: {exc}")
                continue
            unknown = self._unknown(message)
            if unknown is not None:
                failures[index] = PoisonMessage(f"{delivery.message.type}: {unknown}")
                continue
            if isinstance(message, OrderApproved):
                attempt = delivery.attempt
                places.append(Approved(index, message.order, delivery.message, attempt))
                continue
            failures |= await self._flush(places)
            places = []
            if isinstance(message, AmendOrder | CancelOrder):
                requested = Requested(index, message, delivery.message)
                lane = self._lanes[message.account, message.venue]
                failures |= await lane.commands.handle([requested])
            elif isinstance(message, CancelAllOrders):
                requested = Requested(index, message, delivery.message)
                for venue in (message.venue,) if message.venue else self._venues:
                    lane = self._lanes[message.account, venue]
                    failures |= await lane.commands.handle([requested])
            else:
                failures[index] = _unexpected(message)
        failures |= await self._flush(places)
        return [failures.get(index) for index in range(len(deliveries))]

    async def _flush(self, places: list[Approved]) -> dict[int, Exception]:
        """Place a run of approvals, each account's at each venue in its lane; if a lane's
        run fails as a whole, each of them is retried."""
        by_lane: dict[LaneKey, list[Approved]] = {}
        for item in places:
            by_lane.setdefault((item.command.account, item.command.venue), []).append(item)
        failures: dict[int, Exception] = {}
        for key, run in by_lane.items():
            try:
                failures |= await self._lanes[key].placer.handle(run)
            except Exception as exc:
                failures |= {item.index: exc for item in run}
        return failures

    def _unknown(self, message: Message) -> Exception | None:
        """Why no lane here can take `message` (an account or venue not configured), or None."""
        venue: VenueId | None
        if isinstance(message, OrderApproved):
            account, venue = message.order.account, message.order.venue
        elif isinstance(message, AmendOrder | CancelOrder | CancelAllOrders):
            account, venue = message.account, message.venue
        else:
            return None
        if account not in self._accounts:
            return UnknownAccount(account, self._accounts)
        if venue is not None and venue not in self._venues:
            return UnknownVenue(venue, self._venues)
        return None


def _unexpected(message: Message) -> PoisonMessage:
    return PoisonMessage(
        f"orders.approved carries {message.TYPE}: expected OrderApproved, AmendOrder, "
        "CancelOrder or CancelAllOrders"
    )
