"""Freeze and unfreeze: the durable state change and its broadcast, in one step.

Every trigger (risk: edge collapse, markout edge, daily loss; router: venue circuit, auth;
gateway: an operator) goes through `trigger_freeze`, and the soft daily loss through
`trigger_reducing`. The store's Lua step decides who changed the state and, in the same step,
appends `TradingStateChanged` to `control`: a freeze is never written without its broadcast,
nor broadcast without being written. Only the caller that changed the state counts
`freeze_triggered_total`, so N instances racing on one freeze count it once. A router that
misses the broadcast still sees the freeze key within its poll period.

The freeze key records the reason's code and class (`libs.common.metrics.FREEZE_CLASSES`):
a TRANSIENT freeze recovers by itself once its cause has cleared (`services.risk.recovery`);
a HARD one waits for an operator. A HARD freeze arriving while trading is FROZEN for a
TRANSIENT reason takes the freeze over (and counts), so the recovery cannot end it.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable

from libs.common.metrics import EngineMetrics, FreezeReason, freeze_class
from libs.common.stores.risk_state import FreezeResult, RiskStateStore, UnfreezeResult

REASON_MAX_CHARS = 500


def reason_text(reason: FreezeReason, detail: str) -> str:
    """What the freeze key and the history say: `<reason>: <detail>`, at most 500 chars."""
    text = f"{reason.value}: {detail}" if detail else reason.value
    return text[:REASON_MAX_CHARS]


async def trigger_freeze(
    store: RiskStateStore,
    metrics: EngineMetrics,
    *,
    reason: FreezeReason,
    detail: str,
    actor: str,
    now_ns: int,
) -> FreezeResult:
    """Freeze trading (and broadcast it). changed=False when it was already frozen (for a
    HARD reason, or for any reason when this one is TRANSIENT)."""
    return await _trigger(store.freeze, metrics, reason, detail, actor, now_ns)


async def trigger_reducing(
    store: RiskStateStore,
    metrics: EngineMetrics,
    *,
    reason: FreezeReason,
    detail: str,
    actor: str,
    now_ns: int,
) -> FreezeResult:
    """Put trading in REDUCING (only orders that reduce a position; broadcast). changed=False
    when FROZEN (a freeze wins) or already REDUCING (for a HARD reason, or for any reason
    when this one is TRANSIENT). Counted in `freeze_triggered_total{reason}` like a freeze."""
    return await _trigger(store.set_reducing, metrics, reason, detail, actor, now_ns)


async def _trigger(
    move: Callable[..., Awaitable[FreezeResult]],
    metrics: EngineMetrics,
    reason: FreezeReason,
    detail: str,
    actor: str,
    now_ns: int,
) -> FreezeResult:
    """`move` (freeze or set_reducing) for `reason`, counted once by the caller that moved."""
    text = reason_text(reason, detail)
    code = reason.value
    result = await move(text, actor, now_ns, code=code, freeze_class=freeze_class(code))
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
