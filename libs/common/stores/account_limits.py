"""An account's own risk limits: overrides of the desk's, for the account and per symbol.

In force for an account (`libs.common.risk_view`): each limit at the stricter of the desk's
(with the symbol's desk-wide override) and the account's chain (the desk's, the symbol's
desk-wide override, the account's override, the account's override for the symbol:
`domain.risk_checks.tighter`). So an account's limits default from the desk's, a symbol's
from the account's, and no account is ever allowed more than the desk.

Keys (`topology.AccountKeys`): `limits` (hash: limit -> value), `symbol_limits(symbol)`
(hash) and `limit_symbols` (set of the symbols with a hash), replaced together in one MULTI.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from decimal import Decimal
from typing import Any, Protocol

from redis.asyncio import Redis

from libs.common.domain.ids import AccountId, Symbol
from libs.common.domain.risk_checks import RiskLimits
from libs.common.stores._support import text
from libs.common.stores.risk_state import check_overrides
from libs.common.topology import keys_of

Overrides = Mapping[str, Decimal | int]
"""RiskLimits field -> value."""


@dataclass(frozen=True, slots=True)
class AccountLimits:
    """An account's overrides as stored (values as exact decimal strings)."""

    limits: dict[str, str] = field(default_factory=dict)
    symbols: dict[Symbol, dict[str, str]] = field(default_factory=dict)


class AccountLimitStore(Protocol):
    """One account's overrides of the desk's limits."""

    async def get(self) -> AccountLimits:
        """The overrides; empty when none were set."""
        ...

    async def set(
        self, desk: RiskLimits, limits: Overrides, symbols: Mapping[Symbol, Overrides]
    ) -> AccountLimits:
        """Replace every override of the account at once, each checked against `desk`
        (names and values; ValueError says which is wrong); the overrides stored."""
        ...


def checked(
    desk: RiskLimits, limits: Overrides, symbols: Mapping[Symbol, Overrides]
) -> AccountLimits:
    """`limits` and `symbols` validated over `desk` (a symbol's over the account's), as
    stored."""
    account = check_overrides(desk, limits)
    over = desk.model_copy(update=account)
    return AccountLimits(
        limits={k: str(v) for k, v in account.items()},
        symbols={
            s: {k: str(v) for k, v in check_overrides(over, o).items()}
            for s, o in symbols.items()
            if o
        },
    )


class InMemoryAccountLimitStore:
    """The AccountLimitStore fake."""

    def __init__(self) -> None:
        self._stored = AccountLimits()

    async def get(self) -> AccountLimits:
        return self._stored

    async def set(
        self, desk: RiskLimits, limits: Overrides, symbols: Mapping[Symbol, Overrides]
    ) -> AccountLimits:
        self._stored = checked(desk, limits, symbols)
        return self._stored


class RedisAccountLimitStore:
    """AccountLimitStore over Redis."""

    def __init__(self, redis: Redis, account: AccountId) -> None:
        self._redis = redis
        self._keys = keys_of(account)

    async def get(self) -> AccountLimits:
        k = self._keys
        async with self._redis.pipeline(transaction=False) as pipe:
            pipe.hgetall(k.limits)
            pipe.smembers(k.limit_symbols)
            own, members = await pipe.execute()
        symbols = sorted(Symbol(text(m)) for m in members)
        async with self._redis.pipeline(transaction=False) as pipe:
            for symbol in symbols:
                pipe.hgetall(k.symbol_limits(symbol))
            hashes = await pipe.execute()
        return AccountLimits(
            limits=_strings(own),
            symbols={s: _strings(h) for s, h in zip(symbols, hashes, strict=True) if h},
        )

    async def set(
        self, desk: RiskLimits, limits: Overrides, symbols: Mapping[Symbol, Overrides]
    ) -> AccountLimits:
        stored = checked(desk, limits, symbols)
        k = self._keys

        async def replace(pipe: Any) -> None:  # again if another set moved the symbols
            old = [Symbol(text(m)) for m in await pipe.smembers(k.limit_symbols)]
            pipe.multi()
            pipe.delete(k.limits, k.limit_symbols, *(k.symbol_limits(s) for s in old))
            if stored.limits:
                pipe.hset(k.limits, mapping=stored.limits)
            for symbol, overrides in stored.symbols.items():
                pipe.hset(k.symbol_limits(symbol), mapping=overrides)
                pipe.sadd(k.limit_symbols, symbol)

        await self._redis.transaction(replace, k.limit_symbols)
        return stored


def _strings(record: Mapping[Any, Any]) -> dict[str, str]:
    return {text(k): text(v) for k, v in record.items()}
