"""The one catalogue of mmx's Prometheus metrics, and how a service exposes them.

Every metric of every service is declared here and nowhere else. The alert rules in
`deploy/prometheus/` and the dashboards in `deploy/grafana/` use only these names; tests hold
them to it. `docs/observability.md` explains each metric and alert for the operator.

A process builds one `EngineMetrics` on its own `CollectorRegistry` and serves
`render_metrics(registry)` at `/metrics`. Nothing is registered at import time and the global
default registry is never used, so tests and several services in one process cannot collide.

Counting each event once with N instances of a service. Prometheus scrapes every instance and
dashboards `sum()` across them, so:

- A counter is incremented by the instance whose atomic Redis transition recorded the event
  (the order moved to Submitted, Filled, Rejected...; the freeze key moved to FROZEN). An
  instance handling a redelivered message finds the transition already done and counts nothing.
  An event that writes nothing is counted by the one instance it happened to (a request the
  gateway refused with 429, `gateway_requests_shed_total`).
- A gauge of shared state (positions, trading state, utilisation, edge, stream lag, dead
  letters) is set by every instance of its service from a periodic read of Redis, never from
  the messages that instance happened to handle: the instances agree, and queries take
  `max by (...)`, never `sum`.
- A gauge of one instance's own state (circuit breaker, rate-limit headroom it saw, last poll)
  is per instance: queries keep or aggregate the `instance` label as the alert needs.

Labels are bounded vocabularies (see the enums below): never an order id, a price or a free-text
message, each of which would create a new time series per value.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator, Mapping
from dataclasses import dataclass
from decimal import Decimal
from enum import StrEnum

from prometheus_client import (
    CONTENT_TYPE_LATEST,
    CollectorRegistry,
    Counter,
    Gauge,
    Histogram,
    generate_latest,
)
from prometheus_client.metrics_core import Metric

from libs.common.domain.enums import Side
from libs.common.domain.risk_checks import FreezeClass, RiskLimits, TradingState

LATENCY_BUCKETS: tuple[float, ...] = (0.001, 0.005, 0.01, 0.05, 0.1, 0.5, 1.0, 5.0, 10.0)
"""Seconds; the prototype's buckets, shared by every latency histogram."""
STAGE_BUCKETS: tuple[float, ...] = (
    0.000_5,
    0.001,
    0.002,
    0.003,
    0.005,
    0.01,
    0.015,
    0.025,
    0.05,
    0.1,
    0.25,
    0.5,
    1.0,
    5.0,
    10.0,
)
"""Seconds; finer than LATENCY_BUCKETS at the low end, where one stage of a healthy order
lives (a 3 ms p50 target must be readable from the histogram)."""
RETRY_BUCKETS: tuple[float, ...] = (0.0, 1.0, 2.0, 3.0, 5.0, 10.0)
"""Retries per order: 0 is the normal case; p95 above 2 is an alert (HighOrderRetries)."""

ALL_SYMBOLS = "ALL"
"""The `symbol` label value of a desk-wide figure (e.g. the `max_total_notional` limit)."""


# -- Label vocabularies ----------------------------------------------------------------------


class FreezeReason(StrEnum):
    """`freeze_triggered_total{reason}`: what froze trading. Alert rules match these values."""

    EDGE_COLLAPSE = "edge_collapse"
    """Edge fell below `edge_freeze_threshold_bps`."""
    MANUAL = "manual"
    """An operator froze trading (`mmx freeze`, POST /v1/risk/freeze)."""
    DAILY_LOSS = "daily_loss"
    """Today's P&L fell to the daily loss limit."""
    VENUE_CIRCUIT = "venue_circuit"
    """The router's venue circuit breaker opened."""
    AUTH = "auth"
    """The venue refused the credentials even after a refresh (10003 / 10004)."""
    MARKOUT_EDGE = "markout_edge"
    """The markout edge at `markout_freeze_horizon_s` fell below `markout_freeze_threshold_bps`."""
    DAILY_LOSS_SOFT = "daily_loss_soft"
    """Today's P&L fell to `daily_loss_soft_limit`: trading went REDUCING, not FROZEN."""
    POSITIONS_LAG = "positions_lag"
    """A reported fill waited `freeze_positions_lag_s` for positions (`services.risk.causes`)."""
    STALE_MARKS = "stale_marks"
    """A symbol with a position had no fresh mark for `freeze_stale_marks_s`."""
    REDIS_FAILOVER = "redis_failover"
    """Redis lost its data: the freeze key's generation changed, or the key is gone."""


