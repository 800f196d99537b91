"""What risk knows, read from Redis: the domain `RiskSnapshot` and what surrounds it.

`RiskSnapshotReader.read` gathers, in two rounds of concurrent reads: the trading state,
desk and per-symbol limits, positions, marks, open orders, reservations, the orders approved
in the last second and today's P&L baseline. The risk service checks orders against it; the
gateway shows it (`/v1/risk`) and checks hypothetical orders with it (`/v1/risk/simulate`).

Rules of the snapshot:

- Exposure counts the orders risk approved: an open order that is still Pending and holds
  no reservation is waiting for risk and cannot be at the venue, so it is left out (it is
  checked on its own). Orders in `exclude` (those being decided) are left out too.
- Only fresh marks (confirmed by a connected stream within `mark_max_age_s`) enter the
  snapshot: a check without a current price denies. P&L uses the latest mark, fresh or not.
- P&L today = net P&L now - the net P&L when the day (UTC) was first observed, where net
  P&L = sum over positions of realized - fees + unrealized at the mark (0 without a mark).
  The risk service sets the baseline once a day (`ensure_pnl_baseline`, first writer wins);
  until it is set P&L today reads 0. P&L made between 00:00 and that first observation
  (risk down at midnight) is not counted.

The order times written by `record_order_times` feed the order-rate check.
"""

from __future__ import annotations

import asyncio
import datetime as dt
from collections.abc import Collection, Iterable, Mapping, Sequence
from dataclasses import dataclass
from decimal import Decimal
from typing import Any

from redis.asyncio import Redis

from libs.common.domain.enums import Side
from libs.common.domain.ids import ClientOrderId, Symbol
from libs.common.domain.orders import Order, OrderStatus
from libs.common.domain.positions import Position, unrealized_pnl
from libs.common.domain.risk_checks import OpenOrder, RiskLimits, RiskSnapshot
from libs.common.domain.time import NS_PER_SECOND, seconds_to_ns
from libs.common.metrics import ALL_SYMBOLS
from libs.common.stores import (
    OrderStore,
    PositionStore,
    RedisOrderStore,
    RedisPositionStore,
    RedisRiskStateStore,
    RiskStateStore,
    TradingStatus,
)
from libs.common.stores._support import text
from libs.common.stores.marks import Mark, MarkStore, RedisMarkStore
from libs.common.topology import order_times_key, pnl_baseline_key

_ZERO = Decimal(0)
ORDER_TIMES_KEPT_NS = 10 * NS_PER_SECOND
"""How far back approved order times are kept (the rate check looks at the last second)."""
PNL_BASELINE_TTL_S = 3 * 24 * 3600
_SYMBOLS_AT_ONCE = 4


@dataclass(frozen=True, slots=True)
class RiskView:
    """A consistent-enough read of the risk state at `now_ns`, with its `RiskSnapshot`."""

    now_ns: int
    snapshot: RiskSnapshot
    status: TradingStatus
    desk_limits: RiskLimits
    symbol_limits: Mapping[Symbol, RiskLimits]
    positions: Mapping[Symbol, Position]
    marks: Mapping[Symbol, Mark]
    """The latest mark of every known symbol, fresh or not (the snapshot has fresh ones)."""
    reserved: Mapping[tuple[Symbol, Side], Mapping[ClientOrderId, Decimal]]
    net_pnl: Decimal
    pnl_baseline: Decimal | None

    @property
    def symbols(self) -> list[Symbol]:
        return sorted(self.symbol_limits)

    def limits(self, symbol: Symbol) -> RiskLimits:
        """The limits of `symbol`: the desk's with its overrides."""
        return self.symbol_limits.get(symbol, self.desk_limits)

    def reserved_total(self, symbol: Symbol, side: Side) -> Decimal:
        return sum(self.reserved.get((symbol, side), {}).values(), _ZERO)


