"""The order store over Redis: one JSON string per order, written only by Lua scripts.

Keys (from `topology`): `order_key(id)` holds the Order's pydantic JSON (Decimals as exact
strings); `open_orders_key(symbol)` is the set of open client order ids of a symbol;
`venue_order_key(venue id)` holds the client order id. Every write of a record goes
through one script that also maintains both indexes and the order's entry in the exposure
ledger (`libs.common.stores.exposure_redis`), so no reader can see a record and an index or
a total that disagree, and no crash can leave them apart.

A terminal record (and its venue-id entry) expires `terminal_retention_s` after its last
write, so the keyspace does not grow forever; a late fill within that time still applies.
After it expires, `create` with the same id would succeed again.
"""

from __future__ import annotations

from collections.abc import Sequence

from redis.asyncio import Redis

from libs.common.domain.exposure import order_units
from libs.common.domain.ids import ClientOrderId, Symbol, VenueOrderId
from libs.common.domain.orders import Order, is_open
from libs.common.stores._support import LuaScript, ScriptArg, ScriptCall, run_scripts, text
from libs.common.stores.exposure_redis import LEDGER_LUA
from libs.common.stores.orders import CasBackend, CasOutcome
from libs.common.topology import (
    EXPOSURE_SYMBOLS_KEY,
    Stream,
    exposure_key,
    open_orders_key,
    order_key,
    venue_order_key,
)

DEFAULT_TERMINAL_RETENTION_S = 7 * 24 * 3600

