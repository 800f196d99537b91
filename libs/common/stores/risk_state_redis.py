"""The risk state store over Redis.

Keys (from `topology`): `RISK_LIMITS_KEY` and `symbol_limits_key(symbol)` hashes of limit
field -> value (a limit that is None is absent); `RISK_SCALING_KEY` the scaling rule (JSON,
absent for none), written with the desk limits in one MULTI; `FREEZE_KEY` hash {state,
reason, actor, epoch, generation, since_ns, code, class}: the desk's, and an account's
(`AccountKeys.freeze`, the same fields) in a store made for that account;
`topology.freeze_history_stream(account)` the stream of its state changes (each with its
`account`, "" for the desk), `control_stream(account)` their broadcast.

A state change (freeze, reducing, unfreeze) is replicated before `transition` returns: under
Sentinel (`redis+sentinel://`), it waits (`WAIT`, up to `REPLICATION_WAIT_MS`) until every
replica the sentinels know has the change; on a Redis Cluster, every replica of the shard
that holds the freeze hash (the WAIT goes on the write's own connection, in its pipeline).
So a failover right after an acknowledged freeze does not lose it. A replica that has not
acknowledged in time is logged; the change stands.
"""

from __future__ import annotations

import functools
import logging
import secrets
from collections.abc import Iterable, Mapping
from decimal import Decimal
from typing import Any

from redis.asyncio import Redis
from redis.asyncio.cluster import ClusterNode, RedisCluster
from redis.asyncio.sentinel import SentinelConnectionPool
from redis.exceptions import NoScriptError

from libs.common.domain.ids import AccountId, Symbol
from libs.common.domain.limit_scaling import ScalingRule
from libs.common.domain.risk_checks import FreezeClass, RiskLimits, TradingState, tighter
from libs.common.messages import Envelope, TradingStateChanged
from libs.common.stores._support import LuaScript, ScriptArg, maxlen_arg, replace_hash, text
from libs.common.stores.risk_state import (
    Keep,
    StateChangeRecord,
    StateMachine,
    TradingStatus,
    Transition,
    check_overrides,
    decode_scaling,
    stored_limits,
)
from libs.common.topology import (
    FREEZE_KEY,
    RISK_LIMITS_KEY,
    RISK_SCALING_KEY,
    control_stream,
    freeze_history_stream,
    keys_of,
    symbol_limits_key,
)

# Change the trading state with its epoch, its audit record and its broadcast, or refuse, in
# one step. KEYS[1] the freeze hash, KEYS[2] its history stream, KEYS[3] its control stream
# (the desk's, `mmx:{desk}:...`, or the account's, `mmx:{account}:...`: one slot).
# ARGV: target state, reason, actor, now ns, history maxlen, cooldown cut-off ns ('' for
# none), a generation for a new key, control maxlen ('' when its groups trim it), then the
# TradingStateChanged entry in three parts (before the epoch, between the epoch and the
# generation, after), then the
# reason's code, its class ('' for ACTIVE), the epoch expected ('' for any) and the account
# ('' for the desk).
# Returns {epoch, what, generation}: 'changed' (broadcast, hash and history written), 'moved'
# (the epoch is not the one expected), 'same' (already in the target state: nothing written,
# so of N racing callers exactly one sees 'changed'; but a 'hard' move onto a state held for
# a 'transient' reason takes it over, a change), 'frozen' (REDUCING asked while FROZEN, unless
# from an expected epoch), 'cooldown' (leaving a FROZEN set after the cut-off). A hash
# without a class (written before classes existed) counts as 'hard'; a 'transient' move from a
# state other than ACTIVE keeps that state's class. The broadcast goes
# first: Redis does not undo a script's writes when a later call fails, so a failure leaves
# the state unchanged rather than changed unannounced.
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
local generation = redis.call('HGET', KEYS[1], 'generation') or ARGV[7]
if ARGV[14] ~= '' and epoch ~= tonumber(ARGV[14]) then return {epoch, 'moved', generation} end
if state == ARGV[1] then
  local held = redis.call('HGET', KEYS[1], 'class') or 'hard'
  if not (ARGV[13] == 'hard' and held == 'transient') then return {epoch, 'same', generation} end
