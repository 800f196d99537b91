"""The smart order router's JSON shapes (camelCase): a plan, its children and verdicts.

Prices and fees show 8 decimals, rounded half-even (`display.Money`); quantities are exact.
"""

from __future__ import annotations

from decimal import Decimal

from libs.common.display import Money
from libs.common.domain.enums import Side
from libs.common.domain.ids import ClientOrderId
from libs.common.domain.routing_models import RouteChild
from services.gateway.schemas import ApiModel, PlaceResult
from services.gateway.smart_routing import Routing


class RouteChildView(ApiModel):
    """One venue's share of an order: an IOC Limit of `qty` at `worstPrice` there."""

    venue: str
    qty: Decimal
    expected_avg_price: Money
    notional: Money
    expected_fee: Money
    effective_price: Money
    """The average price after the taker fee: what the share costs (buy) or yields (sell)."""
    worst_price: Money
    """The last level the plan takes there: the child's limit price."""
    levels_used: int

    @classmethod
    def of(cls, child: RouteChild) -> RouteChildView:
        return cls(
            venue=child.venue,
            qty=child.qty,
            expected_avg_price=child.expected_avg_price,
            notional=child.notional,
            expected_fee=child.expected_fee,
            effective_price=child.effective_price,
            worst_price=child.worst_price,
            levels_used=child.levels_used,
        )


class RouteVerdictView(ApiModel):
    """Why a venue got its share, or none."""

    venue: str
    eligible: bool
    reason: str


class RouteView(ApiModel):
    """Where an order would go and why: the children best first, what no venue can take
    now (`unfilledQty`: not placed), a verdict per venue, and a one-line summary."""

    side: Side
    qty: Decimal
    limit_price: Money | None
    children: list[RouteChildView]
    unfilled_qty: Decimal
    verdicts: list[RouteVerdictView]
    summary: str

    @classmethod
    def of(cls, routing: Routing) -> RouteView:
        plan = routing.plan
        verdicts = sorted((*plan.verdicts, *routing.missing), key=lambda v: v.venue)
        return cls(
            side=plan.request.side,
            qty=routing.qty,
            limit_price=plan.request.limit_price,
            children=[RouteChildView.of(c) for c in plan.children],
            unfilled_qty=routing.unfilled_qty,
            verdicts=[
                RouteVerdictView(venue=v.venue, eligible=v.eligible, reason=v.reason)
                for v in verdicts
            ],
            summary=routing.summary,
        )


class RoutedResult(ApiModel):
    """An order placed with `venue: "auto"`: its route and the child orders placed for it
    (each `clientOrderId` is `{parentId}-{n}`, its `parentId` the parent's). `created` is
    false when the parent was routed before: nothing was placed again."""

    parent_id: ClientOrderId
    route: RouteView
    children: list[PlaceResult]
    created: bool
