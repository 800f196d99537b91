"""The exposure ledger over Redis: running totals kept by Lua, in the same step as each change.

One ledger serves one account; its keys are the account's (`topology.AccountKeys`), per
symbol: `exposure(symbol)`, a hash of the totals `buy`, `sell`, `count`, `ubuy`, `usell`
(micro-USD) with one field per entry they sum: `o:{clientOrderId}` = `{side}:{units}` for
each admitted open order, `x:{execId}` = `{side}:{units}` for each fill positions has not
folded; an entry of a venue other than Bybit has `{side}@{venue}` for its side and counts in
that venue's totals too (`buy@{venue}`, `sell@{venue}`, `ubuy@{venue}`, `usell@{venue}`;
Bybit's share is the rest, so the ledger of a desk before venues needs nothing new);
`unfolded(symbol)`, those execIds by the ms they were reported; `order_times(symbol)`, the
order-rate window. `exposure_symbols` lists the symbols that have had exposure.

`LEDGER_LUA` holds the Lua functions that change the totals. The order store's scripts, the
position store's fold and the scripts below include it, so every change to an entry changes
its total in the same atomic step: the totals always equal the sum of the entries, which is
what `audit` verifies. Amounts travel as decimal strings and are added with HINCRBY, so they
never pass through a Lua double on their way into Redis.

`_ADMIT` is `libs.common.domain.exposure.ExposureCheck.decide`, line for line.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from typing import Any

import orjson
from redis.asyncio import Redis

from libs.common.accounts import DEFAULT_VENUES, venue_scoped
from libs.common.domain.enums import Side
from libs.common.domain.exposure import (
    RATE_WINDOW_MS,
    Denial,
    DeskTerms,
    SymbolBook,
    SymbolTerms,
    VenueTotals,
)
from libs.common.domain.ids import (
    DEFAULT_ACCOUNT,
    DEFAULT_VENUE,
    VENUES,
    AccountId,
    Symbol,
    VenueId,
)
from libs.common.domain.risk_checks import Check
from libs.common.stores._support import (
    XADD_LUA,
    LuaScript,
    ScriptCall,
    maxlen_arg,
    run_scripts,
    text,
)
from libs.common.stores.exposure import (
    Admission,
    AdmitOutcome,
    AdmitRequest,
    FillRecord,
    StaleView,
)
from libs.common.topology import AccountStream, keys_of

LEDGER_LUA = """
local function ledger_total(side, unfolded)
  if side == 'Buy' then
    if unfolded then return 'ubuy' end
    return 'buy'
  end
  if unfolded then return 'usell' end
  return 'sell'