class RiskSnapshotReader:
    """Reads `RiskView`s from Redis; stores default to the Redis ones over `redis`."""

    def __init__(
        self,
        redis: Redis,
        *,
        mark_max_age_s: float = 30.0,
        orders: OrderStore | None = None,
        positions: PositionStore | None = None,
        risk: RiskStateStore | None = None,
        marks: MarkStore | None = None,
    ) -> None:
        self._redis = redis
        self._mark_max_age_ns = seconds_to_ns(Decimal(str(mark_max_age_s)))
        self._orders = orders or RedisOrderStore(redis)
        self._positions = positions or RedisPositionStore(redis)
        self._risk = risk or RedisRiskStateStore(redis)
        self._marks = marks or RedisMarkStore(redis)

    async def read(
        self,
        now_ns: int,
        *,
        symbols: Iterable[Symbol] = (),
        exclude: Collection[ClientOrderId] = (),
    ) -> RiskView:
        """The view at `now_ns` over `symbols` plus every symbol with a position or a mark."""
        status, desk, positions, marked, baseline = await asyncio.gather(
            self._risk.trading_state(),
            self._risk.get_limits(),
            self._positions.all(),
            self._marks.symbols(),
            self._redis.get(pnl_baseline_key(utc_day(now_ns))),
        )
        known = sorted({*symbols, *marked, *(p.symbol for p in positions)})
        marks, per_symbol = await asyncio.gather(
            self._marks.get_many(known), self._read_symbols(known, now_ns)
        )
        by_symbol = dict(zip(known, per_symbol, strict=True))
        reserved = {
            (symbol, side): part.reserved[side]
            for symbol, part in by_symbol.items()
            for side in Side
        }
        open_orders = {
            symbol: _exposure(part.open_orders, part.reserved, exclude)
            for symbol, part in by_symbol.items()
        }
        by_position = {p.symbol: p for p in positions}
        net = sum((_net_pnl(p, marks.get(p.symbol)) for p in positions), _ZERO)
        base = None if baseline is None else Decimal(text(baseline))
        fresh = {s: m.mark for s, m in marks.items() if m.is_fresh(now_ns, self._mark_max_age_ns)}
        snapshot = RiskSnapshot(
            trading_state=status.state,
            positions={s: p.qty for s, p in by_position.items()},
            open_orders={s: orders for s, orders in open_orders.items() if orders},
            marks=fresh,
            recent_order_ts_ns={s: part.order_times for s, part in by_symbol.items()},
            pnl_today=_ZERO if base is None else net - base,
        )
        return RiskView(
            now_ns=now_ns,
            snapshot=snapshot,
            status=status,
            desk_limits=desk,
            symbol_limits={s: part.limits for s, part in by_symbol.items()},
            positions=by_position,
            marks=marks,
            reserved=reserved,
            net_pnl=net,
            pnl_baseline=base,
        )

    async def _read_symbols(self, symbols: Sequence[Symbol], now_ns: int) -> list[_SymbolPart]:
        """Each symbol's part, a few symbols at a time: a read takes 5 connections per symbol
        at once from the client's bounded pool."""
        semaphore = asyncio.Semaphore(_SYMBOLS_AT_ONCE)

        async def read(symbol: Symbol) -> _SymbolPart:
            async with semaphore:
                return await self._read_symbol(symbol, now_ns)

        return list(await asyncio.gather(*(read(s) for s in symbols)))

    async def _read_symbol(self, symbol: Symbol, now_ns: int) -> _SymbolPart:
        limits, orders, buys, sells, times = await asyncio.gather(
            self._risk.get_limits(symbol),
            self._orders.open_orders(symbol),
            self._risk.reserved(symbol, Side.BUY),
            self._risk.reserved(symbol, Side.SELL),
            self._redis.zrangebyscore(
                order_times_key(symbol), f"({now_ns - NS_PER_SECOND}", now_ns, withscores=True
            ),
        )
        scored: Any = times
        order_times = tuple(sorted(int(score) for _, score in scored))
        return _SymbolPart(limits, orders, {Side.BUY: buys, Side.SELL: sells}, order_times)


@dataclass(frozen=True, slots=True)
class _SymbolPart:
    limits: RiskLimits
    open_orders: list[Order]
    reserved: dict[Side, dict[ClientOrderId, Decimal]]
    order_times: tuple[int, ...]