# Shared by both scripts. KEYS[1] the record, KEYS[2] the open-order set of its symbol,
# KEYS[3] the exposure ledger of its symbol, KEYS[4] EXPOSURE_SYMBOLS_KEY, KEYS[5] (only when
# the order has a venue id) the venue-id index entry. ARGV[...] (see `_args`) ends with the
# symbol, side and units of the order's exposure (`order_units`: '0' when none).
# An open order is in the set; a terminal one is not, and it expires after the retention.
_INDEX = (
    LEDGER_LUA
    + """
local function index(cid, open, retention_ms, symbol, side, units, venue_key)
  local expire = tonumber(retention_ms) > 0 and open ~= '1'
  if open == '1' then
    redis.call('SADD', KEYS[2], cid)
  else
    redis.call('SREM', KEYS[2], cid)
  end
  if expire then redis.call('PEXPIRE', KEYS[1], retention_ms) end
  if venue_key then
    redis.call('SET', venue_key, cid)
    if expire then redis.call('PEXPIRE', venue_key, retention_ms) end
  end
  ledger_set(KEYS[3], KEYS[4], symbol, cid, side, units)
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

# Compare-and-set on the version. ARGV: version read, new JSON, client order id, '1' if
# open, retention ms, symbol, side, units. Returns 1 written (record, indexes and exposure
# together), 0 the stored version
# moved on since the read (nothing written: read again), -1 no record.
_CAS = LuaScript(
    _INDEX
    + """
local current = redis.call('GET', KEYS[1])
if not current then return -1 end
if cjson.decode(current)['version'] ~= tonumber(ARGV[1]) then return 0 end
redis.call('SET', KEYS[1], ARGV[2])
index(ARGV[3], ARGV[4], ARGV[5], ARGV[6], ARGV[7], ARGV[8], KEYS[5])
return 1
"""
)

# Create if absent and send its command in the same step. KEYS[1..4] as `_CREATE` (a new
# record has no venue id), KEYS[5] the stream. ARGV as `_CREATE`, then the stream's maxlen
# and the entry. Returns as `_CREATE`. The command is appended first: Redis does not undo a
# script's writes when a later call fails, so the call most likely to fail (the stream's)
# goes before the record, and a failure leaves nothing written.
_CREATE_AND_SEND = LuaScript(
    _INDEX
    + """
if redis.call('EXISTS', KEYS[1]) == 1 then
  return {0, redis.call('GET', KEYS[1])}
end
redis.call('XADD', KEYS[5], 'MAXLEN', '~', ARGV[8], '*', '__data__', ARGV[9])
redis.call('SET', KEYS[1], ARGV[1])
index(ARGV[2], ARGV[3], ARGV[4], ARGV[5], ARGV[6], ARGV[7], false)
return {1}
"""
)

_OUTCOMES = {1: CasOutcome.WRITTEN, 0: CasOutcome.CONFLICT, -1: CasOutcome.MISSING}


class RedisOrderStore(CasBackend):
    """OrderStore over Redis; safe to share between any number of instances."""

    def __init__(
        self, redis: Redis, *, terminal_retention_s: float | None = DEFAULT_TERMINAL_RETENTION_S
    ) -> None:
        self._redis = redis
        self._retention_ms = 0 if terminal_retention_s is None else int(terminal_retention_s * 1000)
        if terminal_retention_s is not None and self._retention_ms < 1:
            raise ValueError(
                f"terminal_retention_s {terminal_retention_s} is invalid: expected None "
                "(keep forever) or at least 0.001"
            )

    async def create(self, order: Order) -> tuple[Order, bool]:
        reply = await _CREATE(self._redis, _keys(order), self._args(order))
        if int(reply[0]) == 1:
            return order, True
        return _decode(reply[1]), False

    async def create_and_send(
        self, items: Sequence[tuple[Order, bytes]], stream: Stream
    ) -> list[tuple[Order, bool] | Exception]:
        """See `OrderStore.create_and_send`."""
        if any(order.venue_order_id is not None for order, _ in items):
            raise ValueError("create_and_send writes new orders: none has a venue id yet")
        calls: list[ScriptCall] = [
            (
                _CREATE_AND_SEND,
                [*_keys(order), stream.name],
                [*self._args(order), stream.maxlen, entry],
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
        raw = await self._redis.get(order_key(client_order_id))
        return None if raw is None else _decode(raw)

    async def get_many(self, client_order_ids: Sequence[ClientOrderId]) -> list[Order | None]:
        if not client_order_ids:
            return []
        raws = await self._redis.mget([order_key(cid) for cid in client_order_ids])
        return [None if raw is None else _decode(raw) for raw in raws]

    async def open_orders(self, symbol: Symbol) -> list[Order]:
        # Two round trips, no snapshot needed: an id removed meanwhile reads as a terminal
        # (or expired) record and is dropped; an id added meanwhile is simply a moment late.
        ids = [ClientOrderId(text(m)) for m in await self._redis.smembers(open_orders_key(symbol))]
        orders = [o for o in await self.get_many(ids) if o is not None and is_open(o.status)]
        return sorted(orders, key=lambda o: (o.created_ts_ns, o.client_order_id))

    async def find_by_venue_id(self, venue_order_id: VenueOrderId) -> Order | None:
        client_order_id = await self._redis.get(venue_order_key(venue_order_id))
        return (
            None
            if client_order_id is None
            else await self.get(ClientOrderId(text(client_order_id)))
        )

    # -- CasBackend --------------------------------------------------------------------------

    async def read(self, ids: Sequence[ClientOrderId]) -> list[Order | None]:
        """Read records in one MGET."""
        return await self.get_many(ids)

    async def write(self, writes: Sequence[tuple[Order, Order]]) -> list[CasOutcome]:
        """Compare-and-set records: one EVALSHA each, all in one pipeline."""
        calls: list[ScriptCall] = [
            (_CAS, _keys(new), [old.version, *self._args(new)]) for old, new in writes
        ]
        return [_OUTCOMES[int(reply)] for reply in await run_scripts(self._redis, calls)]

    def _args(self, order: Order) -> list[ScriptArg]:
        return [
            order.model_dump_json(),
            order.client_order_id,
            "1" if is_open(order.status) else "0",
            self._retention_ms,
            order.symbol,
            order.side.value,
            str(order_units(order)),
        ]


def _keys(order: Order) -> list[str]:
    keys = [
        order_key(order.client_order_id),
        open_orders_key(order.symbol),
        exposure_key(order.symbol),
        EXPOSURE_SYMBOLS_KEY,
    ]
    if order.venue_order_id is not None:
        keys.append(venue_order_key(order.venue_order_id))
    return keys


def _decode(raw: bytes | str) -> Order:
    return Order.model_validate_json(raw)
