"""Read-only Binance USDⓈ-M calls: instruments, orders, fills, positions, tickers, time.

Binance's order and fill histories are per symbol and per window of less than 7 days. An
account-wide query (no `symbol`) covers `account_symbols()`: the configured `symbols`, every
symbol with an open order or a position now, and every symbol placed through this adapter.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable, Iterable, Iterator
from typing import Any, TypeVar

from libs.common.domain.enums import Category
from libs.common.domain.instruments import InstrumentRules
from libs.common.venue.binance import market, wire
from libs.common.venue.binance.config import BinanceConfig
from libs.common.venue.binance.errors import NO_SUCH_ORDER
from libs.common.venue.binance.parse import (
    parse_execution,
    parse_instrument,
    parse_order,
    parse_position,
)
from libs.common.venue.binance.rest import BinanceRest
from libs.common.venue.client import VenueClient
from libs.common.venue.errors import InvalidOrderRequest
from libs.common.venue.http import OnRequest
from libs.common.venue.models import (
    Execution,
    FeeRates,
    OrderBook,
    Ticker,
    VenueOrder,
    VenuePosition,
)

log = logging.getLogger(__name__)

T = TypeVar("T")
LINEAR = Category.LINEAR
WINDOW_MS = 7 * 86_400_000 - 1
"""Longest startTime..endTime span `allOrders` and `userTrades` accept (under 7 days)."""
PAGE = 1000
_MAX_PAGES = 1000  # a runaway cursor must not loop forever


def windows(start_ms: int, end_ms: int) -> Iterator[tuple[int, int]]:
    """`[start_ms, end_ms]` cut into spans Binance accepts, oldest first."""
    lo = start_ms
    while lo <= end_ms:
        hi = min(end_ms, lo + WINDOW_MS)
        yield lo, hi
        lo = hi + 1


NOW_MARGIN_MS = 5_000
"""How far past the venue's clock, as estimated, a query "until now" reaches."""