FREEZE_CLASSES: Mapping[FreezeReason, FreezeClass] = {
    FreezeReason.EDGE_COLLAPSE: FreezeClass.HARD,
    FreezeReason.MARKOUT_EDGE: FreezeClass.HARD,
    FreezeReason.MANUAL: FreezeClass.HARD,
    FreezeReason.DAILY_LOSS: FreezeClass.HARD,
    FreezeReason.DAILY_LOSS_SOFT: FreezeClass.HARD,
    FreezeReason.AUTH: FreezeClass.HARD,
    FreezeReason.VENUE_CIRCUIT: FreezeClass.TRANSIENT,
    FreezeReason.POSITIONS_LAG: FreezeClass.TRANSIENT,
    FreezeReason.STALE_MARKS: FreezeClass.TRANSIENT,
    FreezeReason.REDIS_FAILOVER: FreezeClass.TRANSIENT,
}
"""Every freeze reason's class: a TRANSIENT freeze recovers by itself once its cause has
cleared (`libs.common.domain.recovery`); a HARD one waits for an operator."""


def freeze_class(code: str) -> FreezeClass:
    """The class of the reason whose value is `code`; HARD for anything unknown (a legacy
    freeze without a code, a reason this version does not know)."""
    try:
        return FREEZE_CLASSES[FreezeReason(code)]
    except ValueError:
        return FreezeClass.HARD


class RecoveryOutcome(StrEnum):
    """`auto_recoveries_total{outcome}`: one step of an auto-recovery (`services.risk.recovery`)."""

    REDUCING = "reducing"
    """The cause cleared: FROZEN -> REDUCING, the reduce-only warm-up begins."""
    RESUMED = "resumed"
    """The warm-up is over: REDUCING -> ACTIVE."""
    CAPPED = "capped"
    """The cause cleared but the hour's recoveries are used up: stays FROZEN for a person."""


class DenyReason(StrEnum):
    """`orders_denied_total{reason}`: which pre-trade check refused the order."""

    TRADING_STATE = "trading_state"
    NO_MARK = "no_mark"
    PRICE_BAND = "price_band"
    ORDER_NOTIONAL = "order_notional"
    OPEN_ORDERS = "open_orders"
    ORDER_RATE = "order_rate"
    INVENTORY = "inventory"
    TOTAL_NOTIONAL = "total_notional"
    DAILY_LOSS = "daily_loss"
    POSITIONS_LAG = "positions_lag"
    VENUE_INVENTORY = "venue_inventory"


class EdgeSource(StrEnum):
    """`edge_bps{source}`: who says what the edge is."""

    REPORTED = "reported"
    """The strategy's own estimate (ReportEdge)."""
    MEASURED = "measured"
    """Risk's measure from fills against the mid at fill time (EdgeMeasured)."""
    MARKOUT_1S = "markout_1s"
    """Risk's markout: fills against the mid 1 s after them (`services.risk.markouts`)."""
    MARKOUT_5S = "markout_5s"
    """... 5 s after them (the default freeze horizon)."""
    MARKOUT_30S = "markout_30s"
    """... 30 s after them. The horizons are `MMX_RISK_MARKOUT_HORIZONS_S`: others are
    labelled alike (`markout_source`), e.g. `markout_0.5s`."""


def markout_source(horizon_s: Decimal) -> str:
    """`edge_bps{source}` of the markout at `horizon_s`: `markout_5s`, `markout_0.5s`."""
    return f"markout_{horizon_s.normalize():f}s"


class CircuitState(StrEnum):
    """`venue_circuit_state{state}`: the router's circuit breaker in front of the venue."""

    CLOSED = "closed"
    HALF_OPEN = "half_open"
    OPEN = "open"


class DriftKind(StrEnum):
    """`reconciliation_drift{kind}`: what the last reconciliation found different at the venue."""

    POSITION_QTY = "position_qty"
    """|venue qty - local qty| of a symbol's position, in base units."""
    OPEN_ORDERS = "open_orders"
    """Orders open on one side only (venue or local), counted."""
    EXECUTIONS = "executions"
    """Venue executions missing locally, counted."""