end
-- Add `units` (a decimal string, '-' for less) to the total of `side` ('Buy', or
-- 'Buy@binance-usdm' for an entry at another venue than Bybit: its venue's total too).
local function ledger_count(kexp, side, unfolded, units)
  local base, venue = string.match(side, '^(%a+)@(.+)$')
  local total = ledger_total(base or side, unfolded)
  redis.call('HINCRBY', kexp, total, units)
  if venue then redis.call('HINCRBY', kexp, total .. '@' .. venue, units) end
end
-- Set the order's contribution to `units` (a decimal string; '0': none) on `side`.
-- Returns the entry it replaced ('' when none), or false when nothing changed.
local function ledger_set(kexp, kset, symbol, cid, side, units)
  local field = 'o:' .. cid
  local old = redis.call('HGET', kexp, field)
  local new = false
  if units ~= '0' then new = side .. ':' .. units end
  if old == new then return false end
  if old then
    local oside, ounits = string.match(old, '^(.+):(%d+)$')
    ledger_count(kexp, oside, false, '-' .. ounits)
    redis.call('HINCRBY', kexp, 'count', -1)
    redis.call('HDEL', kexp, field)
  end
  if new then
    redis.call('HSET', kexp, field, new)
    ledger_count(kexp, side, false, units)
    redis.call('HINCRBY', kexp, 'count', 1)
    redis.call('SADD', kset, symbol)
  end
  return old or ''
end
-- Count a reported fill until positions folds it; once per execId.
local function ledger_add_fill(kexp, kunf, kset, symbol, exec, side, units, ts)
  if redis.call('HSETNX', kexp, 'x:' .. exec, side .. ':' .. units) == 1 then
    ledger_count(kexp, side, true, units)
    redis.call('ZADD', kunf, ts, exec)
    redis.call('SADD', kset, symbol)
  end
end
-- Positions folded the fill (or had folded it before): it is unfolded no more.
local function ledger_unfold(kexp, kunf, kset, symbol, exec)
  local field = 'x:' .. exec
  local entry = redis.call('HGET', kexp, field)
  if entry then
    local side, units = string.match(entry, '^(.+):(%d+)$')
    if units ~= '0' then  -- a funding counts no units; and HINCRBY refuses '-0'
      ledger_count(kexp, side, true, '-' .. units)
    end
    redis.call('HDEL', kexp, field)
  end
  redis.call('ZREM', kunf, exec)
  redis.call('SADD', kset, symbol)
end
"""

# Admit a batch: `ExposureCheck.decide` for each request, and for each one admitted its
# record, contribution, rate entry, decision key and approval, all in this one step.
# KEYS[1] the account's own freeze hash, KEYS[2] the exposure symbols set, KEYS[3] the approval
# stream; then per symbol of the spec 3 + nv keys (exposure, the position at each of the nv
# venues, rate window, unfolded); then per request 2 (record, decision key or the record
# again): all in the account's slot. The position's version checked is the sum of the
# venues' (each only grows, so the sum moves when any of them does). The
# desk's state comes in the spec, as the batch's view read it (the state checked is the
# stricter of the two). ARGV[1] the spec as JSON (see `_spec`).
# Returns {'stale', what, symbol} (nothing written), or one reply per request:
# {'ok'} | {'deny', check, value, limit} | {'conflict'} | {'dup'} | {'missing'}.
_ADMIT = LuaScript(
    XADD_LUA
    + LEDGER_LUA
    + """
local spec = cjson.decode(ARGV[1])
local now = spec.now
local state = spec.desk
local own = redis.call('HGET', KEYS[1], 'state') or 'ACTIVE'
if own == 'FROZEN' or (own == 'REDUCING' and state == 'ACTIVE') then state = own end
local books, known, total, oldest = {}, {}, 0, false
local function num(v) return tonumber(v or '0') or 0 end
local function worst(b, buy, sell)
  local p = b.pos + b.ubuy - b.usell
  return math.max(math.abs(p + buy), math.abs(p - sell))
end
local nv = spec.nv
local stride = 3 + nv
for i, t in ipairs(spec.symbols) do
  local k = 3 + stride * (i - 1)
  local version = 0
  for v = 1, nv do version = version + num(redis.call('HGET', KEYS[k + 1 + v], 'version')) end
  if version ~= t.v then
    return {'stale', 'position', t.s}
  end
  local krate, kunf = KEYS[k + 2 + nv], KEYS[k + 3 + nv]
  local f = redis.call('HMGET', KEYS[k + 1], 'buy', 'sell', 'count', 'ubuy', 'usell')
  redis.call('ZREMRANGEBYSCORE', krate, '-inf', now - 1000)
  local b = {s = t.s, kexp = KEYS[k + 1], krate = krate, pos = t.p, inv = t.inv,
    open = t.open, rate_limit = t.rate, buy = num(f[1]), sell = num(f[2]), count = num(f[3]),
    ubuy = num(f[4]), usell = num(f[5]), rate = redis.call('ZCARD', krate)}
  local first = redis.call('ZRANGE', kunf, 0, 0, 'WITHSCORES')
  if first[2] and (not oldest or tonumber(first[2]) < oldest) then oldest = tonumber(first[2]) end
  if t.vl then  -- venues with an inventory limit of their own: every venue's share
    b.vl, b.vt = t.vl, {}
    for _, v in ipairs(spec.nd) do
      local g = redis.call('HMGET', b.kexp, 'buy@' .. v, 'sell@' .. v, 'ubuy@' .. v, 'usell@' .. v)
      b.vt[v] = {buy = num(g[1]), sell = num(g[2]), ubuy = num(g[3]), usell = num(g[4])}
    end
  end
  books[i] = b
  known[t.s] = true
  total = total + worst(b, b.buy, b.sell)
end
-- A venue's share of a symbol's totals: its own, or (Bybit's, spec.dv) the rest.
local function share(b, v)
  if v ~= spec.dv then return b.vt[v] or {buy = 0, sell = 0, ubuy = 0, usell = 0} end
  local s = {buy = b.buy, sell = b.sell, ubuy = b.ubuy, usell = b.usell}
  for _, o in pairs(b.vt) do
    s.buy, s.sell = s.buy - o.buy, s.sell - o.sell
    s.ubuy, s.usell = s.ubuy - o.ubuy, s.usell - o.usell
  end
  return s
end
for _, member in ipairs(redis.call('SMEMBERS', KEYS[2])) do
  if not known[member] then return {'stale', 'symbols', member} end
end
local lag = 0
if oldest then lag = math.max(0, now - oldest) end
local base = 3 + stride * #spec.symbols
local replies = {}
for j, c in ipairs(spec.requests) do
  local korder, kdec = KEYS[base + 2 * j - 1], KEYS[base + 2 * j]
  local reply
  local stored = redis.call('GET', korder)
  if c.dec and redis.call('EXISTS', kdec) == 1 then
    reply = {'dup'}
  elseif not stored then
    reply = {'missing'}
  elseif cjson.decode(stored)['version'] ~= c.ver then
    reply = {'conflict'}
  else
    local b = books[c.i]
    local own = redis.call('HGET', b.kexp, 'o:' .. c.cid)
    local current = 0
    if own then current = tonumber(string.match(own, ':(%d+)$')) end
    local delta = c.u - current
    local p = b.pos + b.ubuy - b.usell
    local side_now = b.sell
    if c.side == 'Buy' then side_now = b.buy end
    local after_side = side_now + delta
    local reduces
    if c.side == 'Buy' then reduces = p < 0 and after_side <= -p
    else reduces = p > 0 and after_side <= p end
    local buy, sell = b.buy, b.sell
    if c.side == 'Buy' then buy = after_side else sell = after_side end
    local count_delta = 0
    if c.u > 0 then count_delta = count_delta + 1 end
    if current > 0 then count_delta = count_delta - 1 end
    local new_total = total - worst(b, b.buy, b.sell) + worst(b, buy, sell)
    local side_worst = -(p - sell)
    if c.side == 'Buy' then side_worst = p + buy end
    local vworst, vinv = false, 0
    if delta > 0 and b.vl and b.vl[c.v] then
      local sh = share(b, c.v)
      local pv = b.vl[c.v].p + sh.ubuy - sh.usell
      if c.side == 'Buy' then vworst = pv + sh.buy + delta else vworst = -(pv - sh.sell - delta) end
      vinv = b.vl[c.v].inv
    end
    if state == 'FROZEN' then
      reply = {'deny', 'trading_state', 0, 0}
    elseif lag > spec.lag then
      reply = {'deny', 'positions_lag', lag, spec.lag}
    elseif state == 'REDUCING' and delta > 0 and not reduces then
      reply = {'deny', 'trading_state', after_side, math.abs(p)}
    elseif c.place and b.count >= b.open then
      reply = {'deny', 'open_orders', b.count, b.open}
    elseif b.rate >= b.rate_limit then
      reply = {'deny', 'order_rate', b.rate, b.rate_limit}
    elseif delta > 0 and side_worst > b.inv then
      reply = {'deny', 'inventory', side_worst, b.inv}
    elseif vworst and vworst > vinv then
      reply = {'deny', 'venue_inventory', vworst, vinv}
    elseif delta > 0 and new_total > spec.total and new_total > total then
      reply = {'deny', 'total_notional', new_total, spec.total}
    elseif delta > 0 and c.reduce and not reduces then
      reply = {'deny', 'daily_loss', after_side, math.abs(p)}
    else
      -- the approval first: a failing call leaves nothing admitted (Redis undoes nothing)
      xadd(KEYS[3], spec.maxlen, c.data)
      redis.call('SET', korder, c.json)
      ledger_set(b.kexp, KEYS[2], b.s, c.cid, c.ls, c.units)
      b.buy, b.sell, b.count = buy, sell, b.count + count_delta
      if b.vt and c.v ~= spec.dv then
        local sh = share(b, c.v)
        if c.side == 'Buy' then sh.buy = sh.buy + delta else sh.sell = sh.sell + delta end
        b.vt[c.v] = sh
      end
      redis.call('ZADD', b.krate, now, c.rm)
      redis.call('PEXPIRE', b.krate, 10000)
      b.rate = b.rate + 1
      total = new_total
      if c.dec then redis.call('SET', kdec, c.decv, 'PX', spec.ttl) end
      reply = {'ok'}
    end
  end
  replies[j] = reply
end
return replies
"""
)

# Claim a fill, count it as unfolded and publish it, in one step; nothing if claimed before.
# KEYS: claim key, exposure hash, unfolded set, the exposure symbols set, stream.
# ARGV: claim TTL ms, symbol, execId, side, units, now ms, maxlen, entry data.
# Returns 1 published now, 0 claimed before. The entry goes first: Redis does not undo a
# script's writes when a later call fails, so a failure leaves the fill unclaimed.
_RECORD_FILL = LuaScript(
    XADD_LUA
    + LEDGER_LUA
    + """
if redis.call('EXISTS', KEYS[1]) == 1 then return 0 end
xadd(KEYS[5], ARGV[7], ARGV[8])
redis.call('SET', KEYS[1], '1', 'PX', ARGV[1])
ledger_add_fill(KEYS[2], KEYS[3], KEYS[4], ARGV[2], ARGV[3], ARGV[4], ARGV[5], ARGV[6])
return 1
"""
)

_BOOK_FIELDS = ("buy", "sell", "count", "ubuy", "usell")
_OTHER_VENUES = tuple(v for v in VENUES if v != DEFAULT_VENUE)
_VENUE_FIELDS = tuple(f"{t}@{v}" for v in _OTHER_VENUES for t in ("buy", "sell", "ubuy", "usell"))


def ledger_side(side: Side, venue: str) -> str:
    """An entry's side in the ledger: `Buy`, or `Buy@{venue}` at a venue other than Bybit
    (its venue's totals count it too)."""
    return side.value if venue == DEFAULT_VENUE else f"{side.value}@{venue}"


class RedisExposureLedger:
    """ExposureLedger of one account over Redis; safe to share between any number of
    instances."""

    def __init__(
        self,
        redis: Redis,
        *,
        account: AccountId = DEFAULT_ACCOUNT,
        venues: Sequence[VenueId] = DEFAULT_VENUES,
    ) -> None:
        self._redis = redis
        self.account = account
        self._keys = keys_of(account)
        self._venues = tuple(venues)
        """The venues whose positions on a symbol add up to the account's (`MMX_VENUES`)."""

    async def admit(
        self,
        desk: DeskTerms,
        terms: Sequence[SymbolTerms],
        requests: Sequence[AdmitRequest],
        *,
        to: AccountStream,
        decision_ttl_ms: int,
    ) -> list[Admission]:
        if not requests:
            return []
        index = {t.symbol: i for i, t in enumerate(terms, start=1)}
        k = self._keys
        keys = [k.freeze, k.exposure_symbols, to.of(self.account).name]
        for t in terms:
            keys += [
                k.exposure(t.symbol),
                *(venue_scoped(k.position(t.symbol), venue) for venue in self._venues),
                k.order_times(t.symbol),
                k.unfolded(t.symbol),
            ]
        for r in requests:
            if r.read.account != self.account:
                raise ValueError(
                    f"order {r.read.client_order_id} is of account {r.read.account}: expected "
                    f"{self.account}, the account of this ledger"
                )
            record = k.order(r.read.client_order_id)
            keys += [record, r.decision_key or record]
        spec = _spec(desk, terms, requests, index, to, decision_ttl_ms, len(self._venues))
        reply = await _ADMIT(self._redis, keys, [spec])
        if reply and text(reply[0]) == "stale":
            raise StaleView(f"{text(reply[1])} {text(reply[2])} moved since the batch read it")
        return [_admission(r) for r in reply]

    async def record_fills(
        self, fills: Sequence[FillRecord], *, to: AccountStream, claim_ttl_ms: int, now_ms: int
    ) -> list[bool]:
        calls: list[ScriptCall] = [
            (
                _RECORD_FILL,
                [
                    f.claim_key,
                    self._keys.exposure(f.symbol),
                    self._keys.unfolded(f.symbol),
                    self._keys.exposure_symbols,
                    to.of(self.account).name,
                ],
                [
                    claim_ttl_ms,
                    f.symbol,
                    f.exec_id,
                    ledger_side(f.side, f.venue),
                    str(f.units),
                    now_ms,
                    maxlen_arg(to.maxlen),
                    f.event,
                ],
            )
            for f in fills
        ]
        return [int(r) == 1 for r in await run_scripts(self._redis, calls)]

    async def books(self, symbols: Iterable[Symbol]) -> dict[Symbol, SymbolBook]:
        listed = list(symbols)
        if not listed:
            return {}
        async with self._redis.pipeline(transaction=False) as pipe:
            for symbol in listed:
                pipe.hmget(self._keys.exposure(symbol), [*_BOOK_FIELDS, *_VENUE_FIELDS])
                pipe.zrange(self._keys.unfolded(symbol), 0, 0, withscores=True)
            replies = await pipe.execute()
        return {s: _book(replies[2 * i], replies[2 * i + 1]) for i, s in enumerate(listed)}

    async def symbols(self) -> set[Symbol]:
        return {Symbol(text(m)) for m in await self._redis.smembers(self._keys.exposure_symbols)}

    async def rates(self, symbols: Iterable[Symbol], now_ms: int) -> dict[Symbol, int]:
        listed = list(symbols)
        async with self._redis.pipeline(transaction=False) as pipe:
            for symbol in listed:
                pipe.zcount(self._keys.order_times(symbol), f"({now_ms - RATE_WINDOW_MS}", "+inf")
            counts = await pipe.execute()
        return {s: int(n) for s, n in zip(listed, counts, strict=True)}


def _spec(
    desk: DeskTerms,
    terms: Sequence[SymbolTerms],
    requests: Sequence[AdmitRequest],
    index: dict[Symbol, int],
    to: AccountStream,
    decision_ttl_ms: int,
    venues: int,
) -> bytes:
    return orjson.dumps(
        {
            "now": desk.now_ms,
            "nv": venues,
            "total": desk.total_limit,
            "lag": desk.max_positions_lag_ms,
            "ttl": decision_ttl_ms,
            "maxlen": to.maxlen,
            "desk": desk.trading.value,
            "dv": DEFAULT_VENUE,
            "nd": _OTHER_VENUES,
            "symbols": [
                {
                    "s": t.symbol,
                    "v": t.position_version,
                    "p": t.position,
                    "inv": t.inventory_limit,
                    "open": t.max_open_orders,
                    "rate": t.max_orders_per_second,
                    **(
                        {
                            "vl": {
                                v: {"p": vt.position, "inv": vt.inventory_limit}
                                for v, vt in t.venue_limits.items()
                            }
                        }
                        if t.venue_limits
                        else {}
                    ),
                }
                for t in terms
            ],
            "requests": [
                {
                    "i": index[r.candidate.symbol],
                    "cid": r.read.client_order_id,
                    "side": r.candidate.side.value,
                    "v": r.candidate.venue,
                    "ls": ledger_side(r.candidate.side, r.candidate.venue),
                    "u": r.candidate.units,
                    "units": str(r.candidate.units),
                    "place": r.candidate.place,
                    "reduce": r.candidate.must_reduce,
                    "ver": r.read.version,
                    "json": r.admitted.model_dump_json(),
                    "dec": r.decision_key is not None,
                    "decv": r.decision,
                    "rm": r.rate_member,
                    "data": r.event.decode(),
                }
                for r in requests
            ],
        }
    )


def _admission(reply: Sequence[Any]) -> Admission:
    what = text(reply[0])
    if what == "ok":
        return Admission(AdmitOutcome.ADMITTED)
    if what == "deny":
        denial = Denial(Check(text(reply[1])), int(reply[2]), int(reply[3]))
        return Admission(AdmitOutcome.DENIED, denial)
    return Admission(
        {"conflict": AdmitOutcome.CONFLICT, "dup": AdmitOutcome.DUPLICATE}.get(
            what, AdmitOutcome.MISSING
        )
    )


def _book(totals: Sequence[Any], first: Sequence[Any]) -> SymbolBook:
    buy, sell, count, ubuy, usell, *shares = (int(text(v)) if v is not None else 0 for v in totals)
    oldest = int(first[0][1]) if first else None
    venues: dict[str, VenueTotals] = {
        v: VenueTotals(*shares[4 * k : 4 * k + 4])
        for k, v in enumerate(_OTHER_VENUES)
        if any(shares[4 * k : 4 * k + 4])
    }
    return SymbolBook(buy, sell, count, ubuy, usell, oldest, venues)
