"""The mark store: the latest price of each symbol, and a short history of it.

The positions service (the instance holding the "marks" lease) writes what the venue's
public tickers say; risk reads marks for its checks and for measured edge, the gateway for
display. A `Mark` carries two times:

- `ts_ns`, the venue's time of the ticker: a mark never replaces a newer one, so a late
  write (two writers overlapping at a lease takeover) cannot roll the price back;
- `seen_ns`, our time when a connected stream last confirmed the mark current (`touch`).
  A quiet market sends no tickers, so readers judge staleness by `seen_ns`, not `ts_ns`.

Each write also appends to the symbol's history (the last `history_len` marks by ts_ns),
so that `at(symbol, ts_ns)` answers "what was the mid when this fill executed" (and, for
markouts, "what was it N seconds later").

`mark_key(symbol)` is a hash {mark, bid, ask, mid, ts_ns, seen_ns} of exact decimal
strings ("" for none); `mark_history_key(symbol)` a sorted set of JSON marks scored by
ts_ns; `MARK_SYMBOLS_KEY` the set of symbols with a mark.
"""

from __future__ import annotations

import bisect
from collections.abc import Iterable, Mapping, Sequence
from decimal import Decimal
from typing import Any, Protocol, Self

from pydantic import BaseModel, ConfigDict, Field, model_validator
from redis.asyncio import Redis

from libs.common.domain.ids import Symbol
from libs.common.stores._support import LuaScript, ScriptArg, ScriptCall, run_scripts, text
from libs.common.topology import MARK_SYMBOLS_KEY, mark_history_key, mark_key

DEFAULT_HISTORY_LEN = 1_200
"""Marks kept per symbol for `at`. Positions writes at most one mark per symbol every
`marks_flush_interval_s` (100 ms by default), so they span `MARK_HISTORY_SPAN_S` or more."""
MARK_HISTORY_SPAN_S = 120
"""Seconds the default history covers at least (at the default flush interval). Risk reads
from it the mid at fill time and the mid at each markout horizon after the fill: horizons
(`MMX_RISK_MARKOUT_HORIZONS_S`) are at most this, and a markout settled late (a backlog, a
risk restart) finds its mid as long as the history still reaches back to it."""


class Mark(BaseModel):
    """The price of a symbol at `ts_ns`. `mark` is the reference price for risk and P&L."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    symbol: Symbol
    mark: Decimal = Field(gt=0)
    """The venue's mark price; where it has none, the mid, else the last trade."""
    bid: Decimal | None = Field(default=None, gt=0)
    ask: Decimal | None = Field(default=None, gt=0)
    mid: Decimal | None = Field(default=None, gt=0)
    """(bid + ask) / 2 when both are known."""
    ts_ns: int = Field(ge=0)
    seen_ns: int = Field(default=0, ge=0)

    @model_validator(mode="after")
    def _check_touch(self) -> Self:
        if self.bid is not None and self.ask is not None and self.bid > self.ask:
            raise ValueError(f"mark {self.symbol}: bid {self.bid} is above ask {self.ask}")
        return self

    @classmethod
    def of(
        cls,
        symbol: Symbol,
        *,
        ts_ns: int,
        seen_ns: int = 0,
        mark: Decimal | None = None,
        bid: Decimal | None = None,
        ask: Decimal | None = None,
        last: Decimal | None = None,
    ) -> Mark | None:
        """A mark from what a ticker says; None when it has no usable price at all."""
        mid = (bid + ask) / 2 if bid is not None and ask is not None else None
        reference = mark or mid or last
        if reference is None:
            return None
        return cls(
            symbol=symbol, mark=reference, bid=bid, ask=ask, mid=mid, ts_ns=ts_ns, seen_ns=seen_ns
        )

    @property
    def mid_or_mark(self) -> Decimal:
        """The mid when both sides are known, else the mark: the price edge is measured on."""
        return self.mid or self.mark

    def is_fresh(self, now_ns: int, max_age_ns: int) -> bool:
        """True if a stream confirmed it within `max_age_ns` (0 disables the check)."""
        return max_age_ns <= 0 or now_ns - self.seen_ns <= max_age_ns


