"""Read-only Bybit V5 calls: instruments, orders, executions, positions, tickers, time."""

from __future__ import annotations

from collections.abc import Callable
from decimal import Decimal
from typing import Any, TypeVar

from libs.common.domain.enums import Category
from libs.common.domain.instruments import InstrumentRules
from libs.common.venue.client import VenueClient
from libs.common.venue.config import VenueConfig
from libs.common.venue.errors import InvalidOrderRequest, rejection
from libs.common.venue.http import OnRequest
from libs.common.venue.models import (
    Execution,
    FeeRates,
    OrderBook,
    Ticker,
    VenueOrder,
    VenuePosition,
)
from libs.common.venue.rest import Envelope, RestClient
from libs.common.venue.signer import Params
from libs.common.venue.wire import (
    parse_execution,
    parse_instrument,
    parse_order,
    parse_position,
    parse_ticker,
)

T = TypeVar("T")

_MAX_PAGES = 1000  # a runaway cursor must not loop forever


class VenueQueries(VenueClient[VenueConfig, RestClient]):
    """The read-only half of `BybitVenue`; the lifecycle (clock: `/v5/market/time`) comes
    from `VenueClient`."""

    def __init__(self, config: VenueConfig | None = None, *, on_request: OnRequest | None = None):
        config = config or VenueConfig()
        super().__init__(config, RestClient(config, on_request=on_request))
        self._rules: dict[tuple[Category, str], InstrumentRules] = {}

    def _ok(self, env: Envelope, context: str) -> Envelope:
        if env.ret_code != 0:
            raise rejection(env.ret_code, env.ret_msg, context=context)
        return env

    async def _pages(
        self,
        path: str,
        params: dict[str, Any],
        parse: Callable[[dict[str, Any]], T],
        *,
        signed: bool = True,
    ) -> list[T]:
        """Every item of a cursor-paginated list."""
        out: list[T] = []
        cursor: str | None = None
        for _ in range(_MAX_PAGES):
            page: Params = {**params, "cursor": cursor}
            env = self._ok(await self.rest.get(path, page, signed=signed), path)
            out.extend(parse(item) for item in env.result.get("list") or [])
            cursor = env.result.get("nextPageCursor") or None
            if cursor is None:
                break
        return out

    def _scope(
        self, category: Category, symbol: str | None, settle_coin: str | None
    ) -> dict[str, Any]:
        """Linear calls need a symbol or a settle coin; default to the configured coin."""
        params: dict[str, Any] = {"category": category.value, "symbol": symbol}
        if category is Category.LINEAR and symbol is None:
            params["settleCoin"] = settle_coin or self.config.settle_coin
        return params

    async def instruments(self, category: Category) -> dict[str, InstrumentRules]:
        """All instruments of a category (every page), cached for `rules`."""
        items = await self._pages(
            "/v5/market/instruments-info",
            {"category": category.value, "limit": 1000},
            lambda d: parse_instrument(d, category),
            signed=False,
        )
        rules = {r.symbol: r for r in items}
        self._rules.update({(category, s): r for s, r in rules.items()})
        return rules

    async def rules(self, category: Category, symbol: str) -> InstrumentRules:
        """Cached rules of one symbol, fetched on a miss; InvalidOrderRequest if unknown."""
        cached = self._rules.get((category, symbol))
        if cached is not None:
            return cached
        items = await self._pages(
            "/v5/market/instruments-info",
            {"category": category.value, "symbol": symbol},
            lambda d: parse_instrument(d, category),
            signed=False,
        )
        for r in items:
            self._rules[(category, r.symbol)] = r
        if (category, symbol) not in self._rules:
            raise InvalidOrderRequest(
                f"unknown {category.value} symbol {symbol!r}: "
                "expected an instrument the venue lists"
            )
        return self._rules[(category, symbol)]

    async def open_orders(
        self, category: Category, symbol: str | None = None, settle_coin: str | None = None
    ) -> list[VenueOrder]:
        """Every open order (all pages), newest first."""
        params = {**self._scope(category, symbol, settle_coin), "openOnly": 0, "limit": 50}
        return await self._pages("/v5/order/realtime", params, lambda d: parse_order(d, category))

    async def get_order(
        self,
        category: Category,
        symbol: str,
        client_order_id: str | None = None,
        *,
        venue_order_id: str | None = None,
    ) -> VenueOrder | None:
        """One order by orderLinkId (or orderId): realtime first, then history; None if the
        venue knows neither."""
        ident: dict[str, Any] = (
            {"orderId": venue_order_id} if venue_order_id else {"orderLinkId": client_order_id}
        )
        params = {"category": category.value, "symbol": symbol, **ident}
        for path in ("/v5/order/realtime", "/v5/order/history"):
            env = self._ok(await self.rest.get(path, params), path)
            found = env.result.get("list") or []
            if found:
                return parse_order(found[0], category)
        return None

    async def order_history(
        self,
        category: Category,
        symbol: str | None = None,
        *,
        settle_coin: str | None = None,
        start_ms: int | None = None,
        end_ms: int | None = None,
    ) -> list[VenueOrder]:
        """Closed orders (all pages; the venue keeps 7 days, cancelled-unfilled only 24 h)."""
        params = {
            **self._scope(category, symbol, settle_coin),
            "startTime": start_ms,
            "endTime": end_ms,
            "limit": 50,
        }
        return await self._pages("/v5/order/history", params, lambda d: parse_order(d, category))

    async def executions(
        self,
        category: Category,
        symbol: str | None = None,
        start_ms: int | None = None,
        *,
        end_ms: int | None = None,
    ) -> list[Execution]:
        """Fills since `start_ms` (all pages; the venue caps a window at 7 days), oldest first."""
        params = {
            "category": category.value,
            "symbol": symbol,
            "startTime": start_ms,
            "endTime": end_ms,
            "limit": 100,
        }
        fills = await self._pages(
            "/v5/execution/list", params, lambda d: parse_execution(d, category)
        )
        return sorted(fills, key=lambda e: (e.exec_time_ms, e.exec_id))

    async def positions(
        self, category: Category, symbol: str | None = None, settle_coin: str | None = None
    ) -> list[VenuePosition]:
        """Positions (all pages). Spot has none: returns []."""
        if category is Category.SPOT:
            return []
        params = {**self._scope(category, symbol, settle_coin), "limit": 200}
        return await self._pages("/v5/position/list", params, lambda d: parse_position(d, category))

    async def tickers(self, category: Category, symbol: str | None = None) -> list[Ticker]:
        """Best bid/ask, last and mark for one symbol or the whole category."""
        path = "/v5/market/tickers"
        env = self._ok(
            await self.rest.get(path, {"category": category.value, "symbol": symbol}, signed=False),
            path,
        )
        ts = env.time_ms or self.rest.clock.now_ms()
        return [parse_ticker(d, category, ts) for d in env.result.get("list") or []]

    async def order_book(self, category: Category, symbol: str, depth: int = 50) -> OrderBook:
        """The top `depth` levels of each side of `symbol`'s book (`/v5/market/orderbook`)."""
        path = "/v5/market/orderbook"
        params = {"category": category.value, "symbol": symbol, "limit": depth}
        env = self._ok(await self.rest.get(path, params, signed=False), path)
        result = env.result
        return OrderBook(
            symbol=symbol,
            bids=tuple((Decimal(p), Decimal(q)) for p, q, *_ in result.get("b") or []),
            asks=tuple((Decimal(p), Decimal(q)) for p, q, *_ in result.get("a") or []),
            ts_ms=int(result.get("ts") or env.time_ms or self.rest.clock.now_ms()),
        )

    async def fee_rates(self, category: Category, symbol: str) -> FeeRates:
        """The account's maker and taker fee rates on `symbol` (`/v5/account/fee-rate`)."""
        path = "/v5/account/fee-rate"
        params = {"category": category.value, "symbol": symbol}
        env = self._ok(await self.rest.get(path, params), path)
        for item in env.result.get("list") or []:
            if item.get("symbol") == symbol:
                return FeeRates(
                    symbol=symbol,
                    maker=Decimal(item["makerFeeRate"]),
                    taker=Decimal(item["takerFeeRate"]),
                )
        raise InvalidOrderRequest(f"no fee rate for {category.value} {symbol}: expected one")
