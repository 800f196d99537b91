"""The pure rules of the risk service, around the domain checks: no I/O here.

Inventory reservation. After the pure checks pass, an order reserves its notional on its
side of the symbol, within the headroom that the position leaves on that side:

    headroom(side) = max_inventory_usd - side.sign * position_qty * mark
    notional       = qty * (price or mark)

Measured edge. Each fill is measured against the mid at its execution time:

    edge_i = side.sign * (mid_i - price_i) / mid_i * 10_000          (bps, > 0 = earned)

and a symbol's measured edge is the size-weighted mean over its last N measured fills:

    measured = sum(w_i * edge_i) / sum(w_i),   w_i = qty_i * price_i (USD notional)

Trading freezes (EDGE_COLLAPSE) when at least M fills are in the window and measured <
edge_freeze_threshold_bps (strictly, as `edge_breach`).
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from decimal import Decimal
from types import MappingProxyType

from libs.common.domain.enums import Side
from libs.common.domain.orders import Order
from libs.common.domain.risk_checks import (
    Check,
    OpenOrder,
    OrderIntent,
    RiskLimits,
    RiskSnapshot,
    check_inventory,
    check_order_notional,
    check_price_band,
)
from libs.common.metrics import DenyReason

_ZERO = Decimal(0)

DENY_REASONS: Mapping[Check, DenyReason] = MappingProxyType(
    {check: DenyReason(check.value) for check in Check}
)
"""The `orders_denied_total{reason}` label of each check."""


def order_notional(intent: OrderIntent, mark: Decimal) -> Decimal:
    """USD value of an order: at its limit price, a Market order at the mark."""
    return intent.qty * (intent.price or mark)


def inventory_headroom(
    limits: RiskLimits, position_qty: Decimal, mark: Decimal, side: Side
) -> Decimal:
    """What `side` may still reserve on a symbol: the limit less the position on that side."""
    return limits.max_inventory_usd - side.sign * position_qty * mark


def reservation_refusal(intent: OrderIntent, notional: Decimal, headroom: Decimal) -> str:
    """The reason of an order whose reservation the store refused."""
    return (
        f"inventory {intent.symbol} {intent.side}: {_fmt(notional)} USD more would pass the "
        f"{_fmt(headroom)} USD the position leaves (orders approved meanwhile count)"
    )


def with_open(snapshot: RiskSnapshot, intent: OrderIntent) -> RiskSnapshot:
    """The snapshot with `intent` as one more open order of its symbol."""
    symbol = intent.symbol
    order = OpenOrder(side=intent.side, leaves_qty=intent.qty, price=intent.price)
    orders = {**snapshot.open_orders, symbol: (*snapshot.open_orders.get(symbol, ()), order)}
    return snapshot.model_copy(update={"open_orders": orders})


def with_approved(snapshot: RiskSnapshot, intent: OrderIntent, ts_ns: int) -> RiskSnapshot:
    """The snapshot once `intent` is approved at `ts_ns`: one more open order, sent now."""
    symbol = intent.symbol
    times = snapshot.recent_order_ts_ns
    recent = {**times, symbol: (*times.get(symbol, ()), ts_ns)}
    return with_open(snapshot, intent).model_copy(update={"recent_order_ts_ns": recent})


def amend_intent(order: Order, qty: Decimal | None, price: Decimal | None) -> OrderIntent | str:
    """The order as it would stand after the amend (what can still fill), or why it cannot."""
    new_qty = order.qty if qty is None else qty
    leaves = new_qty - order.filled_qty
    if leaves <= 0:
        return (
            f"amend of {order.client_order_id}: qty {new_qty} is not above the filled qty "
            f"{order.filled_qty}"
        )
    return OrderIntent(
        symbol=order.symbol,
        side=order.side,
        qty=leaves,
        price=order.price if price is None else price,
        reduce_only=order.reduce_only,
    )


def amend_denial(
    intent: OrderIntent,
    snapshot: RiskSnapshot,
    limits: RiskLimits,
    *,
    reserved_by_others: Decimal,
) -> tuple[Check, str] | None:
    """Price band, order notional and inventory of an amended order, as what can still fill
    after the amend (`snapshot` without the order itself).

    The reservations of the side's other orders count too: the amended order must fit in
    what they leave of the headroom (checked, not reserved: see the service docstring).
    """
    mark = snapshot.marks.get(intent.symbol)
    if mark is None:
        return Check.NO_MARK, f"no mark price for {intent.symbol}: cannot check the amend"
    if reason := check_price_band(intent, mark, limits):
        return Check.PRICE_BAND, reason
    if reason := check_order_notional(intent, mark, limits):
        return Check.ORDER_NOTIONAL, reason
    position = snapshot.positions.get(intent.symbol, _ZERO)
    orders = snapshot.open_orders.get(intent.symbol, ())
    if reason := check_inventory(intent, position, orders, mark, limits):
        return Check.INVENTORY, reason
    notional = order_notional(intent, mark)
    headroom = inventory_headroom(limits, position, mark, intent.side) - reserved_by_others
    if notional > headroom:
        return Check.INVENTORY, reservation_refusal(intent, notional, headroom)
    return None


@dataclass(frozen=True, slots=True)
class EdgeSample:
    """One measured fill: its weight (USD notional) and its edge in bps."""

    weight: Decimal
    edge_bps: Decimal

    def encode(self) -> str:
        return f"{self.weight}|{self.edge_bps}"

    @classmethod
    def decode(cls, raw: str) -> EdgeSample:
        weight, edge = raw.split("|")
        return cls(Decimal(weight), Decimal(edge))


def rolling_edge(samples: Iterable[EdgeSample]) -> Decimal | None:
    """Size-weighted mean edge of `samples`; None when they weigh nothing."""
    listed = list(samples)
    total = sum((s.weight for s in listed), _ZERO)
    if total == 0:
        return None
    return sum((s.weight * s.edge_bps for s in listed), _ZERO) / total


def _fmt(value: Decimal) -> str:
    return f"{value.quantize(Decimal('0.01')).normalize():f}"
