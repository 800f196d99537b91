"""The position store: one position per symbol, folded fill by fill, each execId once.

Funding settlements fold the same way (`apply_funding`, deduped on their execId too).
`apply_fill` is idempotent on the fill's execId across any number of instances: the first
call to apply an execId changes the position and returns applied=True; every replay
(redelivery, a second instance, reconciliation) returns the position and applied=False.

The dedupe set lives apart from the position: the store remembers applied execIds for
`SEEN_TTL_S` (7 days, far beyond any redelivery or reconciliation window), and positions
it returns carry no `exec_ids`. A position record therefore stays small however many
fills it has taken (`Position.exec_ids` grows without bound).
"""

from __future__ import annotations

import asyncio
from collections.abc import Iterable
from typing import Protocol

from libs.common.domain.ids import (
    DEFAULT_ACCOUNT,
    DEFAULT_VENUE,
    AccountId,
    ExecId,
    Symbol,
    VenueId,
)
from libs.common.domain.positions import Fill, Funding, Position, book
from libs.common.stores._support import Clock, monotonic
from libs.common.stores.exposure import LedgerState

SEEN_TTL_S = 7 * 24 * 3600
"""How long an applied execId is remembered: a replay after that would apply again."""
DEFAULT_MAX_RETRIES = 64
"""Conflicts tolerated per fill: with N instances folding fills of one symbol at once, at
most N - 1 conflicts can happen to any of them."""


class PositionStore(Protocol):
    """Positions by symbol, changed only by applying fills."""

    async def apply_fill(self, fill: Fill, *, max_retries: int = ...) -> tuple[Position, bool]:
        """Fold `fill` into its symbol's position once; return (position, applied).

        applied=False means the execId was applied before and nothing changed. Raises
        ConcurrentUpdateError if other writers won every one of `max_retries` + 1 attempts.
        """
        ...

    async def apply_funding(
        self, funding: Funding, *, max_retries: int = ...
    ) -> tuple[Position, bool]:
        """Fold `funding` into its symbol's position once, as `apply_fill` does a fill."""
        ...

    async def get(self, symbol: Symbol) -> Position | None:
        """The position on `symbol`, or None if no fill was ever applied to it."""
        ...

    async def all(self) -> list[Position]:
        """Every position, flat ones included, by symbol."""
        ...

    async def versioned(self, symbols: Iterable[Symbol]) -> dict[Symbol, tuple[Position, int]]:
        """The positions of `symbols` with their versions (bumped by every fold; 0 and a flat
        position when none was folded): the exposure ledger refuses an admission checked
        against a version that has moved on."""
        ...


async def read_all(stores: Iterable[PositionStore]) -> list[Position]:
    """Every position of `stores` (an account's venues, a desk's accounts), read at once."""
    found = await asyncio.gather(*(store.all() for store in stores))
    return [position for positions in found for position in positions]


def fold_once(position: Position | None, entry: Fill | Funding) -> Position:
    """The position after `entry`, without the execId set (the store keeps that apart)."""
    base = position or Position(symbol=entry.symbol, account=entry.account, venue=entry.venue)
    return book(base, entry).model_copy(update={"exec_ids": frozenset()})


class InMemoryPositionStore:
    """The PositionStore fake: a dict of positions and a dict of execIds with expiry times.

    An update here cannot be interleaved (no await between read and write), so it never
    conflicts; `max_retries` is accepted for the same signature.
    """

    def __init__(
        self,
        *,
        clock: Clock = monotonic,
        seen_ttl_s: float = SEEN_TTL_S,
        ledger: LedgerState | None = None,
        account: AccountId = DEFAULT_ACCOUNT,
        venue: VenueId = DEFAULT_VENUE,
    ) -> None:
        self.account = account
        self.venue = venue
        self._positions: dict[Symbol, Position] = {}
        self._seen: dict[ExecId, float] = {}
        self._clock = clock
        self._seen_ttl_s = seen_ttl_s
        self.ledger = ledger or LedgerState()
        """The exposure ledger whose unfolded fills this store folds."""

    async def apply_fill(
        self, fill: Fill, *, max_retries: int = DEFAULT_MAX_RETRIES
    ) -> tuple[Position, bool]:
        return self._apply(fill)

    async def apply_funding(
        self, funding: Funding, *, max_retries: int = DEFAULT_MAX_RETRIES
    ) -> tuple[Position, bool]:
        return self._apply(funding)

    def _apply(self, entry: Fill | Funding) -> tuple[Position, bool]:
        if (entry.account, entry.venue) != (self.account, self.venue):
            raise ValueError(
                f"{entry.exec_id} is of account {entry.account} at {entry.venue}: expected "
                f"{self.account} at {self.venue}, those of this store"
            )
        now = self._clock()
        current = self._positions.get(entry.symbol)
        if self._seen.get(entry.exec_id, now) > now:
            self.ledger.fold(entry.symbol, entry.exec_id, applied=False)
            return current or self._flat(entry.symbol), False
        position = fold_once(current, entry)
        self._positions[entry.symbol] = position
        self._seen[entry.exec_id] = now + self._seen_ttl_s
        self.ledger.fold(entry.symbol, entry.exec_id, applied=True)
        return position, True

    async def versioned(self, symbols: Iterable[Symbol]) -> dict[Symbol, tuple[Position, int]]:
        versions = self.ledger.position_versions
        return {
            s: (
                self._positions.get(s) or self._flat(s),
                versions.get(s, 0),
            )
            for s in symbols
        }

    def _flat(self, symbol: Symbol) -> Position:
        return Position(symbol=symbol, account=self.account, venue=self.venue)

    async def get(self, symbol: Symbol) -> Position | None:
        return self._positions.get(symbol)

    async def all(self) -> list[Position]:
        return [self._positions[symbol] for symbol in sorted(self._positions)]
