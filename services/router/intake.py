"""The batch handler of `orders.approved`: a read of the stream, split by what it asks.

The bus hands `Intake` each read as a whole (`Bus.batch_consumer`), so that a batch of
approved places is one venue call; it answers one outcome per message, and only the failed
ones are retried. It keeps the stream's order where it matters: a run of consecutive places
is one batch, and a command (amend, cancel, cancel-all) is handled where it stands, so
"cancel all, then quote again" never cancels the new quotes.

Each account has its own lane (its venue credentials, its records): a place or command goes
to its account's; one for an account this router does not have (`MMX_ACCOUNTS`) is poison.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import NamedTuple

from libs.common.accounts import PerAccount
from libs.common.bus import Delivery, PoisonMessage
from libs.common.domain.errors import UnknownAccount
from libs.common.domain.ids import AccountId
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
    """What handles one account's approvals."""

    placer: Placer
    commands: Commands


class Intake:
    """The batch handler of `orders.approved`."""

    def __init__(self, lanes: PerAccount[Lane]) -> None:
        self._lanes = lanes

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
            account = _account_of(message)
            if account is not None and account not in self._lanes:
                unknown = UnknownAccount(account, self._lanes.accounts)
                failures[index] = PoisonMessage(f"{delivery.message.type}: {unknown}")
                continue
            if isinstance(message, OrderApproved):
                attempt = delivery.attempt
                places.append(Approved(index, message.order, delivery.message, attempt))
                continue
            failures |= await self._flush(places)
            places = []
            if isinstance(message, AmendOrder | CancelOrder | CancelAllOrders):
                requested = Requested(index, message, delivery.message)
                failures |= await self._lanes[message.account].commands.handle([requested])
            else:
                failures[index] = _unexpected(message)
        failures |= await self._flush(places)
        return [failures.get(index) for index in range(len(deliveries))]

    async def _flush(self, places: list[Approved]) -> dict[int, Exception]:
        """Place a run of approvals, each account's in its lane; if an account's run fails as
        a whole, each of them is retried."""
        by_account: dict[AccountId, list[Approved]] = {}
        for item in places:
            by_account.setdefault(item.command.account, []).append(item)
        failures: dict[int, Exception] = {}
        for account, run in by_account.items():
            try:
                failures |= await self._lanes[account].placer.handle(run)
            except Exception as exc:
                failures |= {item.index: exc for item in run}
        return failures


def _account_of(message: Message) -> AccountId | None:
    if isinstance(message, OrderApproved):
        return message.order.account
    if isinstance(message, AmendOrder | CancelOrder | CancelAllOrders):
        return message.account
    return None


def _unexpected(message: Message) -> PoisonMessage:
    return PoisonMessage(
        f"orders.approved carries {message.TYPE}: expected OrderApproved, AmendOrder, "
        "CancelOrder or CancelAllOrders"
    )