def _exposure(
    orders: Iterable[Order],
    reserved: Mapping[Side, Mapping[ClientOrderId, Decimal]],
    exclude: Collection[ClientOrderId],
) -> tuple[OpenOrder, ...]:
    """The open orders that count as exposure (see the module docstring)."""
    counted = []
    for order in orders:
        cid = order.client_order_id
        approved = order.status is not OrderStatus.PENDING or cid in reserved[order.side]
        leaves = max(order.qty, order.amend_qty or order.qty) - order.filled_qty
        if approved and cid not in exclude and leaves > 0:
            counted.append(OpenOrder(side=order.side, leaves_qty=leaves, price=order.price))
    return tuple(counted)


def _net_pnl(position: Position, mark: Mark | None) -> Decimal:
    unrealized = _ZERO if mark is None else unrealized_pnl(position, mark.mark)
    return position.realized_pnl - position.fees_paid + unrealized


def utc_day(now_ns: int) -> str:
    """The UTC date of `now_ns` as YYYYMMDD: the day P&L today belongs to."""
    return dt.datetime.fromtimestamp(now_ns / NS_PER_SECOND, dt.UTC).strftime("%Y%m%d")


async def ensure_pnl_baseline(redis: Redis, now_ns: int, net_pnl: Decimal) -> Decimal:
    """Set today's P&L baseline to `net_pnl` unless set; return the baseline in force."""
    key = pnl_baseline_key(utc_day(now_ns))
    async with redis.pipeline(transaction=False) as pipe:
        pipe.set(key, str(net_pnl), nx=True, ex=PNL_BASELINE_TTL_S)
        pipe.get(key)
        _, stored = await pipe.execute()
    return Decimal(text(stored))


async def record_order_times(
    redis: Redis, approved: Sequence[tuple[Symbol, ClientOrderId, int]]
) -> None:
    """Record approved orders (symbol, id, ts ns) for the rate check; one round trip."""
    if not approved:
        return
    async with redis.pipeline(transaction=False) as pipe:
        for symbol, client_order_id, ts_ns in approved:
            key = order_times_key(symbol)
            pipe.zadd(key, {client_order_id: ts_ns})
            pipe.zremrangebyscore(key, "-inf", f"({ts_ns - ORDER_TIMES_KEPT_NS}")
            pipe.pexpire(key, ORDER_TIMES_KEPT_NS // 1_000_000)
        await pipe.execute()


def utilisation(view: RiskView) -> dict[tuple[str, str], float]:
    """Used fraction of each limit: {(limit name, symbol or ALL): ratio}.

    Inventory is the worst case of the symbol (position with every open order of one side
    filled) at the mark; total notional sums it over symbols; open orders and order rate
    count; daily loss is the loss today over the limit (0 while in profit). Symbols without
    a fresh mark have no inventory figure.
    """
    snap = view.snapshot
    ratios: dict[tuple[str, str], float] = {}
    total = _ZERO
    for symbol in view.symbols:
        limits = view.limits(symbol)
        orders = snap.open_orders.get(symbol, ())
        ratios[("max_open_orders_per_symbol", symbol)] = (
            len(orders) / limits.max_open_orders_per_symbol
        )
        ratios[("max_orders_per_second", symbol)] = _recent(snap, symbol, view.now_ns) / (
            limits.max_orders_per_second
        )
        mark = snap.marks.get(symbol)
        if mark is None:
            continue
        exposure = _worst_case(snap.positions.get(symbol, _ZERO), orders) * mark
        total += exposure
        ratios[("max_inventory_usd", symbol)] = float(exposure / limits.max_inventory_usd)
    desk = view.desk_limits
    ratios[("max_total_notional", ALL_SYMBOLS)] = float(total / desk.max_total_notional)
    loss = max(_ZERO, -snap.pnl_today)
    ratios[("daily_loss_limit", ALL_SYMBOLS)] = float(loss / desk.daily_loss_limit)
    return ratios


def _recent(snap: RiskSnapshot, symbol: Symbol, now_ns: int) -> int:
    times = snap.recent_order_ts_ns.get(symbol, ())
    return sum(1 for ts in times if now_ns - NS_PER_SECOND < ts <= now_ns)


def _worst_case(position: Decimal, orders: Iterable[OpenOrder]) -> Decimal:
    listed = list(orders)
    longest = position + sum((o.leaves_qty for o in listed if o.side is Side.BUY), _ZERO)
    shortest = position - sum((o.leaves_qty for o in listed if o.side is Side.SELL), _ZERO)
    return max(abs(longest), abs(shortest))
