"""The order store over Redis: one JSON string per order, written only by Lua scripts.

One store serves one account; its keys are the account's (`topology.AccountKeys`):
`order(id)` holds the Order's pydantic JSON (Decimals as exact strings; the requested qty
and price too, so `create_and_send` writes them with the record and its command in one
script); `open_orders(symbol)` is the set of open client order ids of a symbol;
`venue_order(venue id)` holds the client order id. Every write of a
record goes through one script that also maintains both indexes and the order's entry in
the exposure ledger (`libs.common.stores.exposure_redis`), so no reader can see a record
and an index or a total that disagree, and no crash can leave them apart.

A terminal record (and its venue-id entry) expires `terminal_retention_s` after its last
write, so the keyspace does not grow forever; a late fill within that time still applies.
After it expires, `create` with the same id would succeed again.
"""

from __future__ import annotations

from collections.abc import Sequence

import orjson
from redis.asyncio import Redis

from libs.common.domain.exposure import order_units
from libs.common.domain.ids import DEFAULT_ACCOUNT, AccountId, ClientOrderId, Symbol, VenueOrderId
from libs.common.domain.orders import Order, is_open
from libs.common.stores._support import (
    XADD_LUA,
    LuaScript,
    ScriptArg,
    ScriptCall,
    maxlen_arg,
    run_scripts,
    text,
)
from libs.common.stores.errors import InvalidUpdate
from libs.common.stores.exposure_redis import LEDGER_LUA, ledger_side
from libs.common.stores.orders import Announcer, CasBackend, CasOutcome
from libs.common.topology import ORDERS_EVENTS, AccountStream, keys_of

DEFAULT_TERMINAL_RETENTION_S = 7 * 24 * 3600
WRITES_PER_CALL = 100
"""Compare-and-sets per script call: one call holds Redis for all of them."""

# Shared by the scripts. For one record: krec the record, kopen the open-order set of its
# symbol, kexp the exposure ledger of its symbol, kset the account's exposure symbols,
# venue_key (only when the order has a venue id) the venue-id index entry; the arguments
# (see `_args`) end with the symbol, side and units of the order's exposure (`order_units`:
# '0' when none).
# An open order is in the set (and its symbol in kset, so that readers of every symbol's open
# orders never scan the keyspace); a terminal one is not, and it expires after the retention.
_INDEX = (
    LEDGER_LUA
    + """
local function index_keys(krec, kopen, kexp, kset, cid, open, retention_ms, symbol, side,
    units, venue_key)
  local expire = tonumber(retention_ms) > 0 and open ~= '1'
  if open == '1' then
    redis.call('SADD', kopen, cid)
    redis.call('SADD', kset, symbol)
  else
    redis.call('SREM', kopen, cid)
  end
  if expire then redis.call('PEXPIRE', krec, retention_ms) end
  if venue_key then
    redis.call('SET', venue_key, cid)
    if expire then redis.call('PEXPIRE', venue_key, retention_ms) end
  end
  ledger_set(kexp, kset, symbol, cid, side, units)
end
-- KEYS[1..4] as above, KEYS[5] the venue key when there is one.
local function index(cid, open, retention_ms, symbol, side, units, venue_key)
  index_keys(KEYS[1], KEYS[2], KEYS[3], KEYS[4], cid, open, retention_ms, symbol, side, units,
    venue_key)
end
"""
)

# Create if absent. ARGV: order JSON, client order id, '1' if open, retention ms, symbol,
# side, units.
# Returns {1} when this call created the record (and its index entries), else
# {0, stored JSON}: a duplicate create changes nothing and gets the record that won.
_CREATE = LuaScript(
    _INDEX
    + """
if not redis.call('SET', KEYS[1], ARGV[1], 'NX') then
  return {0, redis.call('GET', KEYS[1])}
end
index(ARGV[2], ARGV[3], ARGV[4], ARGV[5], ARGV[6], ARGV[7], KEYS[5])
return {1}
"""
)

# Create if absent and send its command in the same step. KEYS[1..4] as `_CREATE`, KEYS[5]
# the stream, KEYS[6] the venue key when the order has a venue id (an adopted order). ARGV
# as `_CREATE`, then the stream's maxlen and the entry. Returns as `_CREATE`. The entry is
# appended first: Redis does not undo a script's writes when a later call fails, so the call
# most likely to fail (the stream's) goes before the record, and a failure leaves nothing
# written.
_CREATE_AND_SEND = LuaScript(
    XADD_LUA
    + _INDEX
    + """
if redis.call('EXISTS', KEYS[1]) == 1 then
  return {0, redis.call('GET', KEYS[1])}
end
xadd(KEYS[5], ARGV[8], ARGV[9])
redis.call('SET', KEYS[1], ARGV[1])
index(ARGV[2], ARGV[3], ARGV[4], ARGV[5], ARGV[6], ARGV[7], KEYS[6] or false)
return {1}
"""
)