class Stage(StrEnum):
    """`order_stage_seconds{stage}`: one leg of an order's way, each measured where it ends."""

    GATEWAY_TO_RISK = "gateway_to_risk"
    """Gateway accepted the intent (its record's created time) -> risk decided it."""
    RISK_TO_SEND = "risk_to_send"
    """Risk admitted it (the approval's time) -> the router starts the venue call."""
    SEND_TO_ACK = "send_to_ack"
    """The router starts the venue call -> the venue's answer (retries included)."""
    FILL_TO_POSITION = "fill_to_position"
    """The router published the fill -> positions folded it into the position."""


class FillRefusal(StrEnum):
    """`fills_refused_total{reason}`: why the router did not publish a venue execution."""

    TOO_OLD = "too_old"
    """Executed before `fill_replay_horizon_s`: a replay could not be told apart."""
    OVERFILL = "overfill"
    """More than its order's qty (a duplicate under a new execId, or a wrong order)."""


class ExposureDriftKind(StrEnum):
    """`exposure_drift_total{kind}`: what the exposure audit found wrong and repaired."""

    ORDER = "order"
    """An order's entry differed from its record."""
    FILL = "fill"
    """A fill positions had folded was still counted as unfolded."""
    TOTAL = "total"
    """A total was not the sum of its entries."""


class ShedRoute(StrEnum):
    """`gateway_requests_shed_total{route}`: the gateway route whose request was refused with
    429 by its in-flight bound (`services/gateway/admission.py`). Cancels are never shed."""

    PLACE = "place"
    """POST /v1/orders: one order."""
    PLACE_BATCH = "place_batch"
    """POST /v1/orders/batch: a batch, refused whole (one request, whatever its size)."""
    AMEND = "amend"
    """PATCH /v1/orders/{clientOrderId}."""


class WsChannel(StrEnum):
    """`venue_ws_reconnects_total{channel}`: which venue WebSocket reconnected."""

    PRIVATE = "private"
    PUBLIC = "public"


class ArchiveWrite(StrEnum):
    """`audit_archive_writes_total{outcome}`: how a write of an archive object went."""

    WRITTEN = "written"
    """The object and its manifest were stored (and sent to CloudWatch Logs, if set)."""
    FAILED = "failed"
    """The attempt failed; its entries stay pending and are written on a later attempt."""


REJECT_REASON_VENUE = "venue"
"""`orders_rejected_total{reason}` of a venue rejection that gave no reason of its own; the
router exposes it at 0 for every symbol at start-up, so rejection rates are 0, not empty."""
RET_CODE_TIMEOUT = "timeout"
"""`venue_request_seconds{ret_code}` of a request that got no answer in time."""
RET_CODE_CONNECTION_ERROR = "connection_error"
"""`venue_request_seconds{ret_code}` of a request that could not reach the venue."""


def http_ret_code(status: int) -> str:
    """`ret_code` label of an HTTP answer without a Bybit envelope, e.g. `http_503`."""
    return f"http_{status}"


# -- The catalogue ---------------------------------------------------------------------------


class Kind(StrEnum):
    COUNTER = "counter"
    GAUGE = "gauge"
    HISTOGRAM = "histogram"


@dataclass(frozen=True, slots=True)
class MetricSpec:
    """One metric: its exposed name, type, labels, buckets and who emits it."""

    name: str
    """As Prometheus sees it: counters end in `_total`, histograms add `_bucket/_sum/_count`."""
    kind: Kind
    labels: tuple[str, ...]
    help: str
    emitter: str
    """Which service and which of its instances change it (see the module docstring)."""
    buckets: tuple[float, ...] = ()

    @property
    def sample_names(self) -> frozenset[str]:
        """Every series name this metric exposes (what a PromQL expression can select)."""
        if self.kind is Kind.HISTOGRAM:
            return frozenset(f"{self.name}{s}" for s in ("_bucket", "_sum", "_count"))
        return frozenset({self.name})


_ORDER = ("account", "venue", "symbol", "side")

