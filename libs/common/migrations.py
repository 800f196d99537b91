"""The Redis data layout's version, and the step that brings older data up to it.

Version 1 (before accounts) kept the money-path state under desk-wide keys
(`mmx:order:{id}`, `mmx:position:{symbol}`, ...). Version 2 keeps each account's under its own
hash tag (`topology.AccountKeys`: `mmx:{account}:...`). `migrate` renames every version-1 key
to the `default` account's (RENAMENX: a key keeps its TTL, and one that exists already under
the new name is left as it is and reported), then records version 2 in `SCHEMA_KEY`.

Run it with the engine stopped (`mmx migrate`): a service starting on a Redis that still holds
version-1 keys refuses to start (`check_layout`), rather than trade on a book it cannot see.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from redis.asyncio import Redis

from libs.common.domain.ids import DEFAULT_ACCOUNT
from libs.common.topology import KEY_PREFIX, keys_of

SCHEMA_KEY = f"{KEY_PREFIX}:schema"
"""The layout version of the data in this Redis (absent: 1 if version-1 keys exist, else new)."""
LAYOUT_VERSION = 2
SCAN_COUNT = 1_000

_LEGACY_SINGLES = (f"{KEY_PREFIX}:exposure:symbols", f"{KEY_PREFIX}:positions")
"""Version-1 keys any engine that traded wrote: their presence means version-1 data."""


_MOVED = (
    ":exposure:unfolded:",
    ":exposure:symbols",
    ":exposure:",
    ":order:",
    ":orders:open:",
    ":orders:venue:",
    ":position:",
    ":positions",
    ":idem:exec:",
    ":idem:router-fill:",
    ":risk:order-times:",
    ":risk:pnl-baseline:",
)
"""What follows `mmx` in the version-1 keys that move, most specific first: a key is moved
by the first that it starts with; the default account's key is the same after its prefix."""


def _families() -> list[tuple[str, str]]:
    """(version-1 prefix, the default account's prefix) of each of `_MOVED`."""
    new = keys_of(DEFAULT_ACCOUNT).prefix
    return [(KEY_PREFIX + part, new + part) for part in _MOVED]


@dataclass
class Migration:
    """What `migrate` did."""

    moved: int = 0
    kept: list[str] = field(default_factory=list)
    """Version-1 keys left in place: their new name existed already."""
    version_before: int = 0

    def summary(self) -> str:
        kept = f"; {len(self.kept)} left as they were (their new name exists)" if self.kept else ""
        return (
            f"layout {self.version_before} -> {LAYOUT_VERSION}: {self.moved} key(s) moved to "
            f"account {DEFAULT_ACCOUNT}{kept}"
        )


class LayoutOutdated(RuntimeError):
    """Redis holds data in an older layout: `mmx migrate` first."""


async def layout_version(redis: Redis) -> int:
    """The layout of the data in `redis`: `SCHEMA_KEY`; else 1 when version-1 keys exist;
    else `LAYOUT_VERSION` (a Redis no engine wrote to)."""
    stored = await redis.get(SCHEMA_KEY)
    if stored is not None:
        return int(stored)
    return 1 if await redis.exists(*_LEGACY_SINGLES) else LAYOUT_VERSION


async def check_layout(redis: Redis) -> None:
    """Raise LayoutOutdated when `redis` holds data of an older layout; record the current
    layout on a Redis no engine wrote to yet."""
    version = await layout_version(redis)
    if version < LAYOUT_VERSION:
        raise LayoutOutdated(
            f"Redis holds engine data of layout {version}: expected {LAYOUT_VERSION} (each "
            "account's state under its own keys). Stop the engine and run `mmx migrate` "
            "(docs/accounts.md), then start it again"
        )
    await redis.set(SCHEMA_KEY, LAYOUT_VERSION, nx=True)


async def migrate(redis: Redis) -> Migration:
    """Move version-1 keys to the `default` account's (see the module docstring); safe to
    run again (a second run moves nothing)."""
    done = Migration(version_before=await layout_version(redis))
    families = _families()
    for old_prefix, _ in families:
        async for raw in redis.scan_iter(match=f"{_escape(old_prefix)}*", count=SCAN_COUNT):
            key = raw.decode() if isinstance(raw, bytes) else str(raw)
            new = _new_name(key, families)
            if new is None:
                continue
            if await redis.renamenx(key, new):
                done.moved += 1
            else:
                done.kept.append(key)
    await redis.set(SCHEMA_KEY, LAYOUT_VERSION)
    return done


def _new_name(key: str, families: list[tuple[str, str]]) -> str | None:
    for old_prefix, new_prefix in families:
        if key.startswith(old_prefix):
            if old_prefix.endswith(("symbols", "positions")) and key != old_prefix:
                return None  # `mmx:positions` matched `mmx:positions-x`: not ours
            return new_prefix + key[len(old_prefix) :]
    return None


def _escape(prefix: str) -> str:
    """`prefix` as a SCAN pattern that matches it literally."""
    return "".join(f"\\{c}" if c in "*?[]\\" else c for c in prefix)