# Compare-and-set many records in one step, each with the events its change means: the
# events are appended (first, as a failing call undoes nothing) only when the record is
# written. KEYS[1] the event stream, KEYS[2] the exposure symbols set, then 4 per write: record,
# open set, exposure ledger, venue-id entry (the record again when it has no venue id).
# ARGV[1] JSON {maxlen, writes: [{ver, json, cid, open, ret, sym, side, units, venue,
# events}]}. Returns one outcome per write: 1 written, 0 moved on since read, -1 no record.
_CAS_MANY = LuaScript(
    XADD_LUA
    + _INDEX
    + """
local spec = cjson.decode(ARGV[1])
local out = {}
for i, w in ipairs(spec.writes) do
  local k = 2 + 4 * (i - 1)
  local current = redis.call('GET', KEYS[k + 1])
  if not current then
    out[i] = -1
  elseif cjson.decode(current)['version'] ~= w.ver then
    out[i] = 0
  else
    for _, data in ipairs(w.events) do
      xadd(KEYS[1], spec.maxlen, data)
    end
    redis.call('SET', KEYS[k + 1], w.json)
    local venue_key = false
    if w.venue then venue_key = KEYS[k + 4] end
    index_keys(KEYS[k + 1], KEYS[k + 2], KEYS[k + 3], KEYS[2], w.cid, w.open, w.ret, w.sym,
      w.side, w.units, venue_key)
    out[i] = 1
  end
end
return out
"""
)

_OUTCOMES = {1: CasOutcome.WRITTEN, 0: CasOutcome.CONFLICT, -1: CasOutcome.MISSING}


