"""The limit scaler, every `scaling_interval_s`, by the one risk instance holding the lease
`risk-limit-scaling`.

Each tick, while the rule (`RISK_SCALING_KEY`, `domain.limit_scaling`) scales with
volatility, the holder folds every symbol's latest mid into its estimate and writes the
estimate and the factor in force (`RISK_VOLATILITY_KEY`): the checks apply a new factor from
their next read. Then it compares the factors the view applies now (the volatility factors
and the schedule windows open at this instant) with those it last announced
(`RISK_SCALED_KEY`), and for each scope (ALL, or a symbol) whose factors changed it appends
`LimitsScaled` to `audit` and records the factors, in one MULTI: a change is announced once,
and never recorded without its announcement. The checks apply a schedule boundary at its
instant; its announcement follows within a tick.

A change of the configured limits is not announced here: `PUT /v1/risk/limits` records it on
`audit` as `SetRiskLimits`, with the operator.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Mapping
from decimal import Decimal

import orjson
from redis.asyncio import Redis

from libs.common import topology
from libs.common.bus import Bus
from libs.common.domain.ids import Symbol
from libs.common.domain.limit_scaling import (
    VolatilityRule,
    next_volatility_factor,
    observe,
    volatility_factor,
)
from libs.common.messages import Envelope, LimitsScaled
from libs.common.risk_view import RiskReader, RiskView
from libs.common.stores import RiskStateStore
from libs.common.stores import volatility as vol_store
from libs.common.stores._support import text
from libs.common.stores.leases import TickLease
from libs.common.stores.marks import MarkStore
from libs.common.stores.volatility import SymbolVolatility

log = logging.getLogger(__name__)

SCALING_LEASE = "risk-limit-scaling"


class LimitScaler:
    """One `run` per tick; estimates and announces only while holding the lease."""

    def __init__(
        self,
        *,
        redis: Redis,
        risk: RiskStateStore,
        marks: MarkStore,
        reader: RiskReader,
        lease: TickLease,
        bus: Bus[Envelope],
        clock: Callable[[], int],
    ) -> None:
        self._redis = redis
        self._risk = risk
        self._marks = marks
        self._reader = reader
        self._lease = lease
        self._bus = bus
        self._clock = clock

    async def run(self) -> list[LimitsScaled]:
        """Estimate and announce once (if holding the lease); the announcements made."""
        if not await self._lease.held():
            return []
        rule = await self._risk.get_scaling()
        if rule is not None and rule.volatility is not None:
            await self._estimate(rule.volatility)
        view = await self._reader.read(self._clock())
        return await self._announce(view)

    async def _estimate(self, rule: VolatilityRule) -> None:
        marks = await self._marks.get_many(await self._marks.symbols())
        known = await vol_store.read_all(self._redis)
        changed: dict[Symbol, SymbolVolatility] = {}
        for symbol, mark in marks.items():
            before = known.get(symbol)
            estimate = observe(
                before.estimate if before else None, mark.mid_or_mark, mark.ts_ns, rule.half_life_s
            )
            raw = (
                volatility_factor(estimate.per_minute_bps, rule, symbol)
                if estimate.returns
                else None
            )
            current = before.factor if before else None
            factor = Decimal(1) if raw is None else next_volatility_factor(current, raw, rule.floor)
            entry = SymbolVolatility(estimate, factor)
            if entry != before:
                changed[symbol] = entry
            if factor != (current if current is not None else Decimal(1)):
                log.warning(
                    "volatility %s %s bps/min (reference %s): factor %s -> %s on %s",
                    symbol,
                    estimate.per_minute_bps,
                    rule.reference_for(symbol),
                    current,
                    factor,
                    ", ".join(rule.limits),
                )
        await vol_store.write(self._redis, changed)

    async def _announce(self, view: RiskView) -> list[LimitsScaled]:
        announced = await self._redis.hgetall(topology.RISK_SCALED_KEY)
        before = {text(k): _factors(orjson.loads(v)) for k, v in announced.items()}
        made = []
        for scope in view.limit_scopes():
            factors = view.scale.factors(scope.symbol)
            if factors == before.get(scope.label, {}):
                continue
            changed = sorted(set(factors) | set(before.get(scope.label, {})))
            reasons = view.scale.reasons(scope.symbol)
            event = LimitsScaled(
                symbol=scope.label,
                factors=factors,
                limits={name: Decimal(getattr(scope.limits, name)) for name in changed},
                reason="; ".join(reasons) if reasons else "nothing scales: as configured",
            )
            # the record first, then the factors it announces (two slots on a Redis Cluster):
            # a crash between the two announces the change again, never not at all
            await self._bus.publish(topology.AUDIT, Envelope.wrap(event))
            await self._redis.hset(topology.RISK_SCALED_KEY, scope.label, _encode(factors))
            log.warning(
                "limits of %s scaled (%s): %s",
                scope.label,
                event.reason,
                ", ".join(f"{n} {v}" for n, v in event.limits.items()),
            )
            made.append(event)
        return made


def _encode(factors: Mapping[str, Decimal]) -> bytes:
    return orjson.dumps({name: str(f) for name, f in sorted(factors.items())})


def _factors(stored: Mapping[str, str]) -> dict[str, Decimal]:
    return {name: Decimal(f) for name, f in stored.items()}
