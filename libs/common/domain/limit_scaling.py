"""Dynamic risk limits: a declarative rule that scales limits with realised volatility and a
UTC schedule. Pure.

A rule only ever tightens. Every factor is in (0, 1], so the limit an operator sets (the
*configured* limit) is the most the engine allows, and the *effective* limit is

    effective = configured x (product of the factors of the schedule windows open now)
                           x (the symbol's volatility factor, for the limits it names)

rounded down (USD and bps to 0.01, counts to whole numbers, never below 0.01 or 1).

- **Schedule windows** apply to any scalable limit, desk-wide or per symbol. A window opens
  on the UTC days it names at `start` and closes at `end` (`end` at or before `start`: it
  closes the next day; `24:00` is midnight). The checks read the clock themselves, so a
  boundary applies at its exact instant.
- **Volatility** applies to per-symbol limits only. Realised volatility is an exponentially
  weighted mean of squared log returns of the symbol's mid per second (`observe`, weighted by
  the time each return spans, with a half-life), quoted per minute in bps. Above
  `reference_bps` (or the symbol's own, `symbol_reference_bps`) the factor is reference /
  realised, never below `floor`; it moves in steps of `FACTOR_STEP`, down as soon as a step
  is crossed and back up only once the raw factor is a whole step above the next step
  (`next_volatility_factor`), so a reading that hovers at a step boundary does not flap.
- `daily_loss_limit` scales its soft threshold with it (by the same factor), so the soft
  threshold stays below the hard one.
"""

from __future__ import annotations

import datetime as dt
import math
import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from decimal import ROUND_DOWN, ROUND_FLOOR, Decimal
from typing import Annotated, Literal, get_args

from pydantic import (
    AfterValidator,
    BaseModel,
    BeforeValidator,
    ConfigDict,
    Field,
    field_validator,
    model_validator,
)

from libs.common.domain.ids import Symbol, parse_symbol
from libs.common.domain.risk_checks import RiskLimits
from libs.common.domain.time import NS_PER_SECOND

ScalableLimit = Literal[
    "max_order_notional",
    "max_inventory_usd",
    "max_total_notional",
    "price_band_bps",
    "max_open_orders_per_symbol",
    "max_orders_per_second",
    "daily_loss_limit",
]
SCALABLE_LIMITS: tuple[str, ...] = get_args(ScalableLimit)
DESK_LIMITS = frozenset({"max_total_notional", "daily_loss_limit"})
"""Checked once for the whole desk: a schedule scales them, volatility (per symbol) cannot."""
SYMBOL_LIMITS = frozenset(SCALABLE_LIMITS) - DESK_LIMITS
COUNT_LIMITS = frozenset({"max_open_orders_per_symbol", "max_orders_per_second"})
FACTOR_STEP = Decimal("0.05")
Weekday = Literal["mon", "tue", "wed", "thu", "fri", "sat", "sun"]
WEEKDAYS: tuple[Weekday, ...] = get_args(Weekday)
Factor = Annotated[Decimal, Field(gt=0, le=1, decimal_places=3)]
"""A multiplier of a limit: above 0, at most 1 (a rule never loosens), at most 3 decimals."""

_ONE = Decimal(1)
_CALM = Decimal(2)
_CENT = Decimal("0.01")
_CLOCK = re.compile(r"^(?:[01]\d|2[0-3]):[0-5]\d$|^24:00$")
_SECONDS_PER_MINUTE = 60
_BPS = 10_000


def _limit_name(value: object) -> object:
    """Accept a limit as the API spells it (camelCase) or as the metrics do (snake_case)."""
    if isinstance(value, str) and value not in SCALABLE_LIMITS:
        snake = re.sub(r"(?<!^)([A-Z])", r"_\1", value).lower()
        if snake in SCALABLE_LIMITS:
            return snake
        if snake in RiskLimits.model_fields or value in RiskLimits.model_fields:
            raise ValueError(
                f"limit {value!r} cannot scale: a rule scales caps, one of {list(SCALABLE_LIMITS)}"
                " (daily_loss_soft_limit scales with daily_loss_limit)"
            )
    return value


def _limit_names(value: object) -> object:
    return [_limit_name(v) for v in value] if isinstance(value, list | tuple) else value


ReferenceBps = Annotated[Decimal, Field(gt=0, le=_BPS, decimal_places=2)]
SymbolName = Annotated[str, AfterValidator(parse_symbol)]

LimitNames = Annotated[
    tuple[ScalableLimit, ...], BeforeValidator(_limit_names), Field(min_length=1)
]
"""Scalable limits, named as the API (camelCase) or the metrics (snake_case) spell them."""


def _unique(names: tuple[str, ...], what: str) -> tuple[str, ...]:
    if len(set(names)) != len(names):
        raise ValueError(f"{what} names a limit twice: {list(names)}")
    return names


