"""Router settings, read from `MMX_ROUTER_*` (the venue itself from `MMX_VENUE*`, see
`libs.common.venue.VenueConfig`)."""

from __future__ import annotations

from typing import Self

from pydantic import Field, model_validator
from pydantic_settings import SettingsConfigDict

from libs.common.domain.enums import Category
from libs.common.domain.ids import Symbol
from libs.common.service import ServiceSettings, SymbolList
from libs.common.stores import RateLimit
from libs.common.topology import RATE_LIMIT_GROUPS


class RouterSettings(ServiceSettings):
    """Everything the router is configured with; the venue comes from `VenueConfig`."""

    model_config = SettingsConfigDict(env_prefix="MMX_ROUTER_", extra="ignore", frozen=True)

    port: int = 9101
    symbols: SymbolList = (
        Symbol("BTCUSDT"),
        Symbol("ETHUSDT"),
        Symbol("SOLUSDT"),
    )
    """Symbols reconciled, swept on a freeze and exposed in the order metrics."""
    category: Category = Category.LINEAR
    """Category of the commands that carry none (amend, cancel), freezes and reconciliation."""
    batch_size: int = Field(50, ge=1, le=100)
    """Approved commands handled per read of `orders.approved`."""
    consumers: int = Field(2, ge=1, le=8)
    """Consumers of each account's `orders.approved` in this process: batches handled at
    once. Each is a consumer of the group as another router instance would be (orders never
    depend on the order of the stream across consumers)."""

    lease_ttl_s: float = Field(6.0, gt=0)
    """TTL of the private-stream lease; renewed every third of it."""
    dcp_window_s: int = Field(10, ge=0, le=300)
    """Bybit's disconnect-cancel (DCP), the dead man's switch: the private stream is
    subscribed to `dcp.future`, so when no router has held it for this long (every router
    dead or cut off, or Redis lost so the lease cannot be renewed) the venue itself cancels
    every derivatives order. 3..300 s, and longer than a lease handover; 0 disarms it.
    Bybit offers DCP to institutional accounts: elsewhere arming it fails, which is logged."""
    reconcile_interval_s: float = Field(30.0, gt=0)
    pending_check_s: float = Field(5.0, gt=0)
    """Pending (or PendingAmend / PendingCancel) records older than this are looked up."""
    pending_grace_s: float = Field(60.0, gt=0)
    """A Pending or Sending record the venue still does not know after this is Rejected
    "not at venue"."""
    max_order_age_s: float = Field(30.0, gt=0)
    """An approved order whose record is older than this is not sent: Rejected "stale"."""
    claim_idle_s: float = Field(20.0, gt=0)
    """A dead router's pending approvals are claimed by a live one after this long. Below
    `max_order_age_s`, so they are still sent; above a send's life (the venue's recv_window
    plus the request timeout, checked at start), so a claimed approval the venue does not
    know was certainly not placed by the dead router. A claim of a batch that a slow live
    router is still handling is safe: the record's compare-and-set and the venue's refusal
    of a second order with the same orderLinkId make the second handling a no-op."""
    exec_lookback_s: float = Field(3600.0, gt=0)
    """Where the first private-stream holder starts its execution snapshot (no cursor yet)."""
    fill_dedupe_ttl_s: float = Field(7 * 24 * 3600.0, gt=0)
    """How long a published execId is remembered (the venue keeps executions 7 days)."""
    fill_replay_horizon_s: float = Field(6 * 24 * 3600.0, gt=0)
    """An execution older than this is never published: its execId's claim may have expired
    (`fill_dedupe_ttl_s`), so a replay could not be told from a first sighting. Executions
    are seen within seconds (private stream, reconciliation); one this old that an order's
    record does not hold is counted in `fills_refused_total{reason="too_old"}`; the position
    reconciliation then reports the drift (`reconciliation_drift{kind="position_qty"}`)."""

    rate_limit_per_s: int = Field(10, ge=1, le=1_000_000)
    """Venue requests (a batch counts one per order) in any rolling second, per quota group,
    shared by every router instance: Bybit's own rule (10 for linear trading)."""
    rate_limits: dict[str, int] = Field(default_factory=lambda: {"query": 50})
    """Per quota group overrides (trade, batch, cancel_all, query), per rolling second."""
    rate_limit_window_s: float = Field(1.05, ge=1.0, le=10.0)
    """The window the router counts in: the venue's second plus a margin for the time
    between taking a place in it and the venue receiving the request."""
    transient_retries: int = Field(3, ge=0)
    """Retries of a venue call that certainly did not act (rate limited, not connected)."""
    retry_backoff_s: float = Field(0.1, gt=0)

    circuit_failure_threshold: int = Field(5, ge=1)
    """Consecutive failed venue exchanges that open the circuit (an IP ban opens it at once)."""
    circuit_cooldown_s: float = Field(30.0, gt=0)
    """Open for this long, then half-open: one probe decides."""
    venue_probe_interval_s: float = Field(5.0, gt=0)
    """How often the venue's server time is asked (readiness, clock sync)."""
    freeze_backoff_s: float = Field(0.05, gt=0)
    """First wait between two listings of a freeze sweep that still finds open orders."""
    freeze_backoff_max_s: float = Field(5.0, gt=0)
    freeze_poll_s: float = Field(0.25, gt=0, le=0.25)
    """How often the freeze key is read besides the `control` broadcasts (at most 250 ms)."""
    freeze_quiesce_s: float = Field(15.0, gt=0, le=120)
    """How long a sweep waits for the sends in flight to resolve before it lists anyway."""
    redis_loss_cancel_s: float = Field(10.0, gt=0, le=300)
    """Freeze key unreadable this long: cancel everything at the venue and refuse every send
    until Redis answers (the dead man's switch of a router cut off from Redis)."""

    @model_validator(mode="after")
    def _check_rate_limits(self) -> Self:
        for group, limit in self.rate_limits.items():
            if group not in RATE_LIMIT_GROUPS:
                raise ValueError(
                    f"rate_limits has an unknown endpoint group {group!r}: expected one of "
                    f"{', '.join(RATE_LIMIT_GROUPS)}"
                )
            if not 1 <= limit <= 1_000_000:
                raise ValueError(f"rate_limits[{group!r}] {limit} must be within 1..1000000")
        return self

    @model_validator(mode="after")
    def _check_dcp_window(self) -> Self:
        if self.dcp_window_s == 0:
            return self
        handover_s = self.lease_ttl_s * 4 / 3 + 1  # expiry, the next acquire, a connect
        if self.dcp_window_s < 3 or self.dcp_window_s <= handover_s:
            raise ValueError(
                f"dcp_window_s {self.dcp_window_s} must be 0 (disarmed) or within 3..300 and "
                f"above a lease handover ({handover_s:.1f} s for lease_ttl_s "
                f"{self.lease_ttl_s}): the venue would cancel everything while routers hand over"
            )
        return self

    @model_validator(mode="after")
    def _check_fill_dedupe(self) -> Self:
        if not self.exec_lookback_s <= self.fill_replay_horizon_s < self.fill_dedupe_ttl_s:
            raise ValueError(
                f"fill_replay_horizon_s {self.fill_replay_horizon_s} must be below "
                f"fill_dedupe_ttl_s {self.fill_dedupe_ttl_s} (a replay older than the execId "
                f"claim would be published again) and at least exec_lookback_s "
                f"{self.exec_lookback_s}"
            )
        return self

    @model_validator(mode="after")
    def _check_timings(self) -> Self:
        if self.claim_idle_s >= self.max_order_age_s:
            raise ValueError(
                f"claim_idle_s {self.claim_idle_s} must be below max_order_age_s "
                f"{self.max_order_age_s}: a dead router's approvals would be claimed too late "
                "to be sent"
            )
        if self.pending_grace_s <= self.max_order_age_s + self.pending_check_s:
            raise ValueError(
                f"pending_grace_s {self.pending_grace_s} must exceed max_order_age_s "
                f"{self.max_order_age_s} + pending_check_s {self.pending_check_s}: an order "
                "may still be sent until it is max_order_age_s old"
            )
        return self

    def rate_limit(self, group: str) -> RateLimit:
        """The rolling-second limit of one endpoint group."""
        limit = self.rate_limits.get(group, self.rate_limit_per_s)
        return RateLimit(limit, window_s=self.rate_limit_window_s)
