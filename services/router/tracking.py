"""Order metrics of the transitions a router instance wrote (see `libs.common.stores.tracking`)."""

from __future__ import annotations

from libs.common.domain.orders import OrderStatus
from libs.common.metrics import REJECT_REASON_VENUE, EngineMetrics
from libs.common.stores.tracking import Change, Tracker, changes_only

__all__ = ["Change", "Tracker", "changes_only", "count_change"]


def count_change(metrics: EngineMetrics, change: Change, *, reject_reason: str = "") -> None:
    """Count the order metrics of a transition this instance wrote (see `libs.common.metrics`)."""
    before, after = change.before, change.after
    labels = {
        "account": after.account,
        "venue": after.venue,
        "symbol": after.symbol,
        "side": after.side.value,
    }
    if before.venue_order_id is None and after.venue_order_id is not None:
        metrics.orders_placed.labels(**labels).inc()
    if after.status is not before.status:
        if after.status is OrderStatus.REJECTED:
            reason = reject_reason or REJECT_REASON_VENUE
            metrics.orders_rejected.labels(**labels, reason=reason).inc()
        elif after.status is OrderStatus.CANCELED:
            metrics.orders_canceled.labels(**labels).inc()
        elif after.status is OrderStatus.FILLED:
            metrics.orders_filled.labels(**labels).inc()
    if before.filled_qty == 0 < after.filled_qty and after.status is not OrderStatus.FILLED:
        metrics.orders_partially_filled.labels(**labels).inc()