class VolatilityRule(BaseModel):
    """Scale per-symbol limits down while a symbol's realised volatility is high."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    limits: LimitNames
    """The per-symbol limits to scale."""
    reference_bps: ReferenceBps
    """Realised volatility per minute (bps) up to which the limits stay as configured."""
    symbol_reference_bps: dict[SymbolName, ReferenceBps] = Field(
        default_factory=dict, max_length=500
    )
    """A symbol's own reference, where its normal volatility is not the desk's (DOGE is not
    BTC)."""
    floor: Factor = Decimal("0.25")
    """The lowest factor: a limit never falls below this share of its configured value."""
    half_life_s: int = Field(default=300, ge=10, le=86_400)
    """Half-life of the estimator's weights: how fast it forgets an old return."""

    def reference_for(self, symbol: Symbol) -> Decimal:
        """The reference of `symbol`: its own, else the desk's."""
        return self.symbol_reference_bps.get(symbol, self.reference_bps)

    @field_validator("limits")
    @classmethod
    def _per_symbol(cls, names: tuple[str, ...]) -> tuple[str, ...]:
        desk = sorted(set(names) & DESK_LIMITS)
        if desk:
            raise ValueError(
                f"{desk} are desk-wide and volatility is per symbol: scale them with a "
                "schedule window"
            )
        return _unique(names, "volatility")


class Window(BaseModel):
    """A UTC time window in which the named limits are multiplied by `factor`."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    name: str = Field(min_length=1, max_length=40, pattern=r"^[A-Za-z0-9_.-]+$")
    start: str = Field(examples=["07:45"])
    """HH:MM, UTC."""
    end: str = Field(examples=["08:15"])
    """HH:MM, UTC; at or before `start`: the next day; `24:00` is midnight."""
    days: tuple[Weekday, ...] = WEEKDAYS
    """The UTC days on which the window opens (all by default)."""
    factor: Factor
    limits: LimitNames

    @field_validator("start", "end")
    @classmethod
    def _clock(cls, value: str) -> str:
        if not _CLOCK.match(value):
            raise ValueError(f"time {value!r} is not HH:MM (00:00 to 24:00), UTC")
        return value

    @field_validator("days", mode="before")
    @classmethod
    def _lower_days(cls, value: object) -> object:
        if isinstance(value, list | tuple):
            return [v.lower() if isinstance(v, str) else v for v in value]
        return value

    @model_validator(mode="after")
    def _check(self) -> Window:
        if self.start == self.end or (self.start, self.end) in {("24:00", "00:00")}:
            raise ValueError(f"window {self.name!r} is empty: start and end are the same time")
        if self.start == "24:00":
            raise ValueError(f"window {self.name!r} starts at 24:00: write 00:00")
        if not self.days:
            raise ValueError(f"window {self.name!r} names no day")
        _unique(self.limits, f"window {self.name!r}")
        return self

    def is_open(self, now: dt.datetime) -> bool:
        """True if the window is open at `now` (a UTC datetime)."""
        minute = now.hour * 60 + now.minute
        start, end = _minutes(self.start), _minutes(self.end)
        today, yesterday = WEEKDAYS[now.weekday()], WEEKDAYS[now.weekday() - 1]
        if start < end:
            return today in self.days and start <= minute < end
        return (today in self.days and minute >= start) or (yesterday in self.days and minute < end)


class ScalingRule(BaseModel):
    """How the limits scale: with volatility, with a schedule, or both."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    volatility: VolatilityRule | None = None
    schedule: tuple[Window, ...] = Field(default=(), max_length=32)

    @field_validator("schedule")
    @classmethod
    def _unique_names(cls, windows: tuple[Window, ...]) -> tuple[Window, ...]:
        names = [w.name for w in windows]
        if len(set(names)) != len(names):
            raise ValueError(f"schedule window names repeat: {names}")
        return windows


def _minutes(clock: str) -> int:
    hours, minutes = clock.split(":")
    return int(hours) * 60 + int(minutes)


