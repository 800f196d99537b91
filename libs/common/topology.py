"""Every stream, consumer group and Redis key name of mmx, and how long each stream is kept.

No other module spells a stream, group or key name: they import it from here.

    gateway ──orders.requests──▶ risk ──orders.approved──▶ router ──▶ venue
                                   ▲                          │
       gateway, positions, risk ◀──┴──────orders.events───────┘
       gateway ◀── positions.updates ◀── positions
       every router and gateway ◀── control (freeze broadcast, read without a group)
       archive ◀── orders.requests, orders.approved, orders.events, control, audit

Redis Cluster: every script and multi-key command stays in one hash slot. An account's keys
and the streams its scripts append to (`orders.requests`, `orders.approved`,
`orders.events`, `control`, the freeze history: `AccountStream`) are `mmx:{account}:...`;
the desk's trading state and its own streams of those families are `mmx:{desk}:...`;
`positions.updates` and `audit` are desk-wide streams written by single commands. Each
stream `S` has a dead-letter stream in its slot (`Stream.dlq`: `S.dlq`, or `{S}.dlq` when
`S` has no hash tag).

Trimming (`Stream`): the streams a consumer group reads (the order streams, control, audit;
maxlen None) are trimmed only below what every group has acknowledged
(`libs.common.stream_trim`), so a slow or stopped service (the archive during an S3 outage)
loses no unread entry; control and audit also keep their last `keep` entries for readers by
range. The others (no group reads them) are trimmed at XADD with `MAXLEN ~ maxlen`.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from enum import StrEnum
from functools import lru_cache

from libs.common.accounts import scoped_name, venue_scoped
from libs.common.domain.enums import Category
from libs.common.domain.ids import (
    RESERVED_ACCOUNT_IDS,
    AccountId,
    ClientOrderId,
    EventId,
    ExecId,
    Symbol,
    VenueId,
    VenueOrderId,
)

KEY_PREFIX = "mmx"
DLQ_SUFFIX = ".dlq"
DLQ_MAXLEN = 50_000
"""Dead letters are rare and each is a bug or a poison message to look at: keep plenty."""


def hash_key(name: str) -> str:
    """What Redis Cluster hashes `name` by: the `tag` of its first `{tag}` (a `{` followed
    later by a `}` with something between them), else the whole name. Names with one hash key
    share a slot."""
    start = name.find("{")
    end = name.find("}", start + 1) if start >= 0 else -1
    return name[start + 1 : end] if end > start + 1 else name


def has_hash_tag(name: str) -> bool:
    """Whether Redis Cluster hashes `name` by a `{tag}` in it rather than by the whole name."""
    return hash_key(name) != name


@dataclass(frozen=True, slots=True)
class Stream:
    """A Redis stream and its trim policy: `XADD ... MAXLEN ~ maxlen`, or, with maxlen None,
    never by length: only entries every consumer group has acknowledged are trimmed
    (`libs.common.stream_trim`), so a slow or stopped service loses no unread work; of those,
    the last `keep` entries (None: no count) and the last `stream_keep_s` stay."""

    name: str
    maxlen: int | None
    keep: int | None = None

    def __post_init__(self) -> None:
        if not self.name or (self.maxlen is not None and self.maxlen < 1):
            raise ValueError(
                f"stream {self.name!r} with maxlen {self.maxlen} is invalid: "
                "expected a non-empty name and maxlen >= 1"
            )
        if self.keep is not None and (self.maxlen is not None or self.keep < 1):
            raise ValueError(
                f"stream {self.name!r} keeps {self.keep} entries: expected a count >= 1, on a "
                "stream trimmed by its groups (maxlen None)"
            )

    @property
    def length_cap(self) -> int:
        """The MAXLEN of a stream trimmed by length (a stream trimmed by its groups has none)."""
        if self.maxlen is None:
            raise ValueError(f"stream {self.name!r} is trimmed by its groups, not by length")
        return self.maxlen

    @property
    def dlq(self) -> Stream:
        """The dead-letter stream of this stream, in the same Redis Cluster slot (the consumer
        moves an entry from one to the other in one script): `<name>.dlq` for a name with a
        hash tag, `{<name>}.dlq` for one without (the tag hashes exactly as the bare name)."""
        if self.name.endswith(DLQ_SUFFIX):
            raise ValueError(f"stream {self.name!r} is a dead-letter stream: it has no dlq")
        base = self.name if has_hash_tag(self.name) else f"{{{self.name}}}"
        return Stream(base + DLQ_SUFFIX, DLQ_MAXLEN)

    def __str__(self) -> str:
        return self.name


@dataclass(frozen=True, slots=True)
class AccountStream:
    """A stream every account has its own of, `mmx:{account}:<suffix>` (`of(account)`): the
    scripts that change an account's state append to it in the same step, so it shares the
    account's Redis Cluster slot. With `desk`, the desk has one too, `mmx:{desk}:<suffix>`,
    for what belongs to no account (the desk's freeze, an edge report). Its consumers run one
    reader per stream; a message is handled by its own `account` field, whichever stream
    carried it."""

    suffix: str
    maxlen: int | None
    keep: int | None = None
    has_desk: bool = False
    """Whether the desk has a stream of this family (`desk`)."""

    def of(self, account: AccountId) -> Stream:
        """The stream of `account`."""
        return _named(self, account)

    @property
    def desk(self) -> Stream:
        """The desk's stream of this family."""
        if not self.has_desk:
            raise ValueError(f"the desk has no {self.suffix} stream: only each account has")
        return _named(self, DESK)

    def each(self, accounts: Iterable[AccountId]) -> tuple[Stream, ...]:
        """The streams of `accounts` (after the desk's, when it has one), in order."""
        own = tuple(self.of(account) for account in accounts)
        return (self.desk, *own) if self.has_desk else own

    @property
    def pattern(self) -> str:
        """The family's name with `{account}` for the account, as the docs show it."""
        return f"{KEY_PREFIX}:{{account}}:{self.suffix}"

    @property
    def dlq(self) -> AccountStream:
        """The family of the dead-letter streams: `family.dlq.of(a)` is `family.of(a).dlq`."""
        if self.suffix.endswith(DLQ_SUFFIX):
            raise ValueError(f"stream {self.pattern!r} is a dead-letter stream: it has no dlq")
        return AccountStream(self.suffix + DLQ_SUFFIX, DLQ_MAXLEN, has_desk=self.has_desk)

    def __str__(self) -> str:
        return self.pattern


@lru_cache(maxsize=4096)
def _named(family: AccountStream, tag: str) -> Stream:
    return Stream(f"{KEY_PREFIX}:{{{tag}}}:{family.suffix}", family.maxlen, family.keep)


DESK = "desk"
"""The hash tag of the desk-wide trading state: its freeze hash, its history and broadcast
(`mmx:{desk}:...`). No account may be called this (`domain.ids.RESERVED_ACCOUNT_IDS`)."""
assert DESK in RESERVED_ACCOUNT_IDS  # an account called so would share the desk's keys

# -- Streams ---------------------------------------------------------------------------------

ORDERS_REQUESTS = AccountStream("orders.requests", maxlen=None, has_desk=True)
"""Commands from the gateway (place, amend, cancel, cancel-all) for risk to check, on their
account's stream (the gateway writes the record and the command in one step); the desk's
carries edge reports and desk freezes."""
ORDERS_APPROVED = AccountStream("orders.approved", maxlen=None)
"""Commands risk approved, for the router to send to the venue."""
ORDERS_EVENTS = AccountStream("orders.events", maxlen=None)
"""Everything that happened to an account's orders (denied, accepted, filled, cancelled,
...), for everyone."""
POSITIONS_UPDATES = Stream("positions.updates", maxlen=200_000)
"""Position and P&L changes from the positions service."""
CONTROL = AccountStream("control", maxlen=None, keep=10_000, has_desk=True)
"""Trading-state broadcasts, the desk's and each account's own: every router and gateway
reads them without a group; the archive with one."""
RISK_FREEZE_HISTORY = AccountStream("risk.freeze_history", maxlen=100_000, has_desk=True)
"""Append-only audit trail of the freezes and unfreezes (the desk's, each account's), read
with XREVRANGE."""
AUDIT = Stream("audit", maxlen=None, keep=500_000)
"""Operator actions and other audit records: the archive reads it with a group, the console
with XREVRANGE."""

STREAMS: tuple[Stream, ...] = (POSITIONS_UPDATES, AUDIT)
"""The desk-wide streams written by single commands."""
ACCOUNT_STREAMS: tuple[AccountStream, ...] = (
    ORDERS_REQUESTS,
    ORDERS_APPROVED,
    ORDERS_EVENTS,
    CONTROL,
    RISK_FREEZE_HISTORY,
)
"""The streams each account (and, for some, the desk) has its own of."""

AnyStream = Stream | AccountStream
"""A desk-wide stream or a family of account streams."""


def control_stream(account: AccountId | None) -> Stream:
    """The broadcast of `account`'s own trading state; of the desk's for None."""
    return CONTROL.desk if account is None else CONTROL.of(account)


def freeze_history_stream(account: AccountId | None) -> Stream:
    """The history of `account`'s own trading state; of the desk's for None."""
    return RISK_FREEZE_HISTORY.desk if account is None else RISK_FREEZE_HISTORY.of(account)


def expand(streams: Iterable[AnyStream], accounts: Iterable[AccountId]) -> tuple[Stream, ...]:
    """`streams` with each family replaced by its streams (`AccountStream.each`), in order."""
    listed = tuple(accounts)
    out: list[Stream] = []
    for stream in streams:
        out.extend(stream.each(listed) if isinstance(stream, AccountStream) else (stream,))
    return tuple(out)


def all_streams(accounts: Iterable[AccountId]) -> tuple[Stream, ...]:
    """Every stream of a desk with `accounts`: each family's, then the desk-wide ones."""
    return expand((*ACCOUNT_STREAMS, *STREAMS), accounts)


# -- Consumer groups -------------------------------------------------------------------------


class Group(StrEnum):
    """Consumer groups: one per service, shared by all of its instances."""

    RISK = "risk"
    ROUTER = "router"
    POSITIONS = "positions"
    GATEWAY = "gateway"
    ARCHIVE = "archive"
    """The audit archive (`services.archive`): every entry of the streams that carry the
    audit trail, acknowledged only once written off the box."""


CONSUMES: Mapping[Group, tuple[AnyStream, ...]] = {
    Group.RISK: (ORDERS_REQUESTS, ORDERS_EVENTS),
    Group.ROUTER: (ORDERS_APPROVED,),
    Group.POSITIONS: (ORDERS_EVENTS,),
    Group.ARCHIVE: (ORDERS_REQUESTS, ORDERS_APPROVED, ORDERS_EVENTS, CONTROL, AUDIT),
    # The gateway reads orders.events and positions.updates without a group: every instance
    # must see every event for its own WebSocket clients and waiting requests. Group.GATEWAY
    # is for work exactly one gateway instance must do; none exists yet, and a group nobody
    # reads would only pile up lag.
}
"""Which streams each group reads (account families for every account), so that groups can
be declared before any service starts."""


def consumed(accounts: Iterable[AccountId]) -> dict[Group, tuple[Stream, ...]]:
    """`CONSUMES` for a desk with `accounts`: each family expanded to its accounts' streams."""
    listed = tuple(accounts)
    return {group: expand(streams, listed) for group, streams in CONSUMES.items()}


# -- Keys ------------------------------------------------------------------------------------

FREEZE_KEY = f"{KEY_PREFIX}:{{{DESK}}}:risk:freeze"
"""Hash holding the desk's durable freeze state and its `epoch`, bumped on every freeze or unfreeze.

A router reads it before every venue call, so a missed `control` broadcast cannot let an
order through; the epoch tells a router whether the broadcast it saw is stale.
"""
RISK_TAG = f"{KEY_PREFIX}:{{risk}}"
"""The prefix of the desk's risk configuration (`{risk}`: one slot, so that the limits and
the scaling rule are replaced together in one MULTI)."""
RISK_LIMITS_KEY = f"{RISK_TAG}:limits"
"""Hash of the live desk-wide risk limits."""
RISK_SCALING_KEY = f"{RISK_TAG}:scaling"
"""String: the rule that scales the limits (`domain.limit_scaling.ScalingRule` as JSON)."""
RISK_VOLATILITY_KEY = f"{RISK_TAG}:volatility"
"""Hash: each symbol's realised-volatility estimate and the factor in force (JSON)."""
RISK_SCALED_KEY = f"{RISK_TAG}:scaled"
"""Hash: the factors last announced for the desk (`ALL`) and each symbol (JSON), so that
each change is announced once."""
TIMINGS_KEY = f"{KEY_PREFIX}:timings"
"""Hash: each service's timing settings (JSON), checked against each other at start."""


def symbol_limits_key(symbol: Symbol) -> str:
    """Key of the per-symbol risk limits (hash), overriding `RISK_LIMITS_KEY`."""
    return f"{RISK_TAG}:limits:{symbol}"


@dataclass(frozen=True, slots=True)
class AccountKeys:
    """The keys of one account's state: its orders and their indexes, its exposure ledger, its
    positions, its claimed and folded execIds, its order-rate window, its P&L baselines, its
    own limits and its own trading state.

    Every one is `mmx:{account}:...`: the braces are a Redis Cluster hash tag, so all of an
    account's keys share one slot and a script that touches several of them never crosses
    slots. Get one with `keys_of(account)`. Keys written before accounts existed are the
    `default` account's, renamed by `mmx migrate` (`libs.common.migrations`).
    """

    account: AccountId

    @property
    def prefix(self) -> str:
        """`mmx:{account}`: what every key of the account starts with."""
        return f"{KEY_PREFIX}:{{{self.account}}}"

    def order(self, client_order_id: ClientOrderId) -> str:
        """The order record (JSON), written before the order is sent."""
        return f"{self.prefix}:order:{client_order_id}"

    def open_orders(self, symbol: Symbol) -> str:
        """Set of the client order ids of the open orders on `symbol`."""
        return f"{self.prefix}:orders:open:{symbol}"

    def venue_order(self, venue_order_id: VenueOrderId) -> str:
        """The client order id of the order the venue calls `venue_order_id`."""
        return f"{self.prefix}:orders:venue:{venue_order_id}"

    @property
    def exposure_symbols(self) -> str:
        """Set of the symbols that have (or had) exposure or an open order: an admitted order,
        an unfolded fill, a position; the order store adds the symbol of every open order."""
        return f"{self.prefix}:exposure:symbols"

    def exposure(self, symbol: Symbol) -> str:
        """Hash of the exposure ledger of `symbol` (`libs.common.stores.exposure_redis`): the
        totals `buy`, `sell`, `count`, `ubuy`, `usell` (micro-USD), `o:{clientOrderId}` per
        admitted open order and `x:{execId}` per fill positions has not folded yet."""
        return f"{self.prefix}:exposure:{symbol}"

    def unfolded(self, symbol: Symbol) -> str:
        """Sorted set of the execIds of `symbol` not folded by positions yet, by the ms they
        were reported: the oldest tells how far positions lags."""
        return f"{self.prefix}:exposure:unfolded:{symbol}"

    def position(self, symbol: Symbol) -> str:
        """Hash of the position record on `symbol`."""
        return f"{self.prefix}:position:{symbol}"

    @property
    def position_symbols(self) -> str:
        """Set of the symbols that have a position record."""
        return f"{self.prefix}:positions"

    def idempotency(self, namespace: str, key: str) -> str:
        """That `key` was handled in `namespace` for this account (set with NX and a TTL)."""
        return f"{self.prefix}:idem:{namespace}:{key}"

    def route(self, parent_id: ClientOrderId) -> str:
        """The route of an order placed with `venue: "auto"` and its children's terms (JSON),
        claimed once per parent clientOrderId (`services.gateway.routed`)."""
        return f"{self.prefix}:route:{parent_id}"

    def exec_seen(self, exec_id: ExecId) -> str:
        """A fill (or funding) positions has folded: each execId is folded once."""
        return self.idempotency("exec", exec_id)

    def order_times(self, symbol: Symbol) -> str:
        """Sorted set of the orders and amends risk admitted on `symbol` in the last second,
        by time (ms): the order-rate check."""
        return f"{self.prefix}:risk:order-times:{symbol}"

    @property
    def limits(self) -> str:
        """Hash of the account's overrides of the desk's limits
        (`libs.common.stores.account_limits`)."""
        return f"{self.prefix}:risk:limits"

    def symbol_limits(self, symbol: Symbol) -> str:
        """Hash of the account's overrides for `symbol`."""
        return f"{self.prefix}:risk:limits:{symbol}"

    @property
    def limit_symbols(self) -> str:
        """Set of the symbols that have a `symbol_limits` hash."""
        return f"{self.prefix}:risk:limit-symbols"

    @property
    def freeze(self) -> str:
        """Hash of the account's own trading state, as `FREEZE_KEY` is the desk's: an account
        trades only as far as both allow (`domain.risk_checks.combined_state`)."""
        return f"{self.prefix}:risk:freeze"

    def pnl_baseline(self, day: str) -> str:
        """The account's net P&L when day `day` (UTC, YYYYMMDD) was first observed: P&L
        today is measured from it."""
        return f"{self.prefix}:risk:pnl-baseline:{day}"


@lru_cache(maxsize=1024)
def keys_of(account: AccountId) -> AccountKeys:
    """The keys of `account` (one shared instance per account)."""
    return AccountKeys(account)


def idempotency_key(namespace: str, key: str) -> str:
    """Key that records that `key` was handled in `namespace` (set with NX and a TTL)."""
    return f"{KEY_PREFIX}:idem:{namespace}:{key}"


def event_seen_key(group: Group, event_id: EventId) -> str:
    """Idempotency key of `event_id` for a group: each group handles an event once."""
    return idempotency_key(f"event:{group}", event_id)


def lease_key(name: str) -> str:
    """Key of a lease (SET NX PX) held by one instance, e.g. the reconciliation leader."""
    return f"{KEY_PREFIX}:lease:{name}"


def rate_limit_key(bucket: str) -> str:
    """The rolling window (sorted set) of a rate limit shared by every instance, e.g. a venue
    quota; `{bucket}` is its hash tag, shared with `rate_limit_block_key`."""
    return f"{KEY_PREFIX}:ratelimit:{{{bucket}}}"


def rate_limit_block_key(bucket: str) -> str:
    """The wall ms a bucket is closed until (after the venue said so), next to its window."""
    return f"{rate_limit_key(bucket)}:blocked"


RATE_LIMIT_GROUPS = ("trade", "batch", "cancel_all", "query")
"""The venue's quota groups, each its own rolling second: single create / amend / cancel
share `trade`; the batch calls share `batch`, one unit per order."""


def rate_limit_bucket(category: Category, group: str) -> str:
    """Rate-limit bucket of a venue endpoint group, e.g. `bybit:linear:trade`."""
    return f"bybit:{category.value}:{group}"


def rate_limit_buckets() -> list[str]:
    """Every bucket the router paces the venue with: each category's every group."""
    return [rate_limit_bucket(c, g) for c in Category for g in RATE_LIMIT_GROUPS]


# -- Marks and risk bookkeeping (added with the risk and positions services) -----------------

MARKS_TAG = f"{KEY_PREFIX}:{{marks}}"
"""The prefix of the marks (`{marks}`: one slot, so that a mark, its history and the set of
symbols with a mark are written in one script)."""
MARK_SYMBOLS_KEY = f"{MARKS_TAG}:symbols"
"""Set of symbols that have a mark (`mark_key`)."""
EDGE_TAG = f"{KEY_PREFIX}:{{edge}}"
"""The prefix of the edge and markout bookkeeping (`{edge}`: one slot, so that a fill is
added to its window and its markouts scheduled in one script)."""
EDGE_KEY = f"{EDGE_TAG}:risk:edge"
"""Hash of the latest edge per symbol: `{symbol}|reported`, `{symbol}|measured`, ... (bps)."""


BOOKS_TAG = f"{KEY_PREFIX}:{{books}}"
"""The prefix of each venue's book tops for the smart order router (`book_key`)."""


def book_key(venue: str, symbol: Symbol) -> str:
    """Hash of the top of `symbol`'s book at `venue` with the desk's fees and the
    instrument's rules there (`libs.common.route_books`)."""
    return f"{BOOKS_TAG}:book:{venue}:{symbol}"


def mark_key(symbol: Symbol) -> str:
    """Hash of the latest mark of `symbol`: {mark, bid, ask, mid, ts_ns, seen_ns}."""
    return f"{MARKS_TAG}:mark:{symbol}"


def mark_history_key(symbol: Symbol) -> str:
    """Sorted set of the recent marks of `symbol` by time, for "the mid at fill time"."""
    return f"{MARKS_TAG}:mark-history:{symbol}"


def edge_fills_key(symbol: Symbol) -> str:
    """List of the last measured fills of `symbol` (`weight|edge_bps`), newest first."""
    return f"{EDGE_TAG}:risk:edge-fills:{symbol}"


def edge_seen_key(exec_id: ExecId) -> str:
    """That the fill `exec_id` was added to its edge window (set with NX and a TTL)."""
    return f"{EDGE_TAG}:idem:risk:edge:{exec_id}"


MARKOUTS_PENDING_KEY = f"{EDGE_TAG}:risk:markouts:pending"
"""Sorted set of the markouts not settled yet, one member per fill and horizon, by the ms
they are due (`services.risk.markouts`)."""
MARKOUTS_UNJUDGED_KEY = f"{EDGE_TAG}:risk:markouts:unjudged"
"""Hash: symbol -> markouts at the freeze horizon counted in its window and not yet judged
for a freeze (`services.risk.markouts`), so that a settler stopped between the two steps
leaves the judging to the next."""


def markout_bucket_key(symbol: Symbol, horizon_ms: int, bucket: int) -> str:
    """Hash of the markouts of `symbol` at one horizon due in one time bucket: {w, wm, n}
    (notional, notional x markout bps, count); it expires once out of the window."""
    return f"{EDGE_TAG}:risk:markout:{symbol}:{horizon_ms}:{bucket}"


def freeze_flat_key(generation: str, epoch: int) -> str:
    """Hash of the router instances that confirmed the venue flat for one freeze: instance ->
    the ns they confirmed it (kept a day)."""
    return f"{KEY_PREFIX}:freeze:flat:{generation}:{epoch}"


CIRCUITS_TAG = f"{KEY_PREFIX}:{{circuits}}"
"""The prefix of the routers' circuits (`{circuits}`: one slot, so that a router writes its
circuit and the registry of circuits in one MULTI on a Redis Cluster too)."""


def venue_circuit_key(instance: str) -> str:
    """Hash of a router lane's venue circuit breaker: {state, failures, reason, updated_ns,
    account, venue, latency_ms}."""
    return f"{CIRCUITS_TAG}:router:circuit:{instance}"


VENUE_CIRCUITS_KEY = f"{CIRCUITS_TAG}:router:circuits"
"""Sorted set of the router instances that wrote a `venue_circuit_key`, by the ms of their
latest write: readers list the circuits without scanning the keyspace."""


VENUE_HEADROOM_KEY = f"{KEY_PREFIX}:router:headroom"
"""Hash of the venue's rate-limit headroom per endpoint, from the `X-Bapi-Limit*` headers of
its latest answer (`services.router.headroom`): `{path}` -> JSON {group, limit, remaining,
reset_ms, updated_ms}. Written by every router instance (the venue counts per account, so
the newest answer is the truth) and dropped `VENUE_HEADROOM_TTL_MS` after the last write.
Another account's or venue's: `venue_headroom_key`."""


def venue_headroom_key(account: AccountId, venue: VenueId) -> str:
    """`VENUE_HEADROOM_KEY` of an account at a venue: as it is for `default` at Bybit,
    `:{account}` and then `:{venue}` appended for another."""
    return venue_scoped(scoped_name(VENUE_HEADROOM_KEY, account), venue)


VENUE_HEADROOM_TTL_MS = 60_000
"""How long the headroom is kept after its last write; an older answer reads as no data."""
ORDER_DRIFT_KEY = f"{KEY_PREFIX}:router:drift"
"""Hash of the router's latest order reconciliation per symbol (`services.router.reconcile`):
`{symbol}` -> JSON {open_orders, executions, checked_ms}, replaced by each pass."""
POSITION_DRIFT_KEY = f"{KEY_PREFIX}:positions:drift"
"""Hash of the latest position reconciliation per symbol (`services.positions.reconcile`):
`{symbol}` -> JSON {engine_qty, venue_qty, drift, checked_ms}, replaced by each pass."""


def exec_cursor_key(category: str) -> str:
    """The venue execTime (ms) up to which the private-stream holder has published fills."""
    return f"{KEY_PREFIX}:router:exec_cursor:{category}"


# -- Access control (added with the gateway's API keys) --------------------------------------

API_KEYS_TAG = f"{KEY_PREFIX}:{{apikeys}}"
"""The prefix of the gateway's API keys (`{apikeys}`: one slot, so that a key's record and
the set of ids are written in one script)."""
API_KEYS_KEY = f"{API_KEYS_TAG}:ids"
"""Set of the ids of every API key record (`api_key_key`), revoked ones included."""


def api_key_key(key_id: str) -> str:
    """Hash of one gateway API key: {hash, role, name, created_ns, revoked_ns}; never the key."""
    return f"{API_KEYS_TAG}:key:{key_id}"


# -- Audit archive (added with services.archive) ---------------------------------------------

ARCHIVED_ORDERS_KEY = f"{KEY_PREFIX}:audit:orders"
"""Sorted set of the client order ids `mmx audit replay` rebuilt, by the ms of their first
archived event (`archived_order_key`)."""


def archived_order_key(client_order_id: ClientOrderId) -> str:
    """The history of one order as `mmx audit replay` rebuilt it from the archive (JSON)."""
    return f"{KEY_PREFIX}:audit:order:{client_order_id}"
