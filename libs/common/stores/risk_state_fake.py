"""The RiskStateStore fake: plain attributes, the same rules as the Redis store."""

from __future__ import annotations

from collections.abc import Mapping
from decimal import Decimal

from libs.common.domain.enums import Side
from libs.common.domain.ids import ClientOrderId, Symbol
from libs.common.domain.risk_checks import RiskLimits, TradingState
from libs.common.stores.risk_state import (
    StateChangeRecord,
    StateMachine,
    TradingStatus,
    Transition,
    check_overrides,
    from_units,
    to_units,
)


class InMemoryRiskStateStore(StateMachine):
    """RiskStateStore in memory. No await inside an operation, so each one is atomic."""

    def __init__(self) -> None:
        self._limits = RiskLimits()
        self._overrides: dict[Symbol, dict[str, Decimal | int]] = {}
        self._status = TradingStatus(TradingState.ACTIVE, 0, "", "", 0)
        self._history: list[StateChangeRecord] = []
        self._reserved: dict[tuple[Symbol, Side], dict[ClientOrderId, int]] = {}
        self._refs: dict[ClientOrderId, tuple[Symbol, Side] | None] = {}
        """Where each order's reservation is; None once released (it may not reserve again)."""

    async def get_limits(self, symbol: Symbol | None = None) -> RiskLimits:
        overrides = self._overrides.get(symbol, {}) if symbol is not None else {}
        return RiskLimits.model_validate(self._limits.model_dump() | overrides)

    async def set_limits(self, limits: RiskLimits) -> None:
        self._limits = limits

    async def set_symbol_overrides(
        self, symbol: Symbol, overrides: Mapping[str, Decimal | int]
    ) -> None:
        self._overrides[symbol] = check_overrides(self._limits, overrides)

    async def trading_state(self) -> TradingStatus:
        return self._status

    async def transition(
        self, target: TradingState, reason: str, actor: str, now_ns: int, cutoff_ns: int | None
    ) -> tuple[int, Transition]:
        current = self._status
        if current.state is target:
            return current.epoch, Transition.SAME
        if target is TradingState.REDUCING and current.state is TradingState.FROZEN:
            return current.epoch, Transition.FROZEN
        frozen = current.state is TradingState.FROZEN
        if frozen and cutoff_ns is not None and current.since_ns > cutoff_ns:
            return current.epoch, Transition.COOLDOWN
        epoch = current.epoch + 1
        self._status = TradingStatus(target, epoch, reason, actor, now_ns)
        entry_id = f"{len(self._history) + 1}-0"
        record = StateChangeRecord(entry_id, target, current.state, reason, actor, epoch, now_ns)
        self._history.append(record)
        return epoch, Transition.CHANGED

    async def freeze_history(self, limit: int = 100) -> list[StateChangeRecord]:
        return self._history[::-1][:limit]

    async def reserve(
        self,
        symbol: Symbol,
        side: Side,
        client_order_id: ClientOrderId,
        notional: Decimal,
        limit: Decimal,
    ) -> bool:
        units, limit_units = to_units(notional, round_up=True), to_units(limit, round_up=False)
        if client_order_id in self._refs:
            return self._refs[client_order_id] == (symbol, side)
        side_reserved = self._reserved.setdefault((symbol, side), {})
        if sum(side_reserved.values()) + units > limit_units:
            return False
        side_reserved[client_order_id] = units
        self._refs[client_order_id] = (symbol, side)
        return True

    async def release(self, client_order_id: ClientOrderId) -> bool:
        where = self._refs.get(client_order_id)
        if where is None:
            return False
        del self._reserved[where][client_order_id]
        self._refs[client_order_id] = None
        return True

    async def reserved(self, symbol: Symbol, side: Side) -> dict[ClientOrderId, Decimal]:
        side_reserved = self._reserved.get((symbol, side), {})
        return {cid: from_units(units) for cid, units in side_reserved.items()}