ORDERS_PLACED = MetricSpec(
    "orders_placed_total",
    Kind.COUNTER,
    _ORDER,
    "Orders sent to the venue (accepted or rejected there), once per order",
    "router: the instance that moved the order to Submitted",
)
ORDERS_FILLED = MetricSpec(
    "orders_filled_total",
    Kind.COUNTER,
    _ORDER,
    "Orders fully filled",
    "router: the instance that moved the order to Filled (the private-stream lease holder)",
)
ORDERS_PARTIALLY_FILLED = MetricSpec(
    "orders_partially_filled_total",
    Kind.COUNTER,
    _ORDER,
    "Orders that became partially filled, once per order",
    "router: the instance that moved the order to PartiallyFilled (private-stream lease holder)",
)
ORDERS_REJECTED = MetricSpec(
    "orders_rejected_total",
    Kind.COUNTER,
    (*_ORDER, "reason"),
    "Orders the venue rejected; reason is the retCode or the venue's rejectReason",
    "router: the instance that moved the order to Rejected",
)
ORDERS_CANCELED = MetricSpec(
    "orders_canceled_total",
    Kind.COUNTER,
    _ORDER,
    "Orders cancelled at the venue, whoever asked",
    "router: the instance that moved the order to Canceled",
)
ORDERS_DENIED = MetricSpec(
    "orders_denied_total",
    Kind.COUNTER,
    (*_ORDER, "reason"),
    "Orders refused by the pre-trade risk checks (never sent); reason is the check",
    "risk: the instance that handled the command and published OrderDenied",
)
FREEZE_TRIGGERED = MetricSpec(
    "freeze_triggered_total",
    Kind.COUNTER,
    ("reason",),
    "Transitions of trading into FROZEN (into REDUCING for reason daily_loss_soft)",
    "risk: the instance that won the freeze transition",
)
AUTO_RECOVERIES = MetricSpec(
    "auto_recoveries_total",
    Kind.COUNTER,
    ("reason", "outcome"),
    "Steps of the auto-recovery from a transient freeze: reducing (cause cleared, warm-up "
    "begins), resumed (ACTIVE again), capped (the hour's recoveries used up: a person must act)",
    "risk: the instance holding the lease risk-auto-recovery, once per step",
)
ORDER_LATENCY = MetricSpec(
    "order_latency_seconds",
    Kind.HISTOGRAM,
    ("account", "venue", "symbol"),
    "Seconds from the gateway accepting an order intent to the venue acknowledging it",
    "router: the instance that placed the order, once per acknowledged order",
    LATENCY_BUCKETS,
)
ORDER_STAGE = MetricSpec(
    "order_stage_seconds",
    Kind.HISTOGRAM,
    ("stage",),
    "Seconds an order spends in one stage of its way (see the stage label's values)",
    "the service where the stage ends: risk (gateway_to_risk), router (risk_to_send, "
    "send_to_ack), positions (fill_to_position); once per order or fill",
    STAGE_BUCKETS,
)
EXPOSURE_DRIFT = MetricSpec(
    "exposure_drift_total",
    Kind.COUNTER,
    ("kind",),
    "Differences the exposure audit found between the ledger and the records, repaired",
    "risk: the instance holding the audit lease, once per repair",
)
FILLS_REFUSED = MetricSpec(
    "fills_refused_total",
    Kind.COUNTER,
    ("account", "venue", "symbol", "reason"),
    "Venue executions not published: too_old (older than fill_replay_horizon_s, a replay "
    "could not be told apart; the position reconciliation reports the drift) or "
    "overfill (more than its order's qty)",
    "router: the instance that read the execution (private stream or reconciliation)",
)
GATEWAY_REQUESTS_SHED = MetricSpec(
    "gateway_requests_shed_total",
    Kind.COUNTER,
    ("route",),
    "Order requests refused with 429 by the gateway's in-flight bound, before anything was written",
    "gateway: the instance that refused the request",
)
FILL_LATENCY = MetricSpec(
    "fill_latency_seconds",
    Kind.HISTOGRAM,
    ("account", "venue", "symbol"),
    "Seconds from sending an order to each of its fills (venue execTime)",
    "router: the private-stream lease holder, once per execId",
    LATENCY_BUCKETS,
)
ORDER_RETRY_COUNT = MetricSpec(
    "order_retry_count",
    Kind.HISTOGRAM,
    ("account", "venue", "symbol"),
    "Retries needed to place an order (0 when the first send was answered)",
    "router: the instance that placed the order, once per order",
    RETRY_BUCKETS,
)
POSITION_QTY = MetricSpec(
    "position_qty",
    Kind.GAUGE,
    ("account", "venue", "symbol"),
    "Signed position in base units",
    "positions: every instance, from Redis; query with max by (account, venue, symbol)",
)
POSITION_PNL = MetricSpec(
    "position_pnl",
    Kind.GAUGE,
    ("account", "venue", "symbol"),
    "Position P&L in quote currency: realized + unrealized - fees - funding",
    "positions: every instance, from Redis; query with max by (account, venue, symbol)",
)
RISK_UTILISATION = MetricSpec(
    "risk_utilisation_ratio",
    Kind.GAUGE,
    ("account", "limit", "symbol"),
    "Used fraction of a risk limit (1 = at the limit); symbol ALL for desk-wide limits",
    "risk: every instance, from Redis; query with max by (account, limit, symbol)",
)
RISK_LIMIT = MetricSpec(
    "risk_limit",
    Kind.GAUGE,
    ("account", "limit", "symbol"),
    "A scalable risk limit in force: as configured, times its scaling factor (USD, count or "
    "bps); symbol ALL for desk-wide limits",
    "risk: every instance, from Redis; query with max by (account, limit, symbol)",
)
RISK_LIMIT_FACTOR = MetricSpec(
    "risk_limit_factor",
    Kind.GAUGE,
    ("account", "limit", "symbol"),
    "Factor the scaling rule puts on a risk limit now (1 = as configured): the product of "
    "the open schedule windows' factors and, per symbol, the volatility factor",
    "risk: every instance, from Redis; query with max by (account, limit, symbol)",
)
REALISED_VOLATILITY = MetricSpec(
    "realised_volatility_bps",
    Kind.GAUGE,
    ("symbol",),
    "Realised volatility of the symbol's mid over one minute, in bps (exponentially weighted, "
    "the scaling rule's half-life); present while the rule scales with volatility",
    "risk: every instance, from Redis; query with max by (symbol)",
)
TRADING_STATE = MetricSpec(
    "trading_state",
    Kind.GAUGE,
    ("state",),
    "1 for the current trading state (ACTIVE, REDUCING, FROZEN), 0 for the others",
    "risk: every instance, from the freeze key; query with max by (state)",
)
EDGE = MetricSpec(
    "edge_bps",
    Kind.GAUGE,
    ("symbol", "source"),
    "Edge in bps: reported by the strategy, measured from fills against the mid at fill "
    "time, or their markout (markout_<h>s: against the mid h seconds later, notional-weighted "
    "over a window)",
    "risk: every instance, from Redis; query with max by (symbol, source)",
)
EDGE_THRESHOLD = MetricSpec(
    "edge_threshold_bps",
    Kind.GAUGE,
    ("symbol",),
    "Edge below which trading freezes (edge_freeze_threshold_bps)",
    "risk: every instance, from the live limits; query with max by (symbol)",
)
STREAM_LAG = MetricSpec(
    "stream_lag",
    Kind.GAUGE,
    ("stream", "group"),
    "Entries of the stream not yet delivered to the group (XINFO GROUPS lag; when Redis "
    "cannot tell, those after its last delivered entry, counted up to 1001)",
    "each service for the groups it reads, from XINFO GROUPS; query with max by (stream, group)",
)
STREAM_PENDING = MetricSpec(
    "stream_pending",
    Kind.GAUGE,
    ("stream", "group"),
    "Entries delivered to the group but not acknowledged (XINFO GROUPS pending)",
    "each service for the groups it reads, from XINFO GROUPS; query with max by (stream, group)",
)
STREAM_LENGTH = MetricSpec(
    "stream_length",
    Kind.GAUGE,
    ("stream",),
    "Entries in a stream consumer groups read (XLEN): trimmed only below what every group "
    "acknowledged, so it grows while a group is behind",
    "each service for the streams it reads; query with max by (stream)",
)
DEAD_LETTER_LENGTH = MetricSpec(
    "dead_letter_length",
    Kind.GAUGE,
    ("stream",),
    "Entries in the dead-letter stream of <stream> (XLEN of <stream>.dlq, or {<stream>}.dlq "
    "for a stream name without a hash tag)",
    "each service for the streams it reads; query with max by (stream)",
)
SUBSCRIBER_LAST_POLL = MetricSpec(
    "subscriber_last_poll_timestamp_seconds",
    Kind.GAUGE,
    ("stream", "group"),
    "Unix time of the last pass of this instance's consumer loop (readiness)",
    "each instance for its own consumers, after every read (even an empty one)",
)
VENUE_REQUEST = MetricSpec(
    "venue_request_seconds",
    Kind.HISTOGRAM,
    ("venue", "endpoint", "ret_code"),
    "Seconds per venue REST request, by path and retCode (or http_<status>, timeout, ...)",
    "router (and any service calling the venue REST API): the instance that sent it",
    LATENCY_BUCKETS,
)
VENUE_RATE_LIMIT_REMAINING = MetricSpec(
    "venue_rate_limit_remaining",
    Kind.GAUGE,
    ("venue", "endpoint"),
    "Requests left in the venue's current rate-limit window (Bybit X-Bapi-Limit-Status; "
    "Binance: the tightest X-MBX-USED-WEIGHT / X-MBX-ORDER-COUNT window left)",
    "the instance that got the answer; the quota is the account's: query with min by "
    "(venue, endpoint)",
)
VENUE_CIRCUIT_STATE = MetricSpec(
    "venue_circuit_state",
    Kind.GAUGE,
    ("venue", "state"),
    "1 for the circuit breaker's current state (closed, half_open, open), 0 for the others",
    "router: each instance for its breaker at each venue (the last lane to change it, when "
    "the instance runs several accounts)",
)
RECONCILIATION_DRIFT = MetricSpec(
    "reconciliation_drift",
    Kind.GAUGE,
    ("account", "venue", "kind", "symbol"),
    "What the last reconciliation found different at the venue (0 = none)",
    "the reconciliation lease holder (router: orders and executions; positions: positions)",
)
VENUE_WS_RECONNECTS = MetricSpec(
    "venue_ws_reconnects_total",
    Kind.COUNTER,
    ("venue", "channel"),
    "Reconnections of a venue WebSocket",
    "the instance holding the connection",
)
AUDIT_ARCHIVE_BACKLOG = MetricSpec(
    "audit_archive_backlog",
    Kind.GAUGE,
    ("stream",),
    "Entries of the stream not archived yet: not yet read by the archive group, or read and "
    "not yet written off the box (XINFO GROUPS lag + pending of group archive)",
    "archive: every instance, from XINFO GROUPS; query with max by (stream)",
)
AUDIT_ARCHIVE_OLDEST = MetricSpec(
    "audit_archive_oldest_unarchived_seconds",
    Kind.GAUGE,
    ("stream",),
    "Age of the oldest entry of the stream not archived yet (0 when every entry is)",
    "archive: every instance, from the archive group's pending and unread entries; query "
    "with max by (stream)",
)
AUDIT_ARCHIVE_WRITES = MetricSpec(
    "audit_archive_writes_total",
    Kind.COUNTER,
    ("outcome",),
    "Attempts to write an archive object: written, or failed (retried; nothing is acked)",
    "archive: the instance that made the attempt",
)
AUDIT_ARCHIVE_EVENTS = MetricSpec(
    "audit_archive_events_total",
    Kind.COUNTER,
    ("stream",),
    "Entries written to the archive and acknowledged (at least once: an entry written again "
    "after a crash counts again)",
    "archive: the instance that wrote them",
)