class BinanceQueries(VenueClient[BinanceConfig, BinanceRest]):
    """The read-only half of `BinanceVenue`; the lifecycle (clock: `/fapi/v1/time`) and
    `use_credentials` (which also signs the next listenKey) come from `VenueClient`."""

    def __init__(
        self, config: BinanceConfig | None = None, *, on_request: OnRequest | None = None
    ) -> None:
        config = config or BinanceConfig()
        super().__init__(config, BinanceRest(config, on_request=on_request))
        self._rules: dict[str, InstrumentRules] = {}
        self._symbols: set[str] = set(self.config.symbols)

    def track(self, symbols: Iterable[str]) -> None:
        """Cover `symbols` in account-wide fill and history queries from now on."""
        self._symbols.update(symbols)

    @property
    def tracked_symbols(self) -> frozenset[str]:
        """Symbols account-wide queries cover without listing the account first."""
        return frozenset(self._symbols)

    async def account_symbols(self) -> set[str]:
        """Symbols an account-wide query covers (see the module docstring)."""
        orders, positions = await asyncio.gather(self.open_orders(LINEAR), self.positions(LINEAR))
        self.track([o.symbol for o in orders] + [p.symbol for p in positions])
        return set(self._symbols)

    async def instruments(self, category: Category) -> dict[str, InstrumentRules]:
        """Every USDⓈ-M contract from `/fapi/v1/exchangeInfo`, cached for `rules` (spot: none).
        Its `rateLimits` replace the default limits the headroom is measured against."""
        if category is not LINEAR:
            return {}
        info = market.ok(
            await self.rest.get(wire.EXCHANGE_INFO, security="none"), wire.EXCHANGE_INFO
        ).obj
        self.rest.limits = self.rest.limits.updated(info.get("rateLimits") or [])
        rules: dict[str, InstrumentRules] = {}
        for item in info.get("symbols") or []:
            try:
                parsed = parse_instrument(item)
            except (KeyError, ValueError) as exc:
                log.warning("exchangeInfo: skipping %s: %s", item.get("symbol"), exc)
                continue
            rules[parsed.symbol] = parsed
        self._rules.update(rules)
        return rules

    async def rules(self, category: Category, symbol: str) -> InstrumentRules:
        """Cached rules of one symbol, fetched on a miss; InvalidOrderRequest if unknown."""
        wire.check_linear(category, symbol)
        if symbol not in self._rules:
            await self.instruments(category)
        if symbol not in self._rules:
            raise InvalidOrderRequest(
                f"unknown USDⓈ-M symbol {symbol!r}: expected an instrument exchangeInfo lists"
            )
        return self._rules[symbol]

    async def open_orders(
        self, category: Category, symbol: str | None = None, settle_coin: str | None = None
    ) -> list[VenueOrder]:
        """Every open order (of `symbol`, else of the account: `settle_coin` is ignored)."""
        if category is not LINEAR:
            return []
        answer = await self.rest.get(wire.OPEN_ORDERS, {"symbol": symbol})
        orders = [parse_order(d) for d in market.ok(answer, wire.OPEN_ORDERS).rows]
        self.track(o.symbol for o in orders)
        return orders

    async def get_order(
        self,
        category: Category,
        symbol: str,
        client_order_id: str | None = None,
        *,
        venue_order_id: str | None = None,
    ) -> VenueOrder | None:
        """One order (open or final) by orderId, else origClientOrderId; None if unknown
        (-2013; Binance forgets cancelled orders without fills after 3 days)."""
        if category is not LINEAR:
            return None
        ident = (
            {"orderId": venue_order_id}
            if venue_order_id
            else {"origClientOrderId": client_order_id}
        )
        answer = await self.rest.get(wire.ORDER, {"symbol": symbol, **ident})
        if answer.code == NO_SUCH_ORDER:
            return None
        return parse_order(market.ok(answer, f"query order {ident}").obj)

    async def _paged(
        self,
        path: str,
        params: dict[str, Any],
        span: tuple[int, int],
        parse: Callable[[dict[str, Any]], T],
        key: Callable[[dict[str, Any]], Any],
    ) -> list[T]:
        """Every row of `span`, one window at a time. Binance answers the most recent
        `limit` rows of a window, so a full page is followed by the rows up to its oldest
        time (that millisecond is read again and deduped)."""
        rows: dict[Any, T] = {}
        for lo, hi in windows(*span):
            top = hi
            for _ in range(_MAX_PAGES):
                page = {**params, "startTime": lo, "endTime": top, "limit": PAGE}
                got = market.ok(await self.rest.get(path, page), path).rows
                rows.update({key(d): parse(d) for d in got})
                if len(got) < PAGE:
                    break
                oldest = min(int(d.get("time") or d.get("updateTime") or 0) for d in got)
                top = oldest if oldest < top else top - 1
                if top < lo:
                    break
        return list(rows.values())

    def _span(self, start_ms: int | None, end_ms: int | None) -> tuple[int, int]:
        # "until now" ends a little past our estimate of the venue's clock: a fill stamped
        # in the last millisecond or two (the estimate can lag) must not fall outside it
        end = end_ms if end_ms is not None else self.rest.clock.now_ms() + NOW_MARGIN_MS
        return (start_ms if start_ms is not None else end - WINDOW_MS), end

    async def order_history(
        self,
        category: Category,
        symbol: str | None = None,
        *,
        settle_coin: str | None = None,
        start_ms: int | None = None,
        end_ms: int | None = None,
    ) -> list[VenueOrder]:
        """Final orders from `/fapi/v1/allOrders` (default: the last 7 days), oldest first."""
        if category is not LINEAR:
            return []
        span = self._span(start_ms, end_ms)
        symbols = [symbol] if symbol else sorted(await self.account_symbols())
        found: list[VenueOrder] = []
        for sym in symbols:
            found += await self._paged(
                wire.ALL_ORDERS, {"symbol": sym}, span, parse_order, lambda d: d["orderId"]
            )
        closed = [o for o in found if not o.status.is_open]
        return sorted(closed, key=lambda o: (o.updated_ms, o.venue_order_id))

    async def executions(
        self,
        category: Category,
        symbol: str | None = None,
        start_ms: int | None = None,
        *,
        end_ms: int | None = None,
    ) -> list[Execution]:
        """Fills from `/fapi/v1/userTrades` since `start_ms` (default: 7 days), oldest first."""
        if category is not LINEAR:
            return []
        symbols = [symbol] if symbol else sorted(await self.account_symbols())
        return await self.executions_of(symbols, start_ms, end_ms=end_ms)

    async def executions_of(
        self, symbols: Iterable[str], start_ms: int | None, *, end_ms: int | None = None
    ) -> list[Execution]:
        """Fills of `symbols` since `start_ms`, oldest first."""
        span = self._span(start_ms, end_ms)
        fills: list[Execution] = []
        for sym in symbols:
            fills += await self._paged(
                wire.USER_TRADES, {"symbol": sym}, span, parse_execution, lambda d: d["id"]
            )
        return sorted(fills, key=lambda e: (e.exec_time_ms, e.exec_id))

    async def positions(
        self, category: Category, symbol: str | None = None, settle_coin: str | None = None
    ) -> list[VenuePosition]:
        """Positions from `/fapi/v3/positionRisk` (symbols with a position or open orders)."""
        if category is not LINEAR:
            return []
        answer = await self.rest.get(wire.POSITION_RISK, {"symbol": symbol})
        positions = [parse_position(d) for d in market.ok(answer, wire.POSITION_RISK).rows]
        self.track(p.symbol for p in positions if p.size)
        return positions

    async def tickers(self, category: Category, symbol: str | None = None) -> list[Ticker]:
        """Best bid / ask (`bookTicker`) and mark (`premiumIndex`); `last` is None."""
        if category is not LINEAR:
            return []
        return await market.tickers(self.rest, symbol)

    async def order_book(self, category: Category, symbol: str, depth: int = 50) -> OrderBook:
        """The top `depth` levels of each side of `symbol`'s book (`/fapi/v1/depth`)."""
        wire.check_linear(category, f"order book {symbol}")
        return await market.order_book(self.rest, symbol, depth)

    async def fee_rates(self, category: Category, symbol: str) -> FeeRates:
        """The account's maker and taker fee rates on `symbol` (`/fapi/v1/commissionRate`)."""
        wire.check_linear(category, f"fee rates {symbol}")
        return await market.fee_rates(self.rest, symbol)