class MarkStore(Protocol):
    """Latest marks per symbol, never rolled back, with a short history."""

    async def put_many(self, marks: Sequence[Mark]) -> list[Mark]:
        """Record `marks`; return those that became the latest (not older than the stored)."""
        ...

    async def touch(self, symbols: Iterable[Symbol], seen_ns: int) -> None:
        """Confirm the stored marks of `symbols` current at `seen_ns` (never moves it back)."""
        ...

    async def get(self, symbol: Symbol) -> Mark | None:
        """The latest mark of `symbol`, or None."""
        ...

    async def get_many(self, symbols: Iterable[Symbol]) -> dict[Symbol, Mark]:
        """The latest marks of those `symbols` that have one; one round trip."""
        ...

    async def symbols(self) -> list[Symbol]:
        """Every symbol with a mark, sorted."""
        ...

    async def at(self, symbol: Symbol, ts_ns: int) -> Mark | None:
        """The newest kept mark at or before `ts_ns`; if all are later, the oldest kept one;
        None if the symbol has no mark."""
        ...

    async def at_many(self, asked: Sequence[tuple[Symbol, int]]) -> list[Mark | None]:
        """`at` for each (symbol, ts_ns), in the order asked, in one round trip."""
        ...


class InMemoryMarkStore:
    """The MarkStore fake: the latest mark and a sorted history per symbol, in dicts."""

    def __init__(self, *, history_len: int = DEFAULT_HISTORY_LEN) -> None:
        self._latest: dict[Symbol, Mark] = {}
        self._history: dict[Symbol, list[tuple[int, Mark]]] = {}
        self._history_len = _check_len(history_len)

    async def put_many(self, marks: Sequence[Mark]) -> list[Mark]:
        written = []
        for mark in marks:
            history = self._history.setdefault(mark.symbol, [])
            bisect.insort(history, (mark.ts_ns, mark), key=lambda item: item[0])
            del history[: max(0, len(history) - self._history_len)]
            current = self._latest.get(mark.symbol)
            if current is None or mark.ts_ns >= current.ts_ns:
                seen = max(mark.seen_ns, current.seen_ns if current else 0)
                self._latest[mark.symbol] = mark.model_copy(update={"seen_ns": seen})
                written.append(mark)
        return written

    async def touch(self, symbols: Iterable[Symbol], seen_ns: int) -> None:
        for symbol in symbols:
            current = self._latest.get(symbol)
            if current is not None and seen_ns > current.seen_ns:
                self._latest[symbol] = current.model_copy(update={"seen_ns": seen_ns})

    async def get(self, symbol: Symbol) -> Mark | None:
        return self._latest.get(symbol)

    async def get_many(self, symbols: Iterable[Symbol]) -> dict[Symbol, Mark]:
        return {s: self._latest[s] for s in symbols if s in self._latest}

    async def symbols(self) -> list[Symbol]:
        return sorted(self._latest)

    async def at_many(self, asked: Sequence[tuple[Symbol, int]]) -> list[Mark | None]:
        return [await self.at(symbol, ts_ns) for symbol, ts_ns in asked]

    async def at(self, symbol: Symbol, ts_ns: int) -> Mark | None:
        history = self._history.get(symbol)
        if not history:
            return None
        index = bisect.bisect_right(history, ts_ns, key=lambda item: item[0])
        return history[index - 1][1] if index else history[0][1]


# Write a mark. KEYS[1] latest hash, KEYS[2] history zset, KEYS[3] symbol set.
# ARGV: ts_ns, seen_ns, history member (JSON), history length, then field/value pairs.
# The history always takes the mark (a late one is still a true past price); the latest hash
# only if the mark is not older than the stored one. seen_ns never moves back. Times are
# decimal strings compared by length then text: ns values pass a double's exact range.
# Returns 1 if the mark became the latest, else 0.
_PUT = LuaScript(
    """
local function later(a, b)
  if #a ~= #b then return #a > #b end
  return a > b
end
redis.call('ZADD', KEYS[2], ARGV[1], ARGV[3])
redis.call('ZREMRANGEBYRANK', KEYS[2], 0, -tonumber(ARGV[4]) - 1)
local stored = redis.call('HGET', KEYS[1], 'ts_ns')
if stored and later(stored, ARGV[1]) then return 0 end
local seen = redis.call('HGET', KEYS[1], 'seen_ns')
redis.call('HSET', KEYS[1], unpack(ARGV, 5))
if seen and later(seen, ARGV[2]) then redis.call('HSET', KEYS[1], 'seen_ns', seen) end
redis.call('SADD', KEYS[3], redis.call('HGET', KEYS[1], 'symbol'))
return 1
"""
)

# Confirm a mark current. KEYS[1] latest hash; ARGV[1] seen_ns. Only moves seen_ns forward,
# and only on an existing mark.
_TOUCH = LuaScript(
    """
local seen = redis.call('HGET', KEYS[1], 'seen_ns')
if not seen then return 0 end
if #seen > #ARGV[1] or (#seen == #ARGV[1] and seen >= ARGV[1]) then return 0 end
redis.call('HSET', KEYS[1], 'seen_ns', ARGV[1])
return 1
"""
)


