"""The running simulator: settings, the exchange, the synthetic market, limits, faults, hubs."""

from __future__ import annotations

import time
from collections import Counter
from collections.abc import Callable
from dataclasses import fields
from typing import Literal

from libs.common.domain.enums import Category
from services.venue_sim import persist
from services.venue_sim.auth import Authenticator
from services.venue_sim.dcp import DcpWatch
from services.venue_sim.engine import Changes, Exchange, SyntheticMarket
from services.venue_sim.engine.catalog import InstrumentSpec, specs_for
from services.venue_sim.engine.model import new_id
from services.venue_sim.faults import Faults
from services.venue_sim.ratelimit import IpGuard, Limits, RateLimiter
from services.venue_sim.receipts import Receipts
from services.venue_sim.settings import SimSettings
from services.venue_sim.ws_private import PrivateHub
from services.venue_sim.ws_public import PublicHub

Channel = Literal["private", "public", "all"]
Periodic = tuple[Callable[[], float], Callable[[], None], str]
"""(seconds between runs, action, name) of a periodic task of the running simulator."""


def limits_from(settings: SimSettings) -> Limits:
    return Limits(
        trade_per_second=settings.trade_per_second,
        spot_trade_per_second=settings.spot_trade_per_second,
        query_per_second=settings.query_per_second,
        dcp_per_second=settings.dcp_per_second,
        ip_per_5s=settings.ip_per_5s,
        ip_ban_seconds=settings.ip_ban_seconds,
    )


class SimState:
    """Everything one simulator process holds; `reset()` brings it back to the start.

    This is the Bybit personality's; another personality subclasses it and overrides the
    hooks that differ (`listed_specs`, `new_ids`, `publish`, `flush_public`, `periodic`,
    `drop_connections`, `connection_counts`, `reset_streams`)."""

    def __init__(self, settings: SimSettings) -> None:
        self.settings = settings
        self.specs = self.listed_specs(settings)
        self.auth = Authenticator(
            {pair.key: pair.secret for pair in settings.keys},
            {pair.key: pair.uid for pair in settings.keys},
        )
        self.uids = settings.uids()
        """The accounts' UIDs, the first account first."""
        self.faults = Faults()
        self.limits = limits_from(settings)
        self.limiter = RateLimiter(self.limits)
        self.ip_guard = IpGuard(self.limits)
        self.ret_codes: Counter[int] = Counter()
        self.item_codes: Counter[int] = Counter()
        """retCodes of the items of batch calls that failed (their envelope says 0)."""
        self.receipts = Receipts()
        self.market_frozen = settings.market_frozen
        self.tick_ms = settings.tick_ms
        self.volatility_bps = settings.volatility_bps
        self.seed = settings.seed
        self.exchange = self._new_exchange()
        self.market = SyntheticMarket(
            self.exchange, seed=self.seed, volatility_bps=self.volatility_bps
        )
        self.dcp = DcpWatch(self._dcp_fire)
        self.private = PrivateHub(
            self.auth, lambda: self.exchange, self.now, self.dcp, lambda: self.faults
        )
        self.public = PublicHub(lambda: self.exchange, self.now)
        self.dirty = False
        """Orders, fills or balances changed since the last `save()`."""

    def now(self) -> int:
        """The venue clock in ms (wall clock plus any injected offset)."""
        return int(time.time() * 1000) + self.faults.clock_offset_ms

    def listed_specs(self, settings: SimSettings) -> list[InstrumentSpec]:
        """The instruments this personality lists: linear and spot (Bybit)."""
        return specs_for(settings.symbols)

    def new_ids(self) -> Callable[[], str]:
        """What makes the ids of new orders and executions (UUID-shaped on Bybit)."""
        return new_id

    def _new_exchange(self) -> Exchange:
        s = self.settings
        return Exchange(
            self.specs,
            clock=self.now,
            fees={
                Category.LINEAR: (s.maker_fee, s.taker_fee),
                Category.SPOT: (s.spot_maker_fee, s.spot_taker_fee),
            },
            balances=s.wallet_balances(),
            leverage=s.leverage,
            half_spread_ticks=s.half_spread_ticks,
            max_active_orders=s.max_active_orders,
            uids=self.uids,
            ids=self.new_ids(),
        )

    def publish(self, changes: Changes) -> None:
        """Hand an operation's changes to the private and public streams (fills' times are
        recorded in `receipts` first)."""
        self.record(changes)
        self.private.dispatch(changes)
        self.public.dispatch(changes)

    def record(self, changes: Changes) -> None:
        """Note an operation's changes: receipt times of its fills, and that there is
        something new to save."""
        if changes.executions:
            self.receipts.executed(changes.executions, time.time_ns())
        if changes.orders or changes.executions or changes.wallet or changes.positions:
            self.dirty = True

    def flush_public(self) -> None:
        """Publish the public book and ticker changes collected since the last flush."""
        self.public.flush()

    def periodic(self) -> list[Periodic]:
        """Periodic tasks of this personality besides the market walk, the public flush and
        saving (none on Bybit)."""
        return []

    def drop_connections(self, channel: Channel) -> int:
        """Close the private, public or all WebSocket connections; how many were closed."""
        closed = 0
        if channel in ("private", "all"):
            closed += self.private.drop_all()
        if channel in ("public", "all"):
            closed += self.public.drop_all()
        return closed

    def connection_counts(self) -> dict[str, int]:
        """Open WebSocket connections: {"private": n, "public": m}."""
        return {"private": len(self.private.conns), "public": len(self.public.conns)}

    def reset_streams(self) -> None:
        """After a reset: forget pending DCP cancels, republish every book."""
        self.dcp.reset()
        self.public.reset()

    def step_market(self) -> None:
        """One tick of the synthetic market (no-op while frozen)."""
        if not self.market_frozen:
            self.publish(self.market.step())

    def reset(self, *, seed: int | None = None, market_frozen: bool | None = None) -> None:
        """Drop all orders, fills, positions, faults and limit overrides; re-seed the market."""
        if seed is not None:
            self.seed = seed
        self.market_frozen = self.settings.market_frozen if market_frozen is None else market_frozen
        self.tick_ms = self.settings.tick_ms
        self.volatility_bps = self.settings.volatility_bps
        self.faults = Faults()
        fresh = limits_from(self.settings)
        for field in fields(Limits):
            setattr(self.limits, field.name, getattr(fresh, field.name))
        self.limiter.clear()
        self.ip_guard.clear()
        self.ret_codes.clear()
        self.item_codes.clear()
        self.receipts.clear()
        self.exchange = self._new_exchange()
        self.market = SyntheticMarket(
            self.exchange, seed=self.seed, volatility_bps=self.volatility_bps
        )
        self.reset_streams()
        self.dirty = True

    def save(self) -> str | None:
        """Write the state file (`services.venue_sim.persist`) when one is configured; what
        it holds, or None."""
        path = self.settings.state_path
        if path is None:
            return None
        data = persist.snapshot(self.exchange, self.market.rng, saved_ms=self.now())
        persist.write(path, data)
        self.dirty = False
        return persist.summary(data)

    def load(self) -> str | None:
        """Continue from the state file when one is configured and exists (on a state just
        built, before any trading); what it held."""
        path = self.settings.state_path
        data = None if path is None else persist.read(path)
        if data is None:
            return None
        persist.restore(self.exchange, self.market.rng, data)
        return persist.summary(data)

    def _dcp_fire(self, uid: str, category: Category) -> None:
        _, changes = self.exchange.cancel_where(
            lambda order: order.category is category, uid=uid, cancel_type="CancelByDCP"
        )
        self.publish(changes)
