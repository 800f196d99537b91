"""Freeze and unfreeze: the durable state change, then the broadcast.

Every trigger (risk: edge collapse, daily loss; router: venue circuit, auth; gateway: an
operator) goes through `trigger_freeze`. The store's Lua step decides who changed the state;
only that caller counts `freeze_triggered_total` and publishes `TradingStateChanged` on
`control`, so N instances racing on one freeze count and announce it once. A router that
misses the broadcast still sees the freeze key before its next venue call.
"""

from __future__ import annotations

from libs.common import topology
from libs.common.bus import Bus
from libs.common.domain.risk_checks import TradingState
from libs.common.messages import Envelope, TradingStateChanged
from libs.common.metrics import EngineMetrics, FreezeReason
from libs.common.stores.risk_state import (
    FreezeResult,
    RiskStateStore,
    UnfreezeOutcome,
    UnfreezeResult,
)


async def trigger_freeze(
    store: RiskStateStore,
    bus: Bus[Envelope],
    metrics: EngineMetrics,
    *,
    reason: FreezeReason,
    detail: str,
    actor: str,
    now_ns: int,
) -> FreezeResult:
    """Freeze trading. Returns changed=False when it was already frozen (nothing published)."""
    text = f"{reason.value}: {detail}" if detail else reason.value
    result = await store.freeze(text, actor, now_ns)
    if result.changed:
        metrics.freeze_triggered.labels(reason=reason.value).inc()
        await bus.publish(
            topology.CONTROL,
            Envelope.wrap(
                TradingStateChanged(
                    state=TradingState.FROZEN, reason=text, actor=actor, epoch=result.epoch
                )
            ),
        )
    return result


async def request_unfreeze(
    store: RiskStateStore,
    bus: Bus[Envelope],
    *,
    reason: str,
    actor: str,
    now_ns: int,
    cooldown_ns: int,
    force: bool,
) -> UnfreezeResult:
    """Resume trading unless within the cooldown (and not forced); broadcast when resumed."""
    result = await store.unfreeze(reason, actor, now_ns, cooldown_ns, force=force)
    if result.outcome is UnfreezeOutcome.RESUMED:
        await bus.publish(
            topology.CONTROL,
            Envelope.wrap(
                TradingStateChanged(
                    state=TradingState.ACTIVE, reason=reason, actor=actor, epoch=result.epoch
                )
            ),
        )
    return result
