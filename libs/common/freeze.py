"""Freeze and unfreeze: the durable state change and its broadcast, in one step.

Every trigger (risk: edge collapse, markout edge, daily loss; router: venue circuit, auth;
gateway: an operator) goes through `trigger_freeze`. The store's Lua step decides who changed
the state and, in the same step, appends `TradingStateChanged` to `control`: a freeze is
never written without its broadcast, nor broadcast without being written. Only the caller
that changed the state counts `freeze_triggered_total`, so N instances racing on one freeze
count it once. A router that misses the broadcast still sees the freeze key within its poll period.
"""

from __future__ import annotations

from libs.common.metrics import EngineMetrics, FreezeReason
from libs.common.stores.risk_state import FreezeResult, RiskStateStore, UnfreezeResult


async def trigger_freeze(
    store: RiskStateStore,
    metrics: EngineMetrics,
    *,
    reason: FreezeReason,
    detail: str,
    actor: str,
    now_ns: int,
) -> FreezeResult:
    """Freeze trading (and broadcast it). changed=False when it was already frozen."""
    text = f"{reason.value}: {detail}" if detail else reason.value
    result = await store.freeze(text[:500], actor, now_ns)
    if result.changed:
        metrics.freeze_triggered.labels(reason=reason.value).inc()
    return result


async def request_unfreeze(
    store: RiskStateStore,
    *,
    reason: str,
    actor: str,
    now_ns: int,
    cooldown_ns: int,
    force: bool,
) -> UnfreezeResult:
    """Resume trading (and broadcast it) unless within the cooldown and not forced."""
    return await store.unfreeze(reason, actor, now_ns, cooldown_ns, force=force)
