"""What risk does with `orders.requests`, a batch at a time.

    FreezeTrading        freeze (MANUAL) the desk, or its `account` alone, first: later
                         orders of the batch see it
    ReportEdge           record the strategy's edge; below the threshold, freeze
    PlaceOrder           every check, admitted with its approval in one step, or OrderDenied
    AmendOrder           every check, the increase reserved, or OrderAmendRejected
                         (both in deciding.py, placing.py, amending.py)
    CancelOrder          always approved (even frozen: a cancel only reduces risk)
    CancelAllOrders      always approved

Places and amends are decided per account (each account has its own records, ledger and
view); a command for an account that is not configured (`MMX_ACCOUNTS`) is poison: nothing is
written for it and it goes to the dead letters with that reason.

Controls run before orders, so an order batched after a freeze is denied; one batched
before it is denied too (the ledger reads the freeze key in the admission step), which errs
on the safe side. Approvals are published by the admission step itself; cancels and the
batch's events (denials) go out after the batch's state is written, one `publish_many` per
stream.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence

from libs.common.accounts import PerAccount
from libs.common.batching import Clock, Incoming, Results
from libs.common.bus import Bus, PoisonMessage
from libs.common.domain.errors import UnknownAccount
from libs.common.domain.ids import AccountId
from libs.common.freeze import trigger_freeze
from libs.common.messages import (
    AmendOrder,
    CancelAllOrders,
    CancelOrder,
    Envelope,
    FreezeTrading,
    PlaceOrder,
    ReportEdge,
)
from libs.common.metrics import EngineMetrics, FreezeReason
from libs.common.stores import RiskStateStore
from services.risk.deciding import Decider, Item
from services.risk.edge import EdgeWatch
from services.risk.outbox import Outbox

log = logging.getLogger(__name__)


class RequestsHandler:
    """The `risk` group's handler of `orders.requests` batches."""

    def __init__(
        self,
        *,
        deciders: PerAccount[Decider],
        edge: EdgeWatch,
        risk: RiskStateStore,
        account_risks: PerAccount[RiskStateStore],
        bus: Bus[Envelope],
        metrics: EngineMetrics,
        clock: Clock,
    ) -> None:
        self._deciders = deciders
        self._edge = edge
        self._risk = risk
        self._account_risks = account_risks
        self._bus = bus
        self._metrics = metrics
        self._clock = clock

    async def __call__(self, batch: Sequence[Incoming]) -> Results:
        now_ns = self._clock()
        outbox = Outbox()
        orders: dict[AccountId, list[Item]] = {}
        results: list[BaseException | None] = [None] * len(batch)
        for index, incoming in enumerate(batch):
            envelope, message = incoming.envelope, incoming.message
            account: AccountId | None = getattr(message, "account", None)
            if account is not None and account not in self._deciders:
                unknown = UnknownAccount(account, self._deciders.accounts)
                results[index] = PoisonMessage(f"{envelope.type}: {unknown}")
                continue
            match message:
                case FreezeTrading():
                    await self._freeze(message, now_ns)
                case ReportEdge():
                    await self._edge.on_report(message, now_ns)
                case PlaceOrder() | AmendOrder():
                    orders.setdefault(message.account, []).append(Item(index, envelope, message))
                case CancelOrder() | CancelAllOrders():
                    outbox.approve(message.account, envelope)
                case _:
                    results[index] = PoisonMessage(
                        f"risk does not handle {envelope.type} on orders.requests"
                    )
        for account, items in orders.items():
            for index, error in (await self._deciders[account].decide(items, outbox)).items():
                results[index] = error
        await outbox.send(self._bus)
        return results

    async def _freeze(self, command: FreezeTrading, now_ns: int) -> None:
        store = self._risk if command.account is None else self._account_risks[command.account]
        result = await trigger_freeze(
            store,
            self._metrics,
            reason=FreezeReason.MANUAL,
            detail=command.reason,
            actor=command.actor,
            now_ns=now_ns,
        )
        if result.changed:
            log.warning(
                "trading FROZEN (%s) by %s (epoch %d): %s",
                command.account or "desk",
                command.actor,
                result.epoch,
                command.reason,
            )