class RedisMarkStore:
    """MarkStore over Redis; safe to share between any number of instances."""

    def __init__(self, redis: Redis, *, history_len: int = DEFAULT_HISTORY_LEN) -> None:
        self._redis = redis
        self._history_len = _check_len(history_len)

    async def put_many(self, marks: Sequence[Mark]) -> list[Mark]:
        calls: list[ScriptCall] = [
            (
                _PUT,
                [mark_key(m.symbol), mark_history_key(m.symbol), MARK_SYMBOLS_KEY],
                [str(m.ts_ns), str(m.seen_ns), m.model_dump_json(), self._history_len, *_fields(m)],
            )
            for m in marks
        ]
        replies = await run_scripts(self._redis, calls)
        return [m for m, reply in zip(marks, replies, strict=True) if int(reply) == 1]

    async def touch(self, symbols: Iterable[Symbol], seen_ns: int) -> None:
        args: list[ScriptArg] = [str(seen_ns)]
        await run_scripts(self._redis, [(_TOUCH, [mark_key(s)], args) for s in symbols])

    async def get(self, symbol: Symbol) -> Mark | None:
        return decode_mark(symbol, await self._redis.hgetall(mark_key(symbol)))

    async def get_many(self, symbols: Iterable[Symbol]) -> dict[Symbol, Mark]:
        wanted = list(dict.fromkeys(symbols))
        if not wanted:
            return {}
        async with self._redis.pipeline(transaction=False) as pipe:
            for symbol in wanted:
                pipe.hgetall(mark_key(symbol))
            records = await pipe.execute()
        marks = {s: decode_mark(s, r) for s, r in zip(wanted, records, strict=True)}
        return {s: m for s, m in marks.items() if m is not None}

    async def symbols(self) -> list[Symbol]:
        return sorted(Symbol(text(s)) for s in await self._redis.smembers(MARK_SYMBOLS_KEY))

    async def at(self, symbol: Symbol, ts_ns: int) -> Mark | None:
        (found,) = await self.at_many([(symbol, ts_ns)])
        return found

    async def at_many(self, asked: Sequence[tuple[Symbol, int]]) -> list[Mark | None]:
        if not asked:
            return []
        async with self._redis.pipeline(transaction=False) as pipe:
            for symbol, ts_ns in asked:
                key = mark_history_key(symbol)
                pipe.zrevrangebyscore(key, ts_ns, "-inf", start=0, num=8, withscores=True)
                pipe.zrange(key, 0, 0)
            replies = await pipe.execute()
        return [
            _closest(ts_ns, replies[2 * i], replies[2 * i + 1])
            for i, (_, ts_ns) in enumerate(asked)
        ]


def _closest(ts_ns: int, before: Any, oldest: Any) -> Mark | None:
    """`at`'s answer from the up to 8 marks scored at or before `ts_ns` and the oldest one.
    Scores are doubles (ns lose precision past 2^53): pick by the exact ts in the JSON."""
    candidates = [Mark.model_validate_json(member) for member, _ in before]
    exact = [m for m in candidates if m.ts_ns <= ts_ns]
    if exact:
        return max(exact, key=lambda m: m.ts_ns)
    return Mark.model_validate_json(oldest[0]) if oldest else None


def _check_len(history_len: int) -> int:
    if history_len < 1:
        raise ValueError(f"history_len {history_len} is invalid: expected >= 1")
    return history_len


def _opt(value: Decimal | None) -> str:
    return "" if value is None else str(value)


def _fields(mark: Mark) -> list[str]:
    return [
        "symbol", mark.symbol,
        "mark", str(mark.mark),
        "bid", _opt(mark.bid),
        "ask", _opt(mark.ask),
        "mid", _opt(mark.mid),
        "ts_ns", str(mark.ts_ns),
        "seen_ns", str(mark.seen_ns),
    ]  # fmt: skip


def decode_mark(symbol: Symbol, record: Mapping[Any, Any]) -> Mark | None:
    """A mark hash (`mark_key`) as a Mark; None for an empty hash."""
    if not record:
        return None
    fields = {text(k): text(v) for k, v in record.items()}
    return Mark(
        symbol=symbol,
        mark=Decimal(fields["mark"]),
        bid=Decimal(fields["bid"]) if fields.get("bid") else None,
        ask=Decimal(fields["ask"]) if fields.get("ask") else None,
        mid=Decimal(fields["mid"]) if fields.get("mid") else None,
        ts_ns=int(fields["ts_ns"]),
        seen_ns=int(fields.get("seen_ns") or 0),
    )
