"""Settings of the risk service, from `MMX_RISK_*` (and `REDIS_URL`)."""

from __future__ import annotations

from decimal import Decimal, InvalidOperation
from itertools import pairwise
from typing import Annotated, Self

from pydantic import BeforeValidator, Field, model_validator
from pydantic_settings import NoDecode, SettingsConfigDict

from libs.common.service import ServiceSettings
from libs.common.stores.marks import MARK_HISTORY_SPAN_S

MAX_MARKOUT_HORIZONS = 5
"""Markout horizons at most: each is an `edge_bps{source}` series per symbol."""


def _horizon_list(value: object) -> tuple[Decimal, ...]:
    """Seconds, comma-separated in the environment (`1,5,30`): positive, increasing, whole
    milliseconds, at most `MARK_HISTORY_SPAN_S` (the mids are read from the mark history)."""
    parts = value.split(",") if isinstance(value, str) else value
    if not isinstance(parts, list | tuple) or not parts:
        raise ValueError("markout horizons are empty: expected seconds, e.g. 1,5,30")
    try:
        horizons = tuple(Decimal(str(part).strip()) for part in parts)
    except InvalidOperation as error:
        raise ValueError(f"markout horizons {value!r} are not numbers of seconds") from error
    if len(horizons) > MAX_MARKOUT_HORIZONS:
        raise ValueError(
            f"{len(horizons)} markout horizons: expected {MAX_MARKOUT_HORIZONS} at most"
        )
    for horizon in horizons:
        if not (horizon.is_finite() and 0 < horizon <= MARK_HISTORY_SPAN_S):
            raise ValueError(
                f"markout horizon {horizon} s is out of range: expected above 0 and at most "
                f"{MARK_HISTORY_SPAN_S} s (what the mark history keeps)"
            )
        if horizon != horizon.quantize(Decimal("0.001")):
            raise ValueError(f"markout horizon {horizon} s is not a whole number of ms")
    if any(later <= earlier for earlier, later in pairwise(horizons)):
        raise ValueError(f"markout horizons {value!r} are not strictly increasing")
    return horizons


HorizonList = Annotated[tuple[Decimal, ...], NoDecode, BeforeValidator(_horizon_list)]


class RiskSettings(ServiceSettings):
    """How the risk service reads, decides and watches."""

    model_config = SettingsConfigDict(env_prefix="MMX_RISK_", extra="ignore", frozen=True)

    port: int = 9102
    batch_size: int = Field(50, ge=1, le=100)
    """Entries per XREADGROUP of each consumer."""
    request_consumers: int = Field(2, ge=1, le=8)
    """Consumers of each account's `orders.requests` in this process (the desk's has one):
    batches decided at once. Each is a consumer of the group as another risk instance would
    be; the ledger's admission step keeps them from admitting past a limit together, as it
    does across instances."""
    block_ms: int = Field(100, ge=1)
    claim_idle_ms: int = Field(5_000, ge=1_000, le=10_000)
    """Entries pending this long in a dead consumer are claimed by a live one. An order waits
    this long behind a dead risk instance, then up to the router's `claim_idle_s` (20 s)
    behind a dead router, and must still be younger than the router's `max_order_age_s`
    (30 s) to be sent: hence at most 10 s (it was 30 s, so every order a crashed instance
    held was refused "stale"). A claim of a slow live instance's batch is safe: a decision
    is made once per command (`decision_ttl_s`)."""
    mark_max_age_s: float = Field(30.0, ge=0)
    """A mark not confirmed by a connected ticker stream for this long is no mark (0: any)."""
    refresh_interval_s: float = Field(1.0, gt=0)
    """How often gauges are refreshed from Redis and the daily loss is checked."""
    edge_window_fills: int = Field(50, ge=1)
    """Measured edge is the size-weighted mean over this many latest fills of a symbol."""
    edge_min_fills: int = Field(20, ge=1)
    """Measured edge freezes trading only once it averages at least this many fills."""
    decision_ttl_s: float = Field(24 * 3600.0, gt=0)
    """How long a decision on an amend is remembered against redeliveries (a place's
    decision is its record)."""
    audit_interval_s: float = Field(10.0, gt=0, le=3600)
    """How often the exposure audit recomputes the ledger from the records (one instance,
    under a lease)."""
    actor: str = "risk"
    """Who risk says froze trading, in the freeze history."""
    markout_horizons_s: HorizonList = (Decimal(1), Decimal(5), Decimal(30))
    """Each fill is marked out against the mid this many seconds after it (`1,5,30`); each
    horizon is published as `edge_bps{source="markout_<h>s"}`."""
    markout_window_s: float = Field(300.0, gt=0, le=86_400)
    """Markout edge is the notional-weighted mean of the markouts settled in this window."""
    markout_min_fills: int = Field(20, ge=1)
    """Markout edge freezes trading only once its window holds at least this many fills."""
    markout_freeze_threshold_bps: Decimal = Field(
        Decimal(-5), ge=-10_000, le=10_000, decimal_places=2
    )
    """Markout edge at `markout_freeze_horizon_s` below this freezes trading (markout_edge)."""
    markout_freeze_horizon_s: Decimal = Decimal(5)
    """The horizon whose markout edge can freeze trading: one of `markout_horizons_s`."""
    markout_interval_s: float = Field(0.25, gt=0, le=10)
    """How often due markouts are settled (one instance, under a lease)."""
    markout_settle_delay_s: float = Field(0.5, ge=0, le=10)
    """A markout is settled this long after it is due, so that the marks of its moment have
    reached the mark store (positions writes them every `marks_flush_interval_s`)."""
    recovery_check_interval_s: float = Field(1.0, gt=0, le=10)
    """How often the auto-recovery looks at a transient freeze (one instance, under a lease)."""
    recovery_clear_s: float = Field(30.0, ge=0, le=86_400)
    """A transient freeze's cause must be seen cleared this long, without a break, before
    trading recovers (goes REDUCING)."""
    recovery_warmup_s: float = Field(60.0, ge=0, le=86_400)
    """How long an auto-recovery keeps trading REDUCING (reduce-only) before ACTIVE."""
    recovery_max_per_hour: int = Field(3, ge=0, le=100)
    """Auto-recoveries that may begin in any rolling hour (counted in Redis, over every
    instance); past it a transient freeze stays FROZEN until an operator acts. 0: never."""
    freeze_positions_lag_s: float = Field(30.0, ge=0, le=3_600)
    """A fill the venue reported waiting this long for positions freezes trading
    (positions_lag, transient); 0: never (orders are denied after `max_positions_lag_s`)."""
    freeze_stale_marks_s: float = Field(60.0, ge=0, le=3_600)
    """A symbol with a position without a fresh mark this long freezes trading (stale_marks,
    transient); 0: never (its orders are denied `no_mark`)."""
    scaling_interval_s: float = Field(1.0, gt=0, le=10)
    """How often the limit scaler folds the mids into the volatility estimates and announces
    the scaling rule's changes to the limits (one instance, under a lease)."""

    @model_validator(mode="after")
    def _freeze_horizon_is_a_horizon(self) -> Self:
        if self.markout_freeze_horizon_s not in self.markout_horizons_s:
            horizons = ",".join(str(h) for h in self.markout_horizons_s)
            raise ValueError(
                f"{self.env_name('markout_freeze_horizon_s')}={self.markout_freeze_horizon_s} "
                f"is not one of {self.env_name('markout_horizons_s')}={horizons}"
            )
        return self
