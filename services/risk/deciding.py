"""Deciding a batch's places and amends: one view, one admission step, retries of what moved.

    read the records (writing the Pending record of a place that arrived without one)
    read the view (`RiskReader`: limits, positions with versions, marks, P&L; O(symbols))
    prepare each command (placing / amending): a request, a denial, a replay or nothing
    admit every request in one step of the ledger (`ExposureLedger.admit`)
    deny, replay, and retry what moved

The ledger refuses the whole step (StaleView, nothing written) when a position it was
checked against took a fill, or a symbol gained exposure, since the view was read; and a
request whose record changed since it was read comes back CONFLICT. Both are read again and
decided again, up to `MAX_ROUNDS` times; a command still undecided then fails, and the bus
redelivers it.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Sequence
from dataclasses import dataclass, field

from libs.common import topology
from libs.common.batching import gather_limited
from libs.common.domain.exposure import SymbolTerms, explain
from libs.common.domain.ids import ClientOrderId, Symbol
from libs.common.domain.orders import Order
from libs.common.domain.risk_checks import Check
from libs.common.messages import AmendOrder, Envelope, PlaceOrder
from libs.common.metrics import EngineMetrics, Stage
from libs.common.risk_view import RiskReader, RiskView
from libs.common.stores import OrderStore
from libs.common.stores.exposure import AdmitOutcome, AdmitRequest, ExposureLedger, StaleView
from services.risk.amending import deny_amends, prepare_amend
from services.risk.decisions import Decision, DecisionStore
from services.risk.outbox import Outbox
from services.risk.placing import Denied, Prepared, Replay, deny_places, prepare_place

log = logging.getLogger(__name__)

MAX_ROUNDS = 8
"""Reads and admissions per batch before the commands still undecided are failed."""


class Undecided(Exception):
    """The command's view kept moving under it: the bus redelivers it."""


@dataclass(frozen=True, slots=True)
class Item:
    """One place or amend of the batch, at `index`."""

    index: int
    envelope: Envelope
    command: PlaceOrder | AmendOrder


@dataclass
class _Round:
    """What one round decided, for the effects."""

    denied_places: list[tuple[Envelope, PlaceOrder, Denied]] = field(default_factory=list)
    denied_amends: list[tuple[Envelope, AmendOrder, Denied | None]] = field(default_factory=list)
    retry: list[Item] = field(default_factory=list)