CATALOGUE: tuple[MetricSpec, ...] = (
    ORDERS_PLACED,
    ORDERS_FILLED,
    ORDERS_PARTIALLY_FILLED,
    ORDERS_REJECTED,
    ORDERS_CANCELED,
    ORDERS_DENIED,
    FREEZE_TRIGGERED,
    AUTO_RECOVERIES,
    ORDER_LATENCY,
    ORDER_STAGE,
    EXPOSURE_DRIFT,
    FILLS_REFUSED,
    GATEWAY_REQUESTS_SHED,
    FILL_LATENCY,
    ORDER_RETRY_COUNT,
    POSITION_QTY,
    POSITION_PNL,
    RISK_UTILISATION,
    RISK_LIMIT,
    RISK_LIMIT_FACTOR,
    REALISED_VOLATILITY,
    TRADING_STATE,
    EDGE,
    EDGE_THRESHOLD,
    STREAM_LAG,
    STREAM_PENDING,
    STREAM_LENGTH,
    DEAD_LETTER_LENGTH,
    SUBSCRIBER_LAST_POLL,
    VENUE_REQUEST,
    VENUE_RATE_LIMIT_REMAINING,
    VENUE_CIRCUIT_STATE,
    RECONCILIATION_DRIFT,
    VENUE_WS_RECONNECTS,
    AUDIT_ARCHIVE_BACKLOG,
    AUDIT_ARCHIVE_OLDEST,
    AUDIT_ARCHIVE_WRITES,
    AUDIT_ARCHIVE_EVENTS,
)

