"""The Redis data layout's version, and the step that brings older data up to it.

Version 1 (before accounts) kept the money-path state under desk-wide keys
(`mmx:order:{id}`, `mmx:position:{symbol}`, ...). Version 2 keeps each account's under its own
hash tag (`topology.AccountKeys`: `mmx:{account}:...`). Version 3 (Redis Cluster) also moves
the streams a script writes with that state into the same slot: `orders.requests`,
`orders.approved` and `orders.events` become the `default` account's
(`mmx:{default}:orders.events`, ...), `control`, `risk.freeze_history` and the freeze hash
become the desk's (`mmx:{desk}:...`), each dead-letter stream moves next to its stream
(`topology.Stream.dlq`), and the desk's risk configuration, the marks, the edge bookkeeping
and the API keys move under their hash tags (`mmx:{risk}:`, `mmx:{marks}:`, `mmx:{edge}:`,
`mmx:{apikeys}:`). A stream keeps its consumer groups and pending entries when renamed;
an entry of another account that sits in the old shared stream is still handled by its own
`account` field.

`migrate` renames every older key to its new name (RENAMENX: a key keeps its TTL, and one that
exists already under the new name is left as it is and reported), then records version 3 in
`SCHEMA_KEY`. Run it with the engine stopped (`mmx migrate`): a service starting on a Redis
that still holds older data refuses to start (`check_layout`), rather than trade on a book it
cannot see. Amend decisions (`mmx:idem:risk:amend:*`, kept minutes) are not moved: an amend
redelivered across the upgrade is decided again.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from redis.asyncio import Redis

from libs.common import topology
from libs.common.domain.ids import DEFAULT_ACCOUNT
from libs.common.topology import KEY_PREFIX, keys_of

SCHEMA_KEY = f"{KEY_PREFIX}:schema"
"""The layout version of the data in this Redis (absent: 1 if version-1 keys exist, else new)."""
LAYOUT_VERSION = 3
SCAN_COUNT = 1_000

_LEGACY_SINGLES = (f"{KEY_PREFIX}:exposure:symbols", f"{KEY_PREFIX}:positions")
"""Version-1 keys any engine that traded wrote: their presence means version-1 data."""


def _renamed_singles() -> dict[str, str]:
    """Version-2 name -> version-3 name of each single key that moved at version 3: the
    streams, their dead letters, the desk's freeze hash and the keys now under a hash tag."""
    default = DEFAULT_ACCOUNT
    moved = {
        "orders.requests": topology.ORDERS_REQUESTS.of(default),
        "orders.approved": topology.ORDERS_APPROVED.of(default),
        "orders.events": topology.ORDERS_EVENTS.of(default),
        "control": topology.CONTROL.desk,
        "risk.freeze_history": topology.RISK_FREEZE_HISTORY.desk,
    }
    names = {old: new.name for old, new in moved.items()}
    names |= {f"{old}.dlq": new.dlq.name for old, new in moved.items() if new.maxlen is None}
    names |= {f"{s.name}.dlq": s.dlq.name for s in topology.STREAMS}
    names[f"{KEY_PREFIX}:risk:freeze"] = topology.FREEZE_KEY
    for old, new in (
        ("risk:limits", topology.RISK_LIMITS_KEY),
        ("risk:scaling", topology.RISK_SCALING_KEY),
        ("risk:volatility", topology.RISK_VOLATILITY_KEY),
        ("risk:scaled", topology.RISK_SCALED_KEY),
        ("risk:edge", topology.EDGE_KEY),
        ("risk:markouts:pending", topology.MARKOUTS_PENDING_KEY),
        ("risk:markouts:unjudged", topology.MARKOUTS_UNJUDGED_KEY),
        ("marks", topology.MARK_SYMBOLS_KEY),
        ("apikeys", topology.API_KEYS_KEY),
    ):
        names[f"{KEY_PREFIX}:{old}"] = new
    return names


_TAGGED = (
    ("risk:limits:", f"{topology.RISK_TAG}:limits:"),
    ("mark:", f"{topology.MARKS_TAG}:mark:"),
    ("mark-history:", f"{topology.MARKS_TAG}:mark-history:"),
    ("risk:edge-fills:", f"{topology.EDGE_TAG}:risk:edge-fills:"),
    ("risk:markout:", f"{topology.EDGE_TAG}:risk:markout:"),
    ("idem:risk:edge:", f"{topology.EDGE_TAG}:idem:risk:edge:"),
    ("apikey:", f"{topology.API_KEYS_TAG}:key:"),
)
"""What follows `mmx:` in the families of version-2 keys that moved under a hash tag at
version 3, and their new prefix."""


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
    """(older prefix, its new prefix): each of `_MOVED` to the default account's, each of
    `_TAGGED` under its tag."""
    new = keys_of(DEFAULT_ACCOUNT).prefix
    moved = [(KEY_PREFIX + part, new + part) for part in _MOVED]
    return moved + [(f"{KEY_PREFIX}:{old}", tagged) for old, tagged in _TAGGED]


@dataclass
class Migration:
    """What `migrate` did."""

    moved: int = 0
    kept: list[str] = field(default_factory=list)
    """Older keys left in place: their new name existed already."""
    version_before: int = 0

    def summary(self) -> str:
        kept = f"; {len(self.kept)} left as they were (their new name exists)" if self.kept else ""
        return (
            f"layout {self.version_before} -> {LAYOUT_VERSION}: {self.moved} key(s) moved to "
            f"account {DEFAULT_ACCOUNT} and the desk's keys{kept}"
        )


class LayoutOutdated(RuntimeError):
    """Redis holds data in an older layout: `mmx migrate` first."""


async def layout_version(redis: Redis) -> int:
    """The layout of the data in `redis`: `SCHEMA_KEY`; else 1 when version-1 keys exist,
    2 when version-2 keys do; else `LAYOUT_VERSION` (a Redis no engine wrote to). One key
    per EXISTS (on a Redis Cluster they are in different slots), all in one pipeline."""
    stored = await redis.get(SCHEMA_KEY)
    if stored is not None:
        return int(stored)
    older = [(1, name) for name in _LEGACY_SINGLES] + [(2, name) for name in _renamed_singles()]
    async with redis.pipeline(transaction=False) as pipe:
        for _, name in older:
            pipe.exists(name)
        found = await pipe.execute()
    return next(
        (version for (version, _), n in zip(older, found, strict=True) if n), LAYOUT_VERSION
    )


async def check_layout(redis: Redis) -> None:
    """Raise LayoutOutdated when `redis` holds data of an older layout; record the current
    layout on a Redis no engine wrote to yet."""
    version = await layout_version(redis)
    if version < LAYOUT_VERSION:
        raise LayoutOutdated(
            f"Redis holds engine data of layout {version}: expected {LAYOUT_VERSION} (each "
            "account's state and streams under its own keys). Stop the engine and run "
            "`mmx migrate` "
            "(docs/accounts.md), then start it again"
        )
    await redis.set(SCHEMA_KEY, LAYOUT_VERSION, nx=True)


async def migrate(redis: Redis) -> Migration:
    """Move older keys to their version-3 names (see the module docstring); safe to run
    again (a second run moves nothing)."""
    done = Migration(version_before=await layout_version(redis))
    for old, renamed in _renamed_singles().items():
        if not await redis.exists(old):
            continue
        if await redis.renamenx(old, renamed):
            done.moved += 1
        else:
            done.kept.append(old)
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