elseif ARGV[1] == 'REDUCING' and state == 'FROZEN' and ARGV[14] == '' then
  return {epoch, 'frozen', generation}
end
if state == 'FROZEN' and ARGV[6] ~= '' then
  if later(redis.call('HGET', KEYS[1], 'since_ns') or '0', ARGV[6]) then
    return {epoch, 'cooldown', generation}
  end
end
-- A transient cause never softens a hard state: FROZEN for a venue outage while REDUCING for
-- the daily loss stays hard (the auto-recovery would otherwise end the REDUCING too).
local class = ARGV[13]
if class == 'transient' and state ~= 'ACTIVE' then
  class = redis.call('HGET', KEYS[1], 'class') or 'hard'
end
epoch = epoch + 1
local entry = ARGV[9] .. string.format('%d', epoch) .. ARGV[10] .. generation .. ARGV[11]
if ARGV[8] == '' then
  redis.call('XADD', KEYS[3], '*', '__data__', entry)
else
  redis.call('XADD', KEYS[3], 'MAXLEN', '~', ARGV[8], '*', '__data__', entry)
end
redis.call('HSET', KEYS[1], 'state', ARGV[1], 'reason', ARGV[2], 'actor', ARGV[3],
  'since_ns', ARGV[4], 'epoch', epoch, 'generation', generation, 'code', ARGV[12],
  'class', class)
redis.call('XADD', KEYS[2], 'MAXLEN', '~', ARGV[5], '*', 'state', ARGV[1], 'previous', state,
  'reason', ARGV[2], 'actor', ARGV[3], 'epoch', epoch, 'ts_ns', ARGV[4], 'account', ARGV[15])
