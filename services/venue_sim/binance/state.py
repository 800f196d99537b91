"""The running Binance personality: the shared engine state (`SimState`) plus what only
Binance has: listen keys, dead-man's switches, margin types, weight limits, the streams.

It lists the linear contracts only, and numbers orders and fills: the engine's order and
execution ids are decimal strings of one counter (Binance's `orderId` and trade `id`),
starting at the wall clock in ms so that ids never repeat across resets or restarts.
"""

from __future__ import annotations

import itertools
import time
from collections.abc import Callable, Collection, Iterator

from libs.common.domain.enums import Category
from services.venue_sim.binance.countdown import CHECK_INTERVAL_S, Countdowns
from services.venue_sim.binance.listen_keys import ListenKeys
from services.venue_sim.binance.order_params import DEFAULT_STP_MODE
from services.venue_sim.binance.ratelimit import BinanceLimiter
from services.venue_sim.binance.ws import Sources, StreamHub
from services.venue_sim.engine import Changes
from services.venue_sim.engine.catalog import InstrumentSpec
from services.venue_sim.settings import SimSettings
from services.venue_sim.state import Channel, Periodic, SimState

LISTEN_KEY_CHECK_S = 1.0


class BinanceState(SimState):
    """Everything the Binance personality's process holds."""

    def __init__(self, settings: SimSettings) -> None:
        self._ids: Iterator[int] = itertools.count(int(time.time() * 1000))
        super().__init__(settings)
        self.weights = BinanceLimiter(self.limits)
        self.listen_keys = ListenKeys()
        self.countdowns = Countdowns()
        self.margin_types: dict[tuple[str, str], str] = {}
        """(uid, symbol) -> "isolated" where set so (else "cross")."""
        self.stp_modes: dict[str, str] = {}
        """orderId -> its selfTradePreventionMode, where not the default."""
        self.versions: dict[str, int] = {}
        """Symbol -> its order book's update id (`lastUpdateId`, the depth streams' `u`)."""
        self.modify_ids = itertools.count(1)
        self.streams = StreamHub(
            Sources(
                exchange=lambda: self.exchange,
                clock=self.now,
                faults=lambda: self.faults,
                listen_keys=self.listen_keys,
                version=self.version,
                stp_of=self.stp_of,
                margin_type_of=self.margin_type_of,
            )
        )

    # -- hooks of SimState -------------------------------------------------------------------

    def listed_specs(self, settings: SimSettings) -> list[InstrumentSpec]:
        """Binance USDⓈ-M lists the linear contracts only."""
        return [s for s in super().listed_specs(settings) if s.category is Category.LINEAR]

    def new_ids(self) -> Callable[[], str]:
        """Numeric ids: Binance's orderId and trade id are integers."""
        return lambda: str(next(self._ids))

    def publish(
        self,
        changes: Changes,
        *,
        created: Collection[str] = (),
        amended: Collection[str] = (),
    ) -> None:
        """Record an operation's changes and push them on the streams; `created` and
        `amended` name the orders the operation placed or modified (their NEW and
        AMENDMENT events)."""
        self.record(changes)
        for _, symbol in changes.books:
            self.versions[symbol] = self.versions.get(symbol, 0) + 1
        self.streams.dispatch(changes, created, amended)

    def flush_public(self) -> None:
        """Push the timed market streams that are due."""
        self.streams.flush()

    def periodic(self) -> list[Periodic]:
        """The dead-man's switches' and the listen keys' checks."""
        return [
            (lambda: CHECK_INTERVAL_S, self.check_countdowns, "countdown cancel"),
            (lambda: LISTEN_KEY_CHECK_S, self._expire_due_keys, "listen key expiry"),
        ]

    def drop_connections(self, channel: Channel) -> int:
        """Close the user-data (private), market (public) or all stream connections."""
        return self.streams.drop(channel)

    def connection_counts(self) -> dict[str, int]:
        """Open stream connections: user-data ones as private, the others as public."""
        return self.streams.counts()

    def reset_streams(self) -> None:
        """Track the market streams afresh on the rebuilt exchange."""
        self.streams.reset()

    def reset(self, *, seed: int | None = None, market_frozen: bool | None = None) -> None:
        """SimState's reset, plus Binance's own: weights, switches, margin types (listen
        keys and stream subscriptions stay, as WebSocket sessions do on Bybit)."""
        super().reset(seed=seed, market_frozen=market_frozen)
        self.weights.clear()
        self.countdowns.clear()
        self.margin_types.clear()
        self.stp_modes.clear()

    def load(self) -> str | None:
        """SimState's load; new ids then continue above the loaded ones."""
        loaded = super().load()
        held = [int(i) for i in self.exchange.orders if i.isdigit()]
        held += [
            int(e.exec_id)
            for ledger in self.exchange.ledgers.values()
            for e in ledger.executions[Category.LINEAR]
            if e.exec_id.isdigit()
        ]
        if held:
            self._ids = itertools.count(max(max(held) + 1, int(time.time() * 1000)))
        return loaded

    # -- Binance's own -----------------------------------------------------------------------

    def version(self, symbol: str) -> int:
        """The update id of a symbol's order book."""
        return self.versions.get(symbol, 0)

    def stp_of(self, order_id: str) -> str:
        """An order's selfTradePreventionMode."""
        return self.stp_modes.get(order_id, DEFAULT_STP_MODE)

    def margin_type_of(self, uid: str, symbol: str) -> str:
        """ "cross" or "isolated", as the account last set for the symbol."""
        return self.margin_types.get((uid, symbol), "cross")

    def check_countdowns(self) -> None:
        """Cancel the open orders of every dead-man's switch that ran out."""
        for uid, symbol in self.countdowns.due(self.now()):
            self._cancel_symbol(uid, symbol)

    def _cancel_symbol(self, uid: str, symbol: str) -> None:
        _, changes = self.exchange.cancel_where(
            lambda o: o.symbol == symbol, uid=uid, cancel_type="CancelAllBeforeReq"
        )
        self.publish(changes)

    def _expire_due_keys(self) -> None:
        self.expire_listen_keys()

    def expire_listen_keys(self, key: str | None = None) -> list[str]:
        """Expire the keys past their validity (or `key` at once); their subscribers get
        `listenKeyExpired`. Returns the keys expired."""
        gone = self.listen_keys.expire(self.now(), key=key)
        for expired, _ in gone:
            self.streams.expired(expired)
        return [expired for expired, _ in gone]

    def expire_all_listen_keys(self) -> list[str]:
        """Expire every key of the accounts at once; their subscribers get
        `listenKeyExpired`. Returns the keys expired."""
        gone = self.listen_keys.expire_all(self.uids)
        for expired, _ in gone:
            self.streams.expired(expired)
        return [expired for expired, _ in gone]
