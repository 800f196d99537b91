"""The position store over Redis: a hash per symbol, changed by one compare-and-set script.

One store serves one account at one venue; its keys are the account's
(`topology.AccountKeys`), those of a venue other than `bybit` suffixed `:{venue}` (the
position hash, the symbol set, the seen execIds). The exposure ledger it folds fills out of
is the account's, every venue's together: risk adds a symbol up across venues.
`position(symbol)` is a hash of the position's numbers as exact decimal strings
(`qty`, `avg_entry_price` ("" when flat), `realized_pnl`, `fees_paid`, `funding_paid`,
`updated_ts_ns`) and a `version` bumped on every fill and funding settlement. No execIds are
kept in it: `exec_seen(execId)` marks an applied fill (or funding) for `SEEN_TTL_S`,
written by the same script that writes the position and removes the fill from the exposure
ledger's unfolded fills.
`position_symbols` lists the symbols that have a record.

The fold (Decimal VWAP, realized P&L, flips) runs in Python with the pure domain function;
Redis only decides, atomically, whether the result may be written.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from decimal import Decimal
from typing import Any

from redis.asyncio import Redis

from libs.common.accounts import venue_scoped
from libs.common.domain.ids import DEFAULT_ACCOUNT, DEFAULT_VENUE, AccountId, Symbol, VenueId
from libs.common.domain.positions import Fill, Funding, Position
from libs.common.stores._support import LuaScript, ScriptArg, backoff, text
from libs.common.stores.errors import ConcurrentUpdateError
from libs.common.stores.exposure_redis import LEDGER_LUA
from libs.common.stores.positions import DEFAULT_MAX_RETRIES, SEEN_TTL_S, fold_once
from libs.common.topology import keys_of

# Apply a fill's result once per execId, and only over the version it was computed from.
# KEYS[1] position hash, KEYS[2] seen key of the execId, KEYS[3] set of symbols, KEYS[4] the
# symbol's exposure ledger, KEYS[5] its unfolded fills, KEYS[6] the exposure symbols set.
# ARGV[1] version read, ARGV[2] seen TTL ms, ARGV[3] symbol, ARGV[4] execId, ARGV[5..] field,
# value pairs. Returns 1 applied (position, seen key, symbol set and the fill's removal from
# the unfolded exposure written together), 0 the execId was applied before (only the removal
# from the unfolded exposure, in case it was counted again), -1 the position moved on since
# the read (nothing changes: read again and re-fold). So across N instances each execId
# moves the position exactly once, and no fold is computed from a stale position; and a fill
# leaves the unfolded exposure in the very step it enters the position.
_APPLY = LuaScript(
    LEDGER_LUA
    + """
if redis.call('EXISTS', KEYS[2]) == 1 then
  ledger_unfold(KEYS[4], KEYS[5], KEYS[6], ARGV[3], ARGV[4])
  return 0
