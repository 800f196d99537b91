"""`/v1/positions`: every position with its mark and P&L, and `/v1/stream`, the live feed."""

from __future__ import annotations

from decimal import Decimal
from typing import Annotated

from fastapi import APIRouter, Depends, Query, WebSocket

from libs.common.api_keys import ALL_ACCOUNTS
from libs.common.domain.errors import InvalidIdentifier
from libs.common.domain.ids import DEFAULT_ACCOUNT, parse_symbol
from libs.common.stores.positions import read_all
from services.gateway.auth import AccountQuery, Role, require_role
from services.gateway.context import GatewayDep
from services.gateway.schemas_positions import PositionList, PositionView
from services.gateway.schemas_risk import TradingView
from services.gateway.stream import frame, serve

router = APIRouter(prefix="/v1", tags=["positions"])

VIEWER = Depends(require_role(Role.VIEWER))
CLOSE_POLICY = 1008
"""WebSocket close code "policy violation": the request itself was invalid."""


@router.get("/positions", dependencies=[VIEWER])
async def list_positions(
    gateway: GatewayDep, account: AccountQuery = DEFAULT_ACCOUNT
) -> PositionList:
    """Every position of `account` at every venue (flat ones included), marked at the latest
    mark of its symbol where one is known."""
    positions = await read_all(gateway.book(account).positions)
    marks = await gateway.marks.get_many([p.symbol for p in positions])
    views = [PositionView.of(p, marks.get(p.symbol)) for p in positions]
    return PositionList(positions=views, net_pnl=sum((v.net_pnl for v in views), Decimal(0)))


@router.websocket("/stream", dependencies=[VIEWER])
async def stream(
    websocket: WebSocket,
    gateway: GatewayDep,
    symbols: Annotated[
        str | None, Query(description="comma-separated, e.g. BTCUSDT,ETHUSDT")
    ] = None,
) -> None:
    """Order events, fills, positions and trading state as `{"type", "data"}` JSON."""
    try:
        wanted = None if symbols is None else [parse_symbol(s.strip()) for s in symbols.split(",")]
    except InvalidIdentifier as error:
        await websocket.close(CLOSE_POLICY, str(error)[:120])
        return
    await websocket.accept()
    principal = websocket.state.principal
    accounts = None if ALL_ACCOUNTS in principal.accounts else principal.accounts
    client = gateway.hub.connect(wanted, accounts)  # before reading the state: nothing slips by
    status = await gateway.risk.trading_state()
    client.offer(
        frame("TradingState", TradingView.of(status).model_dump(mode="json", by_alias=True))
    )
    await serve(websocket, client, gateway.hub)