class RedisOrderStore(CasBackend):
    """OrderStore of one account over Redis; safe to share between any number of instances."""

    def __init__(
        self,
        redis: Redis,
        *,
        account: AccountId = DEFAULT_ACCOUNT,
        terminal_retention_s: float | None = DEFAULT_TERMINAL_RETENTION_S,
    ) -> None:
        self._redis = redis
        self.account = account
        self._keys = keys_of(account)
        self._retention_ms = 0 if terminal_retention_s is None else int(terminal_retention_s * 1000)
        if terminal_retention_s is not None and self._retention_ms < 1:
            raise ValueError(
                f"terminal_retention_s {terminal_retention_s} is invalid: expected None "
                "(keep forever) or at least 0.001"
            )

    async def create(self, order: Order) -> tuple[Order, bool]:
        reply = await _CREATE(self._redis, self._record_keys(order), self._args(order))
        if int(reply[0]) == 1:
            return order, True
        return _decode(reply[1]), False

    async def create_and_send(
        self, items: Sequence[tuple[Order, bytes]], stream: AccountStream
    ) -> list[tuple[Order, bool] | Exception]:
        """See `OrderStore.create_and_send`."""
        own = stream.of(self.account)
        calls: list[ScriptCall] = [
            (
                _CREATE_AND_SEND,
                self._record_keys(order, own.name),
                [*self._args(order), maxlen_arg(own.maxlen), entry],
            )
            for order, entry in items
        ]
        replies = await run_scripts(self._redis, calls, raise_on_error=False)
        return [
            reply
            if isinstance(reply, Exception)
            else (order, True)
            if int(reply[0]) == 1
            else (_decode(reply[1]), False)
            for (order, _), reply in zip(items, replies, strict=True)
        ]

    async def get(self, client_order_id: ClientOrderId) -> Order | None:
        raw = await self._redis.get(self._keys.order(client_order_id))
        return None if raw is None else _decode(raw)

    async def get_many(self, client_order_ids: Sequence[ClientOrderId]) -> list[Order | None]:
        if not client_order_ids:
            return []
        raws = await self._redis.mget([self._keys.order(cid) for cid in client_order_ids])
        return [None if raw is None else _decode(raw) for raw in raws]

    async def open_orders(self, symbol: Symbol) -> list[Order]:
        return await self.open_orders_of([symbol])

    async def open_orders_of(self, symbols: Sequence[Symbol]) -> list[Order]:
        # Two round trips, no snapshot needed: an id removed meanwhile reads as a terminal
        # (or expired) record and is dropped; an id added meanwhile is simply a moment late.
        async with self._redis.pipeline(transaction=False) as pipe:
            for symbol in symbols:
                pipe.smembers(self._keys.open_orders(symbol))
            members = await pipe.execute()
        ids = [ClientOrderId(text(m)) for found in members for m in found]
        orders = [o for o in await self.get_many(ids) if o is not None and is_open(o.status)]
        rank = {symbol: k for k, symbol in enumerate(symbols)}
        return sorted(orders, key=lambda o: (rank[o.symbol], o.created_ts_ns, o.client_order_id))

    async def find_by_venue_id(self, venue_order_id: VenueOrderId) -> Order | None:
        client_order_id = await self._redis.get(self._keys.venue_order(venue_order_id))
        return (
            None
            if client_order_id is None
            else await self.get(ClientOrderId(text(client_order_id)))
        )

    async def order_symbols(self) -> list[Symbol]:
        """The account's exposure symbols: every open order's script adds its symbol (as does
        any exposure), so it holds every symbol with an open order, and a few more."""
        members = await self._redis.smembers(self._keys.exposure_symbols)
        return sorted(Symbol(text(s)) for s in members)

    # -- CasBackend --------------------------------------------------------------------------

    async def read(self, ids: Sequence[ClientOrderId]) -> list[Order | None]:
        """Read records in one MGET."""
        return await self.get_many(ids)

    async def write(
        self, writes: Sequence[tuple[Order, Order]], announce: Announcer | None = None
    ) -> list[CasOutcome]:
        """Compare-and-set records with their events: one script call per `WRITES_PER_CALL`
        writes, all in one pipeline."""
        stream = (announce.stream if announce is not None else ORDERS_EVENTS).of(self.account)
        calls: list[ScriptCall] = []
        for start in range(0, len(writes), WRITES_PER_CALL):
            chunk = writes[start : start + WRITES_PER_CALL]
            keys = [stream.name, self._keys.exposure_symbols]
            specs = []
            for old, new in chunk:
                self._check_account(new)
                record = self._keys.order(new.client_order_id)
                venue = new.venue_order_id
                venue_key = record if venue is None else self._keys.venue_order(venue)
                keys += [
                    record,
                    self._keys.open_orders(new.symbol),
                    self._keys.exposure(new.symbol),
                    venue_key,
                ]
                events = [] if announce is None else [e.decode() for e in announce(old, new)]
                data, cid, is_open_, retention, symbol, side, units = self._args(new)
                specs.append(
                    {
                        "ver": old.version,
                        "json": data,
                        "cid": cid,
                        "open": is_open_,
                        "ret": str(retention),
                        "sym": symbol,
                        "side": side,
                        "units": units,
                        "venue": venue is not None,
                        "events": events,
                    }
                )
            spec = orjson.dumps({"maxlen": stream.maxlen, "writes": specs})
            calls.append((_CAS_MANY, keys, [spec]))
        replies = await run_scripts(self._redis, calls)
        return [_OUTCOMES[int(r)] for reply in replies for r in reply]

    def _args(self, order: Order) -> list[ScriptArg]:
        return [
            order.model_dump_json(),
            order.client_order_id,
            "1" if is_open(order.status) else "0",
            self._retention_ms,
            order.symbol,
            ledger_side(order.side, order.venue),
            str(order_units(order)),
        ]

    def _check_account(self, order: Order) -> None:
        if order.account != self.account:
            raise InvalidUpdate(
                f"order {order.client_order_id} is of account {order.account}: expected "
                f"{self.account}, the account of this store"
            )

    def _record_keys(self, order: Order, *before_venue_key: str) -> list[str]:
        """The record's keys (record, open set, exposure, symbols), then `before_venue_key`
        (a script's own keys), then the venue-id entry when the order has a venue id."""
        self._check_account(order)
        keys = [
            self._keys.order(order.client_order_id),
            self._keys.open_orders(order.symbol),
            self._keys.exposure(order.symbol),
            self._keys.exposure_symbols,
            *before_venue_key,
        ]
        if order.venue_order_id is not None:
            keys.append(self._keys.venue_order(order.venue_order_id))
        return keys


def _decode(raw: bytes | str) -> Order:
    return Order.model_validate_json(raw)