return {epoch, 'changed', generation}
"""
)
_EPOCH_SENTINEL = 918_273_645_546_372_819
_GENERATION_SENTINEL = "generation-sentinel-5b3f0c9e"


def announcement(
    target: TradingState, reason: str, actor: str, account: AccountId | None = None
) -> tuple[str, str, str]:
    """The `TradingStateChanged` entry of a change to `target` (of `account`; None: the
    desk), cut around its epoch and its generation (which only the script knows): (before,
    between, after)."""
    message = TradingStateChanged(
        state=target,
        reason=reason,
        actor=actor,
        epoch=_EPOCH_SENTINEL,
        generation=_GENERATION_SENTINEL,
        account=account,
    )
    text = Envelope.wrap(message).to_json().decode()
    before, rest = text.split(str(_EPOCH_SENTINEL))
    between, after = rest.split(_GENERATION_SENTINEL)
    return before, between, after


log = logging.getLogger(__name__)

REPLICATION_WAIT_MS = 1000
"""How long a state change waits for its replicas to acknowledge it."""


class RedisRiskStateStore(StateMachine):
    """RiskStateStore over Redis; safe to share between any number of instances. Its trading
    state is the desk's, or `account`'s own when given (the limits are the desk's)."""

    def __init__(self, redis: Redis, *, account: AccountId | None = None) -> None:
        self._redis = redis
        self.account = account
        self._freeze_key = FREEZE_KEY if account is None else keys_of(account).freeze
        self._history = freeze_history_stream(account)
        self._control = control_stream(account)

    async def get_limits(self, symbol: Symbol | None = None) -> RiskLimits:
        async with self._redis.pipeline(transaction=False) as pipe:
            pipe.hgetall(RISK_LIMITS_KEY)
            if symbol is not None:
                pipe.hgetall(symbol_limits_key(symbol))
            records = await pipe.execute()
        return stored_limits(*(_strings(record) for record in records))

    async def get_limits_many(self, symbols: Iterable[Symbol]) -> dict[Symbol, RiskLimits]:
        listed = list(dict.fromkeys(symbols))
        async with self._redis.pipeline(transaction=False) as pipe:
            pipe.hgetall(RISK_LIMITS_KEY)
            for symbol in listed:
                pipe.hgetall(symbol_limits_key(symbol))
            desk, *overrides = await pipe.execute()
        return {
            s: stored_limits(_strings(desk), _strings(o))
            for s, o in zip(listed, overrides, strict=True)
        }

    async def set_limits(
        self, limits: RiskLimits, *, scaling: ScalingRule | Keep | None = Keep.KEEP
    ) -> None:
        desk = limits.model_dump(mode="json", exclude_none=True)
        async with self._redis.pipeline(transaction=True) as pipe:
            pipe.delete(RISK_LIMITS_KEY)
            pipe.hset(RISK_LIMITS_KEY, items=[part for item in desk.items() for part in item])
            if scaling is None:
                pipe.delete(RISK_SCALING_KEY)
            elif not isinstance(scaling, Keep):
                pipe.set(RISK_SCALING_KEY, scaling.model_dump_json())
            await pipe.execute()

    async def get_scaling(self) -> ScalingRule | None:
        return decode_scaling(await self._redis.get(RISK_SCALING_KEY))

    async def set_symbol_overrides(
        self, symbol: Symbol, overrides: Mapping[str, Decimal | int]
    ) -> None:
        checked = check_overrides(await self.get_limits(), overrides)
        stored = {k: str(v) for k, v in checked.items()}
        await replace_hash(self._redis, symbol_limits_key(symbol), stored)

    async def trading_state(self) -> TradingStatus:
        return decode_status(await self._redis.hgetall(self._freeze_key))

    async def transition(
        self,
        target: TradingState,
        reason: str,
        actor: str,
        now_ns: int,
        cutoff_ns: int | None,
        *,
        code: str = "",
        freeze_class: FreezeClass | None = None,
        expect_epoch: int | None = None,
    ) -> tuple[int, Transition]:
        history = self._history
        cutoff = "" if cutoff_ns is None else str(cutoff_ns)
        args: list[ScriptArg] = [
            target.value,
            reason,
            actor,
            str(now_ns),
            history.length_cap,
            cutoff,
            secrets.token_hex(8),
            maxlen_arg(self._control.maxlen),
            *announcement(target, reason, actor, self.account),
            code,
            "" if freeze_class is None else freeze_class.value,
            "" if expect_epoch is None else str(expect_epoch),
            self.account or "",
        ]
        keys = [self._freeze_key, history.name, self._control.name]
        if isinstance(self._redis, RedisCluster):
            epoch, what, _ = await self._transition_on_cluster(self._redis, keys, args, target)
            return int(epoch), Transition(text(what))
        epoch, what, _ = await _TRANSITION(self._redis, keys, args)
        done = Transition(text(what))
        if done is Transition.CHANGED:
            await self._replicate(target)
        return int(epoch), done

    async def _transition_on_cluster(
        self, cluster: RedisCluster, keys: list[str], args: list[ScriptArg], target: TradingState
    ) -> Any:
        """The transition and a WAIT for the replicas of its shard, on one connection to the
        shard's primary (one pipeline: WAIT counts the writes of its own connection)."""
        await cluster.initialize()  # the slot map, before the first command reads it
        node = cluster.get_node_from_key(self._freeze_key)
        replicas = len(cluster.nodes_manager.slots_cache.get(cluster.keyslot(keys[0]), [])) - 1
        reply, acked = await _run_and_wait(cluster, keys, args, node, replicas)
        if isinstance(reply, NoScriptError):  # a promoted replica, a restart: load, run again
            await cluster.script_load(_TRANSITION.source)
            reply, acked = await _run_and_wait(cluster, keys, args, node, replicas)
        if isinstance(reply, Exception):
            raise reply
        if isinstance(acked, int):
            _warn_if_unreplicated(target, acked, replicas)
        return reply

    async def _replicate(self, target: TradingState) -> None:
        """Wait until every replica the sentinels know holds the change (no wait without
        Sentinel: a plain URL names one server, and ROLE is refused to the least-privilege
        ACL user, as every @dangerous command is)."""
        pool = self._redis.connection_pool
        if not isinstance(pool, SentinelConnectionPool):
            return
        replicas = len(await pool.sentinel_manager.discover_slaves(pool.service_name))
        if not replicas:
            return
        acked = int(await self._redis.wait(replicas, REPLICATION_WAIT_MS))
        _warn_if_unreplicated(target, acked, replicas)

    async def freeze_history(self, limit: int = 100) -> list[StateChangeRecord]:
        entries: Any = await self._redis.xrevrange(self._history.name, count=limit)
        return [_record(entry_id, fields) for entry_id, fields in entries or ()]


def _warn_if_unreplicated(target: TradingState, acked: int, replicas: int) -> None:
    """Log a change that fewer than `replicas` acknowledged in time (it stands)."""
    if acked < replicas:
        log.warning(
            "trading state %s written; %d of %d replica(s) acknowledged it within %d ms",
            target.value,
            acked,
            replicas,
            REPLICATION_WAIT_MS,
        )


async def _run_and_wait(
    cluster: RedisCluster,
    keys: list[str],
    args: list[ScriptArg],
    node: ClusterNode | None,
    replicas: int,
) -> tuple[Any, Any]:
    """(the transition's reply, the replicas that acknowledged it or None), both from one
    pipeline to `node`; errors are returned, not raised."""
    async with cluster.pipeline(transaction=False) as pipe:
        pipe.evalsha(_TRANSITION.sha, len(keys), *keys, *args)
        if replicas > 0 and node is not None:
            pipe.execute_command("WAIT", replicas, REPLICATION_WAIT_MS, target_nodes=node)
        reply, *acked = await pipe.execute(raise_on_error=False)
    return reply, (acked[0] if acked else None)


def decode_status(record: Mapping[Any, Any]) -> TradingStatus:
    """The freeze hash (`FREEZE_KEY`) as a TradingStatus: ACTIVE at epoch 0 when empty."""
    fields = _strings(record)
    return TradingStatus(
        state=TradingState(fields.get("state", TradingState.ACTIVE)),
        epoch=int(fields.get("epoch", 0)),
        reason=fields.get("reason", ""),
        actor=fields.get("actor", ""),
        since_ns=int(fields.get("since_ns", 0)),
        generation=fields.get("generation", ""),
        code=fields.get("code", ""),
        freeze_class=_freeze_class(fields.get("class", "")),
    )


def _freeze_class(value: str) -> FreezeClass:
    """A stored class; HARD when absent or unknown (written before classes, or by hand)."""
    try:
        return FreezeClass(value)
    except ValueError:
        return FreezeClass.HARD


def decode_limits(
    desk: Mapping[Any, Any],
    symbol: Mapping[Any, Any] | None = None,
    account: Mapping[Any, Any] | None = None,
    account_symbol: Mapping[Any, Any] | None = None,
) -> RiskLimits:
    """Limits from the desk hash and, when given, a symbol's overrides hash; with an
    account's overrides (its own, its symbol's), the stricter of those and the account's
    chain (`libs.common.stores.account_limits`).

    Risk decodes them for every symbol with every view it reads, and they seldom change: a
    content seen before is answered from a cache (RiskLimits is frozen), so an invalid stored
    value is logged once per content, not once per read."""
    own, own_symbol = _items(account or {}), _items(account_symbol or {})
    if not own and not own_symbol:
        return _decoded(_items(desk), _items(symbol or {}))
    return _decoded_for_account(_items(desk), _items(symbol or {}), own, own_symbol)


Items = tuple[tuple[str, str], ...]


@functools.lru_cache(maxsize=1024)
def _decoded(desk: Items, symbol: Items) -> RiskLimits:
    return stored_limits(dict(desk), dict(symbol))


@functools.lru_cache(maxsize=1024)
def _decoded_for_account(desk: Items, symbol: Items, own: Items, own_symbol: Items) -> RiskLimits:
    chain = stored_limits(dict(desk), dict(symbol), dict(own), dict(own_symbol))
    return tighter(_decoded(desk, symbol), chain)


def _items(record: Mapping[Any, Any]) -> tuple[tuple[str, str], ...]:
    return tuple(sorted((text(k), text(v)) for k, v in record.items()))


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
        account=fields.get("account", ""),
    )
