"""The batch handler of `orders.approved`: a read of the stream, split by what it asks.

The bus hands `Intake` each read as a whole (`Bus.batch_consumer`), so that a batch of
approved places is one venue call; it answers one outcome per message, and only the failed
ones are retried. It keeps the stream's order where it matters: a run of consecutive places
is one batch, and a command (amend, cancel, cancel-all) is handled where it stands, so
"cancel all, then quote again" never cancels the new quotes.
"""

from __future__ import annotations

from collections.abc import Sequence

from libs.common.bus import Delivery, PoisonMessage
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


class Intake:
    """The batch handler of `orders.approved`."""

    def __init__(self, placer: Placer, commands: Commands) -> None:
        self._placer = placer
        self._commands = commands

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
            if isinstance(message, OrderApproved):
                attempt = delivery.attempt
                places.append(Approved(index, message.order, delivery.message, attempt))
                continue
            failures |= await self._flush(places)
            places = []
            if isinstance(message, AmendOrder | CancelOrder | CancelAllOrders):
                requested = Requested(index, message, delivery.message)
                failures |= await self._commands.handle([requested])
            else:
                failures[index] = _unexpected(message)
        failures |= await self._flush(places)
        return [failures.get(index) for index in range(len(deliveries))]

    async def _flush(self, places: list[Approved]) -> dict[int, Exception]:
        """Place a run of approvals; if the run fails as a whole, each of them is retried."""
        if not places:
            return {}
        try:
            return await self._placer.handle(places)
        except Exception as exc:
            return {item.index: exc for item in places}


def _unexpected(message: Message) -> PoisonMessage:
    return PoisonMessage(
        f"orders.approved carries {message.TYPE}: expected OrderApproved, AmendOrder, "
        "CancelOrder or CancelAllOrders"
    )
