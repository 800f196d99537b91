"""The RiskStateStore fake: plain attributes, the same rules as the Redis store."""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from decimal import Decimal

from libs.common.domain.ids import Symbol
from libs.common.domain.limit_scaling import ScalingRule
from libs.common.domain.risk_checks import FreezeClass, RiskLimits, TradingState
from libs.common.messages import TradingStateChanged
from libs.common.stores.risk_state import (
    Keep,
    StateChangeRecord,
    StateMachine,
    TradingStatus,
    Transition,
    check_overrides,
    stored_limits,
)


class InMemoryRiskStateStore(StateMachine):
    """RiskStateStore in memory. No await inside an operation, so each one is atomic."""

    def __init__(self) -> None:
        self._limits = RiskLimits()
        self._scaling: ScalingRule | None = None
        self._overrides: dict[Symbol, dict[str, Decimal | int]] = {}
        self._status = TradingStatus(TradingState.ACTIVE, 0, "", "", 0)
        self.generation = "fake-generation"
        self.announced: list[TradingStateChanged] = []
        """What a change broadcast on `control`, in order."""
        self._history: list[StateChangeRecord] = []

    async def get_limits(self, symbol: Symbol | None = None) -> RiskLimits:
        overrides = self._overrides.get(symbol, {}) if symbol is not None else {}
        desk = self._limits.model_dump(mode="json", exclude_none=True)
        return stored_limits(desk, {k: str(v) for k, v in overrides.items()})

    async def get_limits_many(self, symbols: Iterable[Symbol]) -> dict[Symbol, RiskLimits]:
        return {s: await self.get_limits(s) for s in symbols}

    async def set_limits(
        self, limits: RiskLimits, *, scaling: ScalingRule | Keep | None = Keep.KEEP
    ) -> None:
        self._limits = limits
        if not isinstance(scaling, Keep):
            self._scaling = scaling

    async def get_scaling(self) -> ScalingRule | None:
        return self._scaling

    async def set_symbol_overrides(
        self, symbol: Symbol, overrides: Mapping[str, Decimal | int]
    ) -> None:
        self._overrides[symbol] = check_overrides(self._limits, overrides)

    async def trading_state(self) -> TradingStatus:
        return self._status

    async def transition(
        self,
        target: TradingState,
        reason: str,
        actor: str,
        now_ns: int,
        cutoff_ns: int | None,
        *,
        code: str = "",
        freeze_class: FreezeClass | None = None,
        expect_epoch: int | None = None,
    ) -> tuple[int, Transition]:
        current = self._status
        if expect_epoch is not None and current.epoch != expect_epoch:
            return current.epoch, Transition.MOVED
        if current.state is target:
            takes_over = (
                freeze_class is FreezeClass.HARD and current.freeze_class is FreezeClass.TRANSIENT
            )
            if not takes_over:
                return current.epoch, Transition.SAME
        elif (
            target is TradingState.REDUCING
            and current.state is TradingState.FROZEN
            and expect_epoch is None
        ):
            return current.epoch, Transition.FROZEN
        frozen = current.state is TradingState.FROZEN
        if frozen and cutoff_ns is not None and current.since_ns > cutoff_ns:
            return current.epoch, Transition.COOLDOWN
        if freeze_class is FreezeClass.TRANSIENT and current.state is not TradingState.ACTIVE:
            freeze_class = current.freeze_class  # a transient cause never softens a hard state
        epoch = current.epoch + 1
        generation = current.generation or self.generation
        self._status = TradingStatus(
            target,
            epoch,
            reason,
            actor,
            now_ns,
            generation,
            code,
            FreezeClass.HARD if freeze_class is None else freeze_class,
        )
        self.announced.append(
            TradingStateChanged(
                state=target, reason=reason, actor=actor, epoch=epoch, generation=generation
            )
        )
        entry_id = f"{len(self._history) + 1}-0"
        record = StateChangeRecord(entry_id, target, current.state, reason, actor, epoch, now_ns)
        self._history.append(record)
        return epoch, Transition.CHANGED

    async def freeze_history(self, limit: int = 100) -> list[StateChangeRecord]:
        return self._history[::-1][:limit]