end
local version = tonumber(redis.call('HGET', KEYS[1], 'version') or '0')
if version ~= tonumber(ARGV[1]) then return -1 end
redis.call('HSET', KEYS[1], 'version', tostring(version + 1), unpack(ARGV, 5))
redis.call('SET', KEYS[2], ARGV[3], 'PX', ARGV[2])
redis.call('SADD', KEYS[3], ARGV[3])
ledger_unfold(KEYS[4], KEYS[5], KEYS[6], ARGV[3], ARGV[4])
return 1
"""
)


class RedisPositionStore:
    """PositionStore of one account at one venue over Redis; safe to share between any number
    of instances."""

    def __init__(
        self,
        redis: Redis,
        *,
        account: AccountId = DEFAULT_ACCOUNT,
        venue: VenueId = DEFAULT_VENUE,
        seen_ttl_s: float = SEEN_TTL_S,
    ) -> None:
        self._redis = redis
        self.account = account
        self.venue = venue
        self._keys = keys_of(account)
        self._seen_ttl_ms = int(seen_ttl_s * 1000)
        if self._seen_ttl_ms < 1:
            raise ValueError(f"seen_ttl_s {seen_ttl_s} is invalid: expected at least 0.001")

    async def apply_fill(
        self, fill: Fill, *, max_retries: int = DEFAULT_MAX_RETRIES
    ) -> tuple[Position, bool]:
        return await self._apply(fill, max_retries)

    async def apply_funding(
        self, funding: Funding, *, max_retries: int = DEFAULT_MAX_RETRIES
    ) -> tuple[Position, bool]:
        return await self._apply(funding, max_retries)

    async def _apply(self, entry: Fill | Funding, max_retries: int) -> tuple[Position, bool]:
        if (entry.account, entry.venue) != (self.account, self.venue):
            raise ValueError(
                f"{entry.exec_id} is of account {entry.account} at {entry.venue}: expected "
                f"{self.account} at {self.venue}, those of this store"
            )
        k = self._keys
        keys = [
            self.position_key(entry.symbol),
            venue_scoped(k.exec_seen(entry.exec_id), self.venue),
            self.symbols_key,
            k.exposure(entry.symbol),
            k.unfolded(entry.symbol),
            k.exposure_symbols,
        ]
        for attempt in range(max_retries + 1):
            if attempt:
                await backoff(attempt)
            current, version = await self._read(entry.symbol)
            position = fold_once(current, entry)
            args: list[ScriptArg] = [
                version,
                self._seen_ttl_ms,
                entry.symbol,
                entry.exec_id,
                *_fields(position),
            ]
            reply = int(await _APPLY(self._redis, keys, args))
            if reply == 1:
                return position, True
            if reply == 0:  # another instance applied this execId between our read and write
                current, _ = await self._read(entry.symbol)
                return current or self.flat(entry.symbol), False
        raise ConcurrentUpdateError(
            f"position {entry.symbol}: other writers changed it before each of "
            f"{max_retries + 1} attempts to apply {entry.exec_id}; gave up"
        )

    def position_key(self, symbol: Symbol) -> str:
        """The key of the position hash on `symbol` (Bybit's; another venue's suffixed)."""
        return venue_scoped(self._keys.position(symbol), self.venue)

    @property
    def symbols_key(self) -> str:
        """The key of the set of symbols with a position record at this venue."""
        return venue_scoped(self._keys.position_symbols, self.venue)

    def flat(self, symbol: Symbol) -> Position:
        """A flat position on `symbol` of this store's account and venue."""
        return Position(symbol=symbol, account=self.account, venue=self.venue)

    async def get(self, symbol: Symbol) -> Position | None:
        record = await self._redis.hgetall(self.position_key(symbol))
        return _decode(symbol, record, self.account, self.venue)

    async def all(self) -> list[Position]:
        members = await self._redis.smembers(self.symbols_key)
        symbols = sorted(Symbol(text(s)) for s in members)
        async with self._redis.pipeline(transaction=False) as pipe:
            for symbol in symbols:
                pipe.hgetall(self.position_key(symbol))
            records = await pipe.execute()
        positions = (
            _decode(s, r, self.account, self.venue) for s, r in zip(symbols, records, strict=True)
        )
        return [p for p in positions if p is not None]

    async def versioned(self, symbols: Iterable[Symbol]) -> dict[Symbol, tuple[Position, int]]:
        listed = list(symbols)
        async with self._redis.pipeline(transaction=False) as pipe:
            for symbol in listed:
                pipe.hgetall(self.position_key(symbol))
            records = await pipe.execute()
        return {
            s: read_versioned(r, s, self.account, self.venue)
            for s, r in zip(listed, records, strict=True)
        }

    async def _read(self, symbol: Symbol) -> tuple[Position | None, int]:
        """The position (None if none) and its version (0 if none): one round trip."""
        record = await self._redis.hgetall(self.position_key(symbol))
        position = _decode(symbol, record, self.account, self.venue)
        return position, int(_field(record, "version") or 0)


def read_versioned(
    record: Mapping[Any, Any], symbol: Symbol, account: AccountId, venue: VenueId
) -> tuple[Position, int]:
    """A position hash as (position, version): `flat` at version 0 when there is none."""
    version = int(_field(record, "version") or 0)
    position = _decode(symbol, record, account, venue)
    return position or Position(symbol=symbol, account=account, venue=venue), version


def _fields(position: Position) -> list[str]:
    entry = position.avg_entry_price
    return [
        "qty", str(position.qty),
        "avg_entry_price", "" if entry is None else str(entry),
        "realized_pnl", str(position.realized_pnl),
        "fees_paid", str(position.fees_paid),
        "funding_paid", str(position.funding_paid),
        "updated_ts_ns", str(position.updated_ts_ns),
    ]  # fmt: skip


def _field(record: Mapping[Any, Any], name: str) -> str | None:
    value = record.get(name.encode(), record.get(name))
    return None if value is None else text(value)


def _decode(
    symbol: Symbol, record: Mapping[Any, Any], account: AccountId, venue: VenueId
) -> Position | None:
    if not record:
        return None
    entry = _field(record, "avg_entry_price")
    return Position(
        symbol=symbol,
        account=account,
        venue=venue,
        qty=Decimal(_field(record, "qty") or 0),
        avg_entry_price=Decimal(entry) if entry else None,
        realized_pnl=Decimal(_field(record, "realized_pnl") or 0),
        fees_paid=Decimal(_field(record, "fees_paid") or 0),
        funding_paid=Decimal(_field(record, "funding_paid") or 0),
        updated_ts_ns=int(_field(record, "updated_ts_ns") or 0),
    )
