"""The `/v1/positions` JSON shapes (camelCase), their numbers as `display` shows them."""

from __future__ import annotations

from libs.common.display import Money
from libs.common.domain.ids import Symbol, VenueId
from libs.common.domain.positions import Position, net_pnl, unrealized_pnl
from libs.common.domain.time import ns_to_ms
from libs.common.stores.marks import Mark
from services.gateway.schemas import ApiModel


class PositionView(ApiModel):
    """A position, marked when a mark is known: netPnl = realized + unrealized - fees -
    funding (`fundingPaid`: funding paid, net of funding received; Bybit settles it every 8 h).
    `markTime` is the venue's time of the mark (Unix ms). Quantities, prices and P&L show
    exactly 8 decimals, rounded half-even (`display.Money`); the store keeps them exact."""

    symbol: Symbol
    venue: VenueId
    qty: Money
    avg_entry_price: Money | None
    realized_pnl: Money
    fees_paid: Money
    funding_paid: Money
    mark: Money | None
    mark_time: int | None
    unrealized_pnl: Money | None
    net_pnl: Money
    """From the exact figures, then rounded (not the sum of the rounded fields)."""
    updated_time: int

    @classmethod
    def of(cls, position: Position, mark: Mark | None) -> PositionView:
        unrealized = None if mark is None else unrealized_pnl(position, mark.mark)
        entry = position.avg_entry_price
        return cls(
            symbol=position.symbol,
            venue=position.venue,
            qty=position.qty,
            avg_entry_price=entry,
            realized_pnl=position.realized_pnl,
            fees_paid=position.fees_paid,
            funding_paid=position.funding_paid,
            mark=None if mark is None else mark.mark,
            mark_time=None if mark is None else ns_to_ms(mark.ts_ns),
            unrealized_pnl=unrealized,
            net_pnl=net_pnl(position, None if mark is None else mark.mark),
            updated_time=ns_to_ms(position.updated_ts_ns),
        )


class PositionList(ApiModel):
    positions: list[PositionView]
    net_pnl: Money
    """Sum of the positions' netPnl as shown (unmarked positions count without unrealized
    P&L): the rows add up to it."""