RISK_LIMIT_NAMES: frozenset[str] = frozenset(RiskLimits.model_fields)
"""Values of `risk_utilisation_ratio{limit}`: the fields of `RiskLimits`."""


def _counter(spec: MetricSpec, registry: CollectorRegistry) -> Counter:
    # prometheus_client appends `_total` itself; passing the bare name makes that explicit.
    return Counter(spec.name.removesuffix("_total"), spec.help, spec.labels, registry=registry)


def _gauge(spec: MetricSpec, registry: CollectorRegistry) -> Gauge:
    return Gauge(spec.name, spec.help, spec.labels, registry=registry)


def _histogram(spec: MetricSpec, registry: CollectorRegistry) -> Histogram:
    return Histogram(spec.name, spec.help, spec.labels, buckets=spec.buckets, registry=registry)


class EngineMetrics:
    """Every mmx metric, registered on `registry`. One per process; see `CATALOGUE` for who
    changes which.

    The attributes are plain prometheus_client metrics: `m.orders_placed.labels(symbol=s,
    side=side).inc()`, `with m.order_latency.labels(symbol=s).time(): ...`. The helpers below
    cover the metrics whose label values must stay consistent (one-hot states, limit names).
    """

    def __init__(self, registry: CollectorRegistry) -> None:
        self.registry = registry
        self.orders_placed = _counter(ORDERS_PLACED, registry)
        self.orders_filled = _counter(ORDERS_FILLED, registry)
        self.orders_partially_filled = _counter(ORDERS_PARTIALLY_FILLED, registry)
        self.orders_rejected = _counter(ORDERS_REJECTED, registry)
        self.orders_canceled = _counter(ORDERS_CANCELED, registry)
        self.orders_denied = _counter(ORDERS_DENIED, registry)
        self.freeze_triggered = _counter(FREEZE_TRIGGERED, registry)
        self.auto_recoveries = _counter(AUTO_RECOVERIES, registry)
        self.order_latency = _histogram(ORDER_LATENCY, registry)
        self.order_stage = _histogram(ORDER_STAGE, registry)
        self.exposure_drift = _counter(EXPOSURE_DRIFT, registry)
        self.fills_refused = _counter(FILLS_REFUSED, registry)
        self.gateway_requests_shed = _counter(GATEWAY_REQUESTS_SHED, registry)
        self.fill_latency = _histogram(FILL_LATENCY, registry)
        self.order_retry_count = _histogram(ORDER_RETRY_COUNT, registry)
        self.position_qty = _gauge(POSITION_QTY, registry)
        self.position_pnl = _gauge(POSITION_PNL, registry)
        self.risk_utilisation = _gauge(RISK_UTILISATION, registry)
        self.risk_limit = _gauge(RISK_LIMIT, registry)
        self.risk_limit_factor = _gauge(RISK_LIMIT_FACTOR, registry)
        self.realised_volatility = _gauge(REALISED_VOLATILITY, registry)
        self.trading_state = _gauge(TRADING_STATE, registry)
        self.edge = _gauge(EDGE, registry)
        self.edge_threshold = _gauge(EDGE_THRESHOLD, registry)
        self.stream_lag = _gauge(STREAM_LAG, registry)
        self.stream_pending = _gauge(STREAM_PENDING, registry)
        self.stream_length = _gauge(STREAM_LENGTH, registry)
        self.dead_letter_length = _gauge(DEAD_LETTER_LENGTH, registry)
        self.subscriber_last_poll = _gauge(SUBSCRIBER_LAST_POLL, registry)
        self.venue_request = _histogram(VENUE_REQUEST, registry)
        self.venue_rate_limit_remaining = _gauge(VENUE_RATE_LIMIT_REMAINING, registry)
        self.venue_circuit_state = _gauge(VENUE_CIRCUIT_STATE, registry)
        self.reconciliation_drift = _gauge(RECONCILIATION_DRIFT, registry)
        self.venue_ws_reconnects = _counter(VENUE_WS_RECONNECTS, registry)
        self.audit_archive_backlog = _gauge(AUDIT_ARCHIVE_BACKLOG, registry)
        self.audit_archive_oldest = _gauge(AUDIT_ARCHIVE_OLDEST, registry)
        self.audit_archive_writes = _counter(AUDIT_ARCHIVE_WRITES, registry)
        self.audit_archive_events = _counter(AUDIT_ARCHIVE_EVENTS, registry)
        # A counter series that first appears already at 1 shows no increase() to Prometheus,
        # so the first freeze would not alert: expose every reason at 0 from the start.
        for reason in FreezeReason:
            self.freeze_triggered.labels(reason=reason.value)
            if FREEZE_CLASSES[reason] is FreezeClass.TRANSIENT:  # likewise: a first recovery
                for outcome in RecoveryOutcome:
                    self.auto_recoveries.labels(reason=reason.value, outcome=outcome.value)
        for channel in WsChannel:  # likewise: the first reconnect must show as an increase
            self.venue_ws_reconnects.labels(venue="bybit", channel=channel.value)
        for kind in ExposureDriftKind:  # and the first drift
            self.exposure_drift.labels(kind=kind.value)
        for route in ShedRoute:  # and the first 429
            self.gateway_requests_shed.labels(route=route.value)

    def init_order_series(
        self,
        symbols: Iterable[str],
        accounts: Iterable[str],
        venues: Iterable[str] = ("bybit",),
    ) -> None:
        """Expose the order counters of `symbols` of each of `accounts` at each of `venues`
        at 0 (router, at start-up), for the same reason as the freeze counter: rates then see
        the first order of each symbol (and `orders_rejected_total` with reason `venue`, so
        rejection rates read 0, not nothing)."""
        lanes = [(a, v) for a in accounts for v in venues]
        for (account, venue), symbol in ((lane, s) for lane in lanes for s in symbols):
            for side in Side:
                labels = {"account": account, "venue": venue, "symbol": symbol, "side": side.value}
                for counter in (
                    self.orders_placed,
                    self.orders_filled,
                    self.orders_partially_filled,
                    self.orders_canceled,
                ):
                    counter.labels(**labels)
                self.orders_rejected.labels(**labels, reason=REJECT_REASON_VENUE)
            for channel in WsChannel:
                self.venue_ws_reconnects.labels(venue=venue, channel=channel.value)
            for refusal in FillRefusal:
                self.fills_refused.labels(
                    account=account, venue=venue, symbol=symbol, reason=refusal.value
                )

    def set_trading_state(self, state: TradingState) -> None:
        """Set `trading_state` to 1 for `state` and 0 for every other state."""
        for each in TradingState:
            self.trading_state.labels(state=each.value).set(1 if each is state else 0)

    def set_circuit_state(self, state: CircuitState, venue: str = "bybit") -> None:
        """Set `venue_circuit_state` of `venue` to 1 for `state` and 0 for every other state."""
        for each in CircuitState:
            gauge = self.venue_circuit_state.labels(venue=venue, state=each.value)
            gauge.set(1 if each is state else 0)

    def set_risk_utilisation(self, account: str, limit: str, symbol: str, ratio: float) -> None:
        """Set the used fraction of `account`'s `limit` (a `RiskLimits` field) on `symbol` or
        ALL."""
        if limit not in RISK_LIMIT_NAMES:
            raise ValueError(
                f"risk limit {limit!r} is unknown: expected one of {sorted(RISK_LIMIT_NAMES)}"
            )
        self.risk_utilisation.labels(account=account, limit=limit, symbol=symbol).set(ratio)


# -- Exposition ------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Exposition:
    """A `/metrics` answer: the body and its Content-Type header."""

    body: bytes
    content_type: str


class _WithoutCreated:
    """The registry without the `*_created` series prometheus_client adds to counters and
    histograms: nothing in mmx reads them and they double the series count.
    """

    def __init__(self, registry: CollectorRegistry) -> None:
        self._registry = registry

    def collect(self) -> Iterator[Metric]:
        for family in self._registry.collect():
            kept = Metric(family.name, family.documentation, family.type, family.unit)
            created = family.name + "_created"
            kept.samples = [s for s in family.samples if s.name != created]
            yield kept


def render_metrics(registry: CollectorRegistry) -> Exposition:
    """Render `registry` in the Prometheus text format, for a `/metrics` endpoint."""
    return Exposition(generate_latest(_WithoutCreated(registry)), CONTENT_TYPE_LATEST)