@dataclass(frozen=True, slots=True)
class Scale:
    """What scales the limits at one instant: the open windows and each symbol's volatility
    factor (below 1 only while high)."""

    rule: ScalingRule | None
    windows: tuple[Window, ...] = ()
    volatility: Mapping[Symbol, Decimal] = field(default_factory=dict)

    @classmethod
    def at(
        cls, rule: ScalingRule | None, now_ns: int, volatility: Mapping[Symbol, Decimal]
    ) -> Scale:
        """The scale of `rule` at `now_ns`, given each symbol's volatility factor."""
        if rule is None:
            return cls(None)
        now = dt.datetime.fromtimestamp(now_ns // NS_PER_SECOND, dt.UTC)  # floor: no float
        windows = tuple(w for w in rule.schedule if w.is_open(now))
        return cls(rule, windows, volatility if rule.volatility is not None else {})

    def factors(self, symbol: Symbol | None) -> dict[str, Decimal]:
        """The factor (below 1) of each limit that scales, for `symbol` (None: the desk)."""
        factors: dict[str, Decimal] = {}
        for window in self.windows:
            for name in window.limits:
                factors[name] = factors.get(name, _ONE) * window.factor
        vol = self.volatility.get(symbol, _ONE) if symbol is not None else _ONE
        if self.rule is not None and self.rule.volatility is not None and vol < _ONE:
            for name in self.rule.volatility.limits:
                factors[name] = factors.get(name, _ONE) * vol
        return factors

    def reasons(self, symbol: Symbol | None) -> list[str]:
        """Why the limits of `symbol` are scaled: each open window and a high volatility."""
        reasons = [f"window {w.name} x{w.factor}" for w in self.windows]
        vol = self.volatility.get(symbol, _ONE) if symbol is not None else _ONE
        if vol < _ONE:
            reasons.append(f"volatility x{vol}")
        return reasons

    def apply(self, limits: RiskLimits, symbol: Symbol | None) -> RiskLimits:
        """`limits` scaled for `symbol` (None: the desk); the same object when nothing
        scales."""
        factors = self.factors(symbol)
        return scaled(limits, factors) if factors else limits


def scaled(limits: RiskLimits, factors: Mapping[str, Decimal]) -> RiskLimits:
    """`limits` with each named limit multiplied by its factor, rounded down."""
    update: dict[str, Decimal | int | None] = {}
    for name, factor in factors.items():
        update[name] = _scale(name, getattr(limits, name), factor)
        if name == "daily_loss_limit" and limits.daily_loss_soft_limit is not None:
            update["daily_loss_soft_limit"] = _scale(name, limits.daily_loss_soft_limit, factor)
    return limits.model_copy(update=update)


def _scale(name: str, value: Decimal | int, factor: Decimal) -> Decimal | int:
    product = Decimal(value) * factor
    if name in COUNT_LIMITS:
        return max(1, int(product.to_integral_value(ROUND_FLOOR)))
    rounded = max(_CENT, product.quantize(_CENT, ROUND_DOWN))
    whole = rounded.to_integral_value()
    return whole.quantize(_ONE) if rounded == whole else rounded.normalize()


# -- Realised volatility --------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class VolatilityEstimate:
    """The estimator's state for one symbol: the last mid seen, at the venue's `ts_ns`, and the
    weighted mean of squared log returns per second (`variance`) over `returns` returns."""

    mid: Decimal
    ts_ns: int
    variance: float = 0.0
    returns: int = 0

    @property
    def per_minute_bps(self) -> Decimal:
        """Realised volatility over one minute, in bps (two decimals)."""
        bps = math.sqrt(self.variance * _SECONDS_PER_MINUTE) * _BPS
        return Decimal(repr(bps)).quantize(_CENT)


def observe(
    estimate: VolatilityEstimate | None, mid: Decimal, ts_ns: int, half_life_s: int
) -> VolatilityEstimate:
    """Fold the mid `mid` seen at `ts_ns` into `estimate`. A mid not newer than the last one
    changes nothing; the first return sets the variance, later ones weigh in by the time they
    span (a return over 2 s weighs as two returns over 1 s would)."""
    if mid <= 0:
        raise ValueError(f"mid {mid} is invalid: expected a positive price")
    if estimate is None:
        return VolatilityEstimate(mid=mid, ts_ns=ts_ns)
    if ts_ns <= estimate.ts_ns:
        return estimate
    seconds = (ts_ns - estimate.ts_ns) / NS_PER_SECOND
    change = math.log(mid / estimate.mid)
    sample = change * change / seconds
    if estimate.returns == 0:
        variance = sample
    else:
        weight = 1 - 2 ** (-seconds / half_life_s)
        variance = estimate.variance + weight * (sample - estimate.variance)
    return VolatilityEstimate(mid=mid, ts_ns=ts_ns, variance=variance, returns=estimate.returns + 1)


def volatility_factor(per_minute_bps: Decimal, rule: VolatilityRule, symbol: Symbol) -> Decimal:
    """The raw factor of `symbol`, reference / realised: below 1 above its reference (never
    below the floor), above 1 while calmer (at most 2)."""
    reference = rule.reference_for(symbol)
    if per_minute_bps * 2 <= reference:
        return _CALM
    return max(rule.floor, reference / per_minute_bps)


def next_volatility_factor(current: Decimal | None, raw: Decimal, floor: Decimal) -> Decimal:
    """The factor in force after a raw reading (`volatility_factor`): `raw` rounded down to a
    `FACTOR_STEP`, within [floor, 1]. It goes down at once; up only to what `raw` less one
    step rounds down to, so that a reading hovering at a step boundary holds the factor."""

    def stepped(value: Decimal) -> Decimal:
        steps = (value / FACTOR_STEP).to_integral_value(ROUND_FLOOR)
        return min(_ONE, max(floor, steps * FACTOR_STEP))

    down = stepped(raw)
    if current is None or down < current:
        return down
    up = stepped(raw - FACTOR_STEP)
    return up if up > current else current
