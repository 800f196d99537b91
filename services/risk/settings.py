"""Settings of the risk service, from `MMX_RISK_*` (and `REDIS_URL`)."""

from __future__ import annotations

from pydantic import Field
from pydantic_settings import SettingsConfigDict

from libs.common.service import ServiceSettings


class RiskSettings(ServiceSettings):
    """How the risk service reads, decides and watches."""

    model_config = SettingsConfigDict(env_prefix="MMX_RISK_", extra="ignore", frozen=True)

    port: int = 9102
    batch_size: int = Field(50, ge=1, le=100)
    """Entries per XREADGROUP of each consumer."""
    request_consumers: int = Field(2, ge=1, le=8)
    """Consumers of `orders.requests` in this process: batches decided at once. Each is a
    consumer of the group as another risk instance would be; the ledger's admission step
    keeps them from admitting past a limit together, as it does across instances."""
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