class Decider:
    """Decides places and amends; see the module docstring."""

    def __init__(
        self,
        *,
        orders: OrderStore,
        reader: RiskReader,
        ledger: ExposureLedger,
        amend_decisions: DecisionStore,
        metrics: EngineMetrics,
        decision_ttl_s: float,
    ) -> None:
        self._orders = orders
        self._reader = reader
        self._ledger = ledger
        self._decisions = amend_decisions
        self._metrics = metrics
        self._decision_ttl_ms = max(1, int(decision_ttl_s * 1000))

    async def decide(self, items: Sequence[Item], outbox: Outbox) -> dict[int, Exception]:
        """Decide `items`; queue their events; return the failures by batch index."""
        firsts: dict[ClientOrderId | str, Item] = {}
        for item in items:  # a command repeated within the batch is decided once
            firsts.setdefault(_key(item), item)
        pending = list(firsts.values())
        for _ in range(MAX_ROUNDS):
            if not pending:
                return {}
            now_ns = time.time_ns()
            result = await self._round(pending, now_ns)
            await deny_places(
                result.denied_places,
                orders=self._orders,
                metrics=self._metrics,
                outbox=outbox,
                now_ns=now_ns,
            )
            await deny_amends(
                result.denied_amends,
                orders=self._orders,
                decisions=self._decisions,
                outbox=outbox,
                now_ns=now_ns,
            )
            pending = result.retry
        error = Undecided(f"the risk view moved under each of {MAX_ROUNDS} admissions")
        return {item.index: error for item in items if _key(item) in {_key(p) for p in pending}}

    async def _round(self, items: Sequence[Item], now_ns: int) -> _Round:
        amend_ids = [i.envelope.event_id for i in items if isinstance(i.command, AmendOrder)]
        records, decisions, view = await asyncio.gather(  # independent reads, at once
            self._records(items, now_ns),
            self._decisions.get_many(amend_ids),
            self._reader.read(now_ns, symbols={i.command.symbol for i in items}),
        )
        known = dict(zip(amend_ids, decisions, strict=True))
        done = _Round()
        settled: list[tuple[Item, Order | None, Prepared]] = []
        requests: list[tuple[Item, AdmitRequest]] = []
        for item in items:
            record = records.get(item.command.client_order_id)
            prepared = self._prepare(item, record, known.get(item.envelope.event_id), view)
            if isinstance(prepared, AdmitRequest):
                requests.append((item, prepared))
            else:
                settled.append((item, record, prepared))
        if requests:
            await self._admit(view, requests, settled, done)
        for item, record, prepared in sorted(settled, key=lambda s: s[0].index):
            _settle(done, item, record, prepared)  # events in the order of their commands
        denied = [i for i, _, p in settled if isinstance(p, Denied)]
        admitted = [i for i, _ in requests if i not in done.retry and i not in denied]
        self._observe(denied + admitted, records)
        return done

    async def _admit(
        self,
        view: RiskView,
        requests: list[tuple[Item, AdmitRequest]],
        settled: list[tuple[Item, Order | None, Prepared]],
        done: _Round,
    ) -> None:
        """Admit `requests` in one ledger step; what is decided joins `settled`."""
        terms, unpriced = _terms(view)
        if unpriced is not None:
            settled += [(item, None, Denied(Check.NO_MARK, unpriced)) for item, _ in requests]
            return
        try:
            admissions = await self._ledger.admit(
                view.desk_terms(),
                terms,
                [r for _, r in requests],
                to=topology.ORDERS_APPROVED,
                decision_ttl_ms=self._decision_ttl_ms,
            )
        except StaleView as stale:
            log.debug("risk view moved (%s): deciding again", stale)
            done.retry += [item for item, _ in requests]
            return
        for (item, request), admission in zip(requests, admissions, strict=True):
            if admission.outcome is AdmitOutcome.CONFLICT:
                done.retry.append(item)
            elif admission.outcome is AdmitOutcome.DENIED:
                assert admission.denial is not None
                reason = explain(admission.denial, request.candidate, view.state)
                settled.append((item, request.read, Denied(admission.denial.check, reason)))
            elif admission.outcome is AdmitOutcome.MISSING:
                log.warning(
                    "order %s vanished before admission",
                    item.command.client_order_id,
                    extra={"cid": item.envelope.correlation_id},
                )

    def _observe(self, decided: Sequence[Item], records: dict[ClientOrderId, Order]) -> None:
        """`order_stage_seconds{stage=gateway_to_risk}` of the places decided now (admitted
        or denied; a replayed decision is not observed again)."""
        histogram = self._metrics.order_stage.labels(stage=Stage.GATEWAY_TO_RISK.value)
        now = time.time_ns()
        for item in decided:
            record = records.get(item.command.client_order_id)
            if isinstance(item.command, PlaceOrder) and record is not None:
                histogram.observe(max(0.0, (now - record.created_ts_ns) / 1e9))

    def _prepare(
        self, item: Item, record: Order | None, decision: Decision | None, view: RiskView
    ) -> Prepared:
        command = item.command
        if isinstance(command, PlaceOrder):
            assert record is not None, "a place's record is written before it is decided"
            return prepare_place(item.envelope, command, record, view)
        return prepare_amend(item.envelope, command, record, decision, view)

    async def _records(self, items: Sequence[Item], now_ns: int) -> dict[ClientOrderId, Order]:
        """The record of each command; a place without one gets its Pending record now (the
        gateway writes it first; another publisher may not have)."""
        cids = [item.command.client_order_id for item in items]
        found = dict(zip(cids, await self._orders.get_many(cids), strict=True))

        async def ensure(command: PlaceOrder) -> Order:
            stored, _ = await self._orders.create(command.to_order(now_ns))
            return stored

        missing = [
            i.command
            for i in items
            if isinstance(i.command, PlaceOrder) and found[i.command.client_order_id] is None
        ]
        created = await gather_limited(ensure(command) for command in missing)
        records = {cid: order for cid, order in found.items() if order is not None}
        records |= {order.client_order_id: order for order in created}
        return records


def _key(item: Item) -> ClientOrderId | str:
    """Places are one per order; amends one per command."""
    return (
        item.command.client_order_id
        if isinstance(item.command, PlaceOrder)
        else item.envelope.event_id
    )


def _settle(done: _Round, item: Item, record: Order | None, prepared: Prepared) -> None:
    """Queue the effects of a command decided without the ledger (or denied by it)."""
    command = item.command
    if prepared is None:
        return
    if isinstance(command, PlaceOrder):
        if isinstance(prepared, Denied):
            done.denied_places.append((item.envelope, command, prepared))
        elif isinstance(prepared, Replay) and record is not None:
            denied = Denied(None, record.reason)
            done.denied_places.append((item.envelope, command, denied))
        return
    if isinstance(prepared, Denied):
        done.denied_amends.append((item.envelope, command, prepared))
    elif isinstance(prepared, Replay):
        done.denied_amends.append((item.envelope, command, None))


def _terms(view: RiskView) -> tuple[list[SymbolTerms], str | None]:
    """Every symbol's terms, or why the desk's exposure cannot be counted (a position whose
    mark is not fresh)."""
    terms: list[SymbolTerms] = []
    for symbol in view.symbols:
        each = view.terms(symbol)
        if each is None:
            return [], _unpriced(symbol, view)
        terms.append(each)
    return terms, None


def _unpriced(symbol: Symbol, view: RiskView) -> str:
    return (
        f"no fresh mark price for {symbol}, which has a position of "
        f"{view.position_qty(symbol)}: total exposure cannot be counted"
    )
