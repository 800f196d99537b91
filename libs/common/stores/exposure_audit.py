"""The exposure ledger's audit: recompute each symbol's entries from the records, and repair.

The ledger is changed in the same atomic step as every record, fill and fold, so it should
never drift; the audit proves it, and repairs what a bug, a hand edit or a lost write left:

    order  an `o:` entry that differs from `order_units` of its record (or whose record has
           ended or gone): set to what the record says, only if the record has not changed
           since the audit read it (compare-and-set on its version, in Lua)
    fill   an `x:` entry (a fill counted as not folded) that positions has folded: removed
    total  a total (`buy`, `sell`, `count`, `ubuy`, `usell`) that is not the sum of its
           entries: recomputed from the entries, in one step

It reads the symbol's open orders (O(book), once per audit period, never on the hot path).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from redis.asyncio import Redis

from libs.common.domain.exposure import order_units
from libs.common.domain.ids import AccountId, ClientOrderId, ExecId, Symbol
from libs.common.domain.orders import Order
from libs.common.metrics import ExposureDriftKind
from libs.common.stores._support import LuaScript, ScriptArg, text
from libs.common.stores.exposure_redis import LEDGER_LUA, ledger_side
from libs.common.topology import AccountKeys, keys_of


@dataclass(frozen=True, slots=True)
class Drift:
    """One repaired difference: the ledger said `recorded`, the truth is `expected`."""

    account: AccountId
    symbol: Symbol
    kind: ExposureDriftKind
    key: str
    """The clientOrderId, execId or total field."""
    recorded: int
    expected: int


# Set an order's entry to what its record says, if the record is still the version read.
# KEYS: record, exposure hash, the exposure symbols set. ARGV: version read (-1: no record),
# symbol, cid, side, units. Returns {1, entry replaced} when repaired, {0} when the record
# moved on or the entry was right (its own write set it meanwhile).
_RESYNC = LuaScript(
    LEDGER_LUA
    + """
local stored = redis.call('GET', KEYS[1])
local version = -1
if stored then version = cjson.decode(stored)['version'] end
if version ~= tonumber(ARGV[1]) then return {0} end
local replaced = ledger_set(KEYS[2], KEYS[3], ARGV[2], ARGV[3], ARGV[4], ARGV[5])
if not replaced then return {0} end
return {1, replaced}
"""
)

# Drop a counted fill that positions has folded. KEYS: the execId's seen key, exposure
# hash, unfolded set, the exposure symbols set. ARGV: symbol, execId. Returns 1 dropped, 0 not
# folded (a fill still waiting for positions).
_DROP_FOLDED = LuaScript(
    LEDGER_LUA
    + """
if redis.call('EXISTS', KEYS[1]) == 0 then return 0 end
if redis.call('HEXISTS', KEYS[2], 'x:' .. ARGV[2]) == 0 then return 0 end
ledger_unfold(KEYS[2], KEYS[3], KEYS[4], ARGV[1], ARGV[2])
return 1
"""
)

# Recompute the totals from the entries. KEYS: exposure hash. Returns the fields it fixed
# as {field, recorded, expected, ...}.
_RETOTAL = LuaScript(
    """
local all = redis.call('HGETALL', KEYS[1])
local want = {buy = 0, sell = 0, count = 0, ubuy = 0, usell = 0}
local fields = {'buy', 'sell', 'count', 'ubuy', 'usell'}
local have = {}
for i = 1, #all, 2 do
  local field, value = all[i], all[i + 1]
  local kind = string.sub(field, 1, 2)
  if kind == 'o:' or kind == 'x:' then
    local side, units = string.match(value, '^(.+):(%d+)$')
    local base, venue = string.match(side, '^(%a+)@(.+)$')
    local total = ((base or side) == 'Buy') and 'buy' or 'sell'
    if kind == 'x:' then total = 'u' .. total else want.count = want.count + 1 end
    want[total] = want[total] + tonumber(units)
    if venue then  -- the venue's share too
      local share = total .. '@' .. venue
      if not want[share] then
        want[share] = 0
        table.insert(fields, share)
      end
      want[share] = want[share] + tonumber(units)
    end
  else
    have[field] = tonumber(value)
    if string.find(field, '@', 1, true) and not want[field] then
      want[field] = 0  -- a venue's share no entry holds any more
      table.insert(fields, field)
    end
  end
end
local fixed = {}
for _, field in ipairs(fields) do
  local recorded = have[field] or 0
  if recorded ~= want[field] then
    redis.call('HSET', KEYS[1], field, string.format('%.0f', want[field]))
    table.insert(fixed, field)
    table.insert(fixed, recorded)
    table.insert(fixed, want[field])
  end
end
return fixed
"""
)


async def audit_symbol(redis: Redis, account: AccountId, symbol: Symbol) -> list[Drift]:
    """Audit and repair the ledger of `symbol` in `account`; the differences found (see the
    module docstring)."""
    k = keys_of(account)
    entries = _strings(await redis.hgetall(k.exposure(symbol)))
    orders = {key[2:]: _parse(v) for key, v in entries.items() if key.startswith("o:")}
    fills = {key[2:]: _parse(v) for key, v in entries.items() if key.startswith("x:")}
    open_ids = {text(m) for m in await redis.smembers(k.open_orders(symbol))}
    cids = sorted(open_ids | set(orders))
    raws = await redis.mget([k.order(ClientOrderId(c)) for c in cids]) if cids else []
    drifts: list[Drift] = []
    for cid, raw in zip(cids, raws, strict=True):
        record = None if raw is None else Order.model_validate_json(raw)
        drifts += await _resync(redis, k, symbol, cid, record, orders.get(cid))
    for exec_id, (_, units) in sorted(fills.items()):
        keys = [k.exec_seen(ExecId(exec_id)), k.exposure(symbol), k.unfolded(symbol)]
        keys.append(k.exposure_symbols)
        if int(await _DROP_FOLDED(redis, keys, [symbol, exec_id])) == 1:
            drifts.append(Drift(k.account, symbol, ExposureDriftKind.FILL, exec_id, units, 0))
    fixed: Any = await _RETOTAL(redis, [k.exposure(symbol)], [])
    for i in range(0, len(fixed), 3):
        field, recorded, expected = text(fixed[i]), int(fixed[i + 1]), int(fixed[i + 2])
        drifts.append(Drift(k.account, symbol, ExposureDriftKind.TOTAL, field, recorded, expected))
    return drifts


async def _resync(
    redis: Redis,
    k: AccountKeys,
    symbol: Symbol,
    cid: str,
    record: Order | None,
    entry: tuple[str, int] | None,
) -> list[Drift]:
    units = 0 if record is None else order_units(record)
    if units == (0 if entry is None else entry[1]):
        return []
    if record is not None:
        side = ledger_side(record.side, record.venue)
    else:
        side = entry[0] if entry else "Buy"
    version = -1 if record is None else record.version
    keys = [k.order(ClientOrderId(cid)), k.exposure(symbol), k.exposure_symbols]
    args: list[ScriptArg] = [version, symbol, cid, side, str(units)]
    reply = await _RESYNC(redis, keys, args)
    if int(reply[0]) == 0:
        return []  # the record moved on meanwhile: its own write set the entry
    replaced = text(reply[1])
    recorded = _parse(replaced)[1] if replaced else 0
    return [Drift(k.account, symbol, ExposureDriftKind.ORDER, cid, recorded, units)]


def _parse(value: str) -> tuple[str, int]:
    side, units = value.split(":")
    return side, int(units)


def _strings(record: Mapping[Any, Any]) -> dict[str, str]:
    return {text(k): text(v) for k, v in record.items()}
