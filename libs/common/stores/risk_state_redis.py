"""The risk state store over Redis.

Keys (from `topology`): `RISK_LIMITS_KEY` and `symbol_limits_key(symbol)` hashes of limit
field -> value; `FREEZE_KEY` hash {state, reason, actor, epoch, since_ns};
`RISK_FREEZE_HISTORY` stream of state changes; `reservations_key(symbol, side)` hash of
clientOrderId -> micro-USD; `reservation_key(clientOrderId)` = "symbol:side" while reserved,
"-" (a tombstone kept `TOMBSTONE_TTL_S`) once released.
"""

from __future__ import annotations

from collections.abc import Mapping
from decimal import Decimal
from typing import Any

from redis.asyncio import Redis

from libs.common.domain.enums import Side
from libs.common.domain.ids import ClientOrderId, Symbol
from libs.common.domain.risk_checks import RiskLimits, TradingState
from libs.common.stores._support import LuaScript, ScriptArg, text
from libs.common.stores.risk_state import (
    StateChangeRecord,
    StateMachine,
    TradingStatus,
    Transition,
    check_overrides,
    from_units,
    to_units,
)
from libs.common.topology import (
    FREEZE_KEY,
    RISK_FREEZE_HISTORY,
    RISK_LIMITS_KEY,
    reservation_key,
    reservations_key,
    symbol_limits_key,
)

TOMBSTONE_TTL_S = 7 * 24 * 3600
_TOMBSTONE = "-"

# Change the trading state with its epoch and its audit record, or refuse, in one step.
# KEYS[1] FREEZE_KEY hash, KEYS[2] history stream. ARGV: target state, reason, actor, now ns,
# history maxlen, cooldown cut-off ns ('' for none).
# Returns {epoch, what}: 'changed' (epoch bumped, hash and stream written), 'same' (already
# in the target state: nothing written, so of N racing callers exactly one sees 'changed'),
# 'frozen' (REDUCING asked while FROZEN), 'cooldown' (leaving a FROZEN set after the cut-off).
# Nanosecond times pass a double's 2^53, so they are compared as decimal strings.
_TRANSITION = LuaScript(
    """
local function later(a, b)
  if string.sub(b, 1, 1) == '-' then return true end
  if #a ~= #b then return #a > #b end
  return a > b
end
local state = redis.call('HGET', KEYS[1], 'state') or 'ACTIVE'
local epoch = tonumber(redis.call('HGET', KEYS[1], 'epoch') or '0')
if state == ARGV[1] then return {epoch, 'same'} end
if ARGV[1] == 'REDUCING' and state == 'FROZEN' then return {epoch, 'frozen'} end
if state == 'FROZEN' and ARGV[6] ~= '' then
  if later(redis.call('HGET', KEYS[1], 'since_ns') or '0', ARGV[6]) then
    return {epoch, 'cooldown'}
  end
end
epoch = redis.call('HINCRBY', KEYS[1], 'epoch', 1)
redis.call('HSET', KEYS[1], 'state', ARGV[1], 'reason', ARGV[2], 'actor', ARGV[3],
  'since_ns', ARGV[4])
redis.call('XADD', KEYS[2], 'MAXLEN', '~', ARGV[5], '*', 'state', ARGV[1], 'previous', state,
  'reason', ARGV[2], 'actor', ARGV[3], 'epoch', epoch, 'ts_ns', ARGV[4])
return {epoch, 'changed'}
"""
)

# Reserve if the side's total stays within the limit: the check and the write are one step,
# so N risk instances reserving at once can never together pass the limit.
# KEYS[1] reservations hash of (symbol, side), KEYS[2] the order's reservation ref.
# ARGV: client order id, units, limit units, 'symbol:side'.
# Returns 1 reserved (now, or before by this order: a redelivery does not reserve twice),
# 0 refused by the limit, -1 refused: the order id reserved elsewhere or was released.
# Units are integers far below 2^53, so the Lua (double) sum is exact.
_RESERVE = LuaScript(
    """
local ref = redis.call('GET', KEYS[2])
if ref then
  if ref == ARGV[4] then return 1 end
  return -1
end
local total = 0
for _, units in ipairs(redis.call('HVALS', KEYS[1])) do total = total + tonumber(units) end
if total + tonumber(ARGV[2]) > tonumber(ARGV[3]) then return 0 end
redis.call('HSET', KEYS[1], ARGV[1], ARGV[2])
redis.call('SET', KEYS[2], ARGV[4])
return 1
"""
)

# Release a reservation found at the ref read just before; leave a tombstone so that the
# order cannot reserve again. KEYS[1] the ref, KEYS[2] the hash it named. ARGV: client order
# id, ref read, tombstone TTL ms. Returns 1 released, 0 nothing to do (released meanwhile).
_RELEASE = LuaScript(
    """
if redis.call('GET', KEYS[1]) ~= ARGV[2] then return 0 end
redis.call('HDEL', KEYS[2], ARGV[1])
redis.call('SET', KEYS[1], '-', 'PX', ARGV[3])
return 1
"""
)


