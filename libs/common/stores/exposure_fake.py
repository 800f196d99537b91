"""The ExposureLedger fake: the pure admission rule over the fakes' shared `LedgerState`."""

from __future__ import annotations

from collections.abc import Iterable, Sequence

from libs.common.domain.exposure import DeskTerms, ExposureCheck, SymbolBook, SymbolTerms
from libs.common.domain.ids import Symbol
from libs.common.domain.risk_checks import combined_state
from libs.common.stores.exposure import (
    Admission,
    AdmitOutcome,
    AdmitRequest,
    FillRecord,
    StaleView,
)
from libs.common.stores.orders import InMemoryOrderStore
from libs.common.stores.risk_state import RiskStateStore
from libs.common.topology import AccountStream


class InMemoryExposureLedger:
    """ExposureLedger over an InMemoryOrderStore (records and ledger state) and the account's
    risk state store (its own trading state; the desk's comes in `DeskTerms`). No await inside
    `admit` once it has the trading state, so a batch is atomic as it is in Redis. What it
    publishes is kept in `published`."""

    def __init__(
        self, orders: InMemoryOrderStore, account_risk: RiskStateStore | None = None
    ) -> None:
        self._orders = orders
        self._account_risk = account_risk
        """The account's own trading state (None: never frozen on its own)."""
        self.state = orders.ledger
        self.decisions: dict[str, str] = {}
        self.claims: set[str] = set()
        self.published: list[tuple[str, bytes]] = []

    async def admit(
        self,
        desk: DeskTerms,
        terms: Sequence[SymbolTerms],
        requests: Sequence[AdmitRequest],
        *,
        to: AccountStream,
        decision_ttl_ms: int,
    ) -> list[Admission]:
        trading = desk.trading
        if self._account_risk is not None:
            own = await self._account_risk.trading_state()
            trading = combined_state(trading, own.state)
        state = self.state
        by_symbol = {t.symbol: t for t in terms}
        for t in terms:
            if state.position_versions.get(t.symbol, 0) != t.position_version:
                raise StaleView(f"position {t.symbol} moved past version {t.position_version}")
        if missing := sorted(state.exposed - set(by_symbol)):
            raise StaleView(f"symbols {missing} have exposure but no terms")
        books = {s: state.book(s) for s in by_symbol}
        rates = {s: state.rate(s, desk.now_ms) for s in by_symbol}
        check = ExposureCheck(trading, desk, by_symbol, books, rates)
        results: list[Admission] = []
        for request in requests:
            results.append(self._admit_one(check, request, to))
        return results

    def _admit_one(
        self, check: ExposureCheck, request: AdmitRequest, to: AccountStream
    ) -> Admission:
        key, cid = request.decision_key, request.read.client_order_id
        if key is not None and key in self.decisions:
            return Admission(AdmitOutcome.DUPLICATE)
        current = self._orders._records.get(cid)
        if current is None:
            return Admission(AdmitOutcome.MISSING)
        if current.version != request.read.version:
            return Admission(AdmitOutcome.CONFLICT)
        entry = self.state.orders.get(cid)
        denial = check.decide(request.candidate, entry[2] if entry else 0)
        if denial is not None:
            return Admission(AdmitOutcome.DENIED, denial)
        self._orders.force_put(request.admitted)
        self.state.rates.setdefault(request.candidate.symbol, []).append(check.desk.now_ms)
        if key is not None:
            self.decisions[key] = request.decision
        self.published.append((to.of(self._orders.account).name, request.event))
        return Admission(AdmitOutcome.ADMITTED)

    async def record_fills(
        self, fills: Sequence[FillRecord], *, to: AccountStream, claim_ttl_ms: int, now_ms: int
    ) -> list[bool]:
        results = []
        for fill in fills:
            won = fill.claim_key not in self.claims
            if won:
                self.claims.add(fill.claim_key)
                self.state.add_fill(
                    fill.symbol, fill.exec_id, fill.side, fill.units, now_ms, fill.venue
                )
                self.published.append((to.of(self._orders.account).name, fill.event))
            results.append(won)
        return results

    async def books(self, symbols: Iterable[Symbol]) -> dict[Symbol, SymbolBook]:
        return {s: self.state.book(s) for s in symbols}

    async def symbols(self) -> set[Symbol]:
        return set(self.state.exposed)

    async def rates(self, symbols: Iterable[Symbol], now_ms: int) -> dict[Symbol, int]:
        return {s: self.state.rate(s, now_ms) for s in symbols}
