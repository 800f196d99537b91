"""Helpers shared by the store implementations: Lua scripts, reply decoding, retry backoff."""

from __future__ import annotations

import asyncio
import hashlib
import random
import time
from collections.abc import Callable, Mapping, Sequence
from typing import Any

from redis.asyncio import Redis
from redis.exceptions import NoScriptError

Clock = Callable[[], float]
"""Monotonic seconds; the fakes take one so that their TTLs can be driven by a test."""
monotonic: Clock = time.monotonic

ScriptArg = str | int | bytes
ScriptCall = tuple["LuaScript", Sequence[str], Sequence[ScriptArg]]
"""One script run: the script, its KEYS and its ARGV."""

_BACKOFF_BASE_S = 0.000_5
_BACKOFF_CAP_S = 0.02


XADD_LUA = """
local function xadd(key, maxlen, data)
  if maxlen and maxlen ~= '' and maxlen ~= cjson.null then
    return redis.call('XADD', key, 'MAXLEN', '~', maxlen, '*', '__data__', data)
  end
  return redis.call('XADD', key, '*', '__data__', data)
end
"""
"""Lua `xadd(key, maxlen, data)`: append an entry, trimmed `MAXLEN ~ maxlen` unless maxlen is
'' or null (a stream trimmed only below what its groups acknowledged: `stream_trim`)."""


def maxlen_arg(maxlen: int | None) -> ScriptArg:
    """A stream's maxlen as a script argument for `xadd` ('' when it is not trimmed by length)."""
    return "" if maxlen is None else maxlen


class LuaScript:
    """A Lua script run with EVALSHA, loaded into Redis on the first NOSCRIPT.

    Redis runs a script atomically: no other command runs between its first and its last
    call, which is what every store relies on. A server restart forgets loaded scripts; the
    NOSCRIPT reply (the script did not run at all) makes us load it and run it again.
    """

    def __init__(self, source: str) -> None:
        self.source = source
        self.sha = hashlib.sha1(source.encode(), usedforsecurity=False).hexdigest()

    async def __call__(self, redis: Redis, keys: Sequence[str], args: Sequence[ScriptArg]) -> Any:
        """Run the script once, in its own round trip."""
        try:
            return await redis.evalsha(self.sha, len(keys), *keys, *args)
        except NoScriptError:
            await redis.script_load(self.source)
            return await redis.evalsha(self.sha, len(keys), *keys, *args)


async def run_scripts(
    redis: Redis, calls: Sequence[ScriptCall], *, raise_on_error: bool = True
) -> list[Any]:
    """Run many script calls in one pipeline (one round trip); results in call order.

    Calls answered NOSCRIPT did not run: their scripts are loaded and only they run again.
    Any other error reply is raised, after the whole pipeline ran; or, with
    `raise_on_error=False`, left in its call's place as the exception.
    """
    if not calls:
        return []
    results = await _pipeline(redis, calls)
    missing = [i for i, result in enumerate(results) if isinstance(result, NoScriptError)]
    if missing:
        for script in {calls[i][0] for i in missing}:
            await redis.script_load(script.source)
        rerun = await _pipeline(redis, [calls[i] for i in missing])
        for i, result in zip(missing, rerun, strict=True):
            results[i] = result
    for result in results:
        if isinstance(result, Exception) and raise_on_error:
            raise result
    return results


async def _pipeline(redis: Redis, calls: Sequence[ScriptCall]) -> list[Any]:
    async with redis.pipeline(transaction=False) as pipe:
        for script, keys, args in calls:
            pipe.evalsha(script.sha, len(keys), *keys, *args)
        return await pipe.execute(raise_on_error=False)


def text(value: bytes | str) -> str:
    """A reply as str, whether the client decodes responses or not."""
    return value.decode() if isinstance(value, bytes) else value


async def backoff(attempt: int) -> None:
    """Sleep before retry `attempt` (1, 2, ...): full jitter, doubling from 0.5 ms to 20 ms.

    Jitter spreads writers that lost a compare-and-set to the same winner, so that they do
    not collide again on the next round.
    """
    ceiling = min(_BACKOFF_CAP_S, _BACKOFF_BASE_S * 2 ** min(attempt, 16))
    await asyncio.sleep(random.uniform(0, ceiling))


async def replace_hash(redis: Redis, key: str, mapping: Mapping[str, str | int]) -> None:
    """Swap a hash's whole content in one MULTI (an empty `mapping` deletes it): readers never
    see half of it, and a field left out is gone."""
    async with redis.pipeline(transaction=True) as pipe:
        pipe.delete(key)
        if mapping:
            pipe.hset(key, items=[part for item in mapping.items() for part in item])
        await pipe.execute()