class RedisRiskStateStore(StateMachine):
    """RiskStateStore over Redis; safe to share between any number of instances."""

    def __init__(self, redis: Redis, *, tombstone_ttl_s: float = TOMBSTONE_TTL_S) -> None:
        self._redis = redis
        self._tombstone_ttl_ms = int(tombstone_ttl_s * 1000)

    async def get_limits(self, symbol: Symbol | None = None) -> RiskLimits:
        async with self._redis.pipeline(transaction=False) as pipe:
            pipe.hgetall(RISK_LIMITS_KEY)
            if symbol is not None:
                pipe.hgetall(symbol_limits_key(symbol))
            records = await pipe.execute()
        fields = RiskLimits().model_dump(mode="json")
        for record in records:
            fields |= _strings(record)
        return RiskLimits.model_validate(fields)

    async def set_limits(self, limits: RiskLimits) -> None:
        await self._replace(RISK_LIMITS_KEY, limits.model_dump(mode="json"))

    async def set_symbol_overrides(
        self, symbol: Symbol, overrides: Mapping[str, Decimal | int]
    ) -> None:
        checked = check_overrides(await self.get_limits(), overrides)
        await self._replace(symbol_limits_key(symbol), {k: str(v) for k, v in checked.items()})

    async def trading_state(self) -> TradingStatus:
        fields = _strings(await self._redis.hgetall(FREEZE_KEY))
        return TradingStatus(
            state=TradingState(fields.get("state", TradingState.ACTIVE)),
            epoch=int(fields.get("epoch", 0)),
            reason=fields.get("reason", ""),
            actor=fields.get("actor", ""),
            since_ns=int(fields.get("since_ns", 0)),
        )

    async def transition(
        self, target: TradingState, reason: str, actor: str, now_ns: int, cutoff_ns: int | None
    ) -> tuple[int, Transition]:
        history = RISK_FREEZE_HISTORY
        cutoff = "" if cutoff_ns is None else str(cutoff_ns)
        args: list[ScriptArg] = [target.value, reason, actor, str(now_ns), history.maxlen, cutoff]
        epoch, what = await _TRANSITION(self._redis, [FREEZE_KEY, history.name], args)
        return int(epoch), Transition(text(what))

    async def freeze_history(self, limit: int = 100) -> list[StateChangeRecord]:
        entries: Any = await self._redis.xrevrange(RISK_FREEZE_HISTORY.name, count=limit)
        return [_record(entry_id, fields) for entry_id, fields in entries or ()]

    async def reserve(
        self,
        symbol: Symbol,
        side: Side,
        client_order_id: ClientOrderId,
        notional: Decimal,
        limit: Decimal,
    ) -> bool:
        units, limit_units = to_units(notional, round_up=True), to_units(limit, round_up=False)
        keys = [reservations_key(symbol, side), reservation_key(client_order_id)]
        args: list[ScriptArg] = [client_order_id, units, limit_units, f"{symbol}:{side}"]
        return int(await _RESERVE(self._redis, keys, args)) == 1

    async def release(self, client_order_id: ClientOrderId) -> bool:
        ref = await self._redis.get(reservation_key(client_order_id))
        if ref is None or text(ref) == _TOMBSTONE:
            return False
        symbol, side = text(ref).split(":")
        keys = [reservation_key(client_order_id), reservations_key(Symbol(symbol), Side(side))]
        args: list[ScriptArg] = [client_order_id, text(ref), self._tombstone_ttl_ms]
        return int(await _RELEASE(self._redis, keys, args)) == 1

    async def reserved(self, symbol: Symbol, side: Side) -> dict[ClientOrderId, Decimal]:
        record = await self._redis.hgetall(reservations_key(symbol, side))
        return {ClientOrderId(k): from_units(int(v)) for k, v in _strings(record).items()}

    async def _replace(self, key: str, mapping: Mapping[str, str | int]) -> None:
        """Swap a hash's whole content in one MULTI: readers never see half of it."""
        async with self._redis.pipeline(transaction=True) as pipe:
            pipe.delete(key)
            if mapping:
                pipe.hset(key, items=[part for item in mapping.items() for part in item])
            await pipe.execute()


def _strings(record: Mapping[Any, Any]) -> dict[str, str]:
    return {text(k): text(v) for k, v in record.items()}


def _record(entry_id: bytes | str, raw: Mapping[Any, Any]) -> StateChangeRecord:
    """A history entry as `_TRANSITION` wrote it."""
    fields = _strings(raw)
    return StateChangeRecord(
        entry_id=text(entry_id),
        state=TradingState(fields["state"]),
        previous=TradingState(fields["previous"]),
        reason=fields["reason"],
        actor=fields["actor"],
        epoch=int(fields["epoch"]),
        ts_ns=int(fields["ts_ns"]),
    )
