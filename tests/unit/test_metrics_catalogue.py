"""The metrics catalogue is the contract: exposed names, labels and buckets are exactly these,
and the alert rules, dashboards and docs use nothing else.
"""

from __future__ import annotations

import json
import re
from enum import StrEnum
from pathlib import Path
from typing import Any

import pytest
import yaml
from prometheus_client import REGISTRY, CollectorRegistry
from prometheus_client.parser import text_string_to_metric_families

from libs.common import metrics
from libs.common.domain.risk_checks import FreezeClass, TradingState
from libs.common.metrics import (
    CATALOGUE,
    FREEZE_CLASSES,
    CircuitState,
    EngineMetrics,
    ExposureDriftKind,
    FillRefusal,
    FreezeReason,
    Kind,
    RecoveryOutcome,
    ShedRoute,
    WsChannel,
)

REPO = Path(__file__).resolve().parents[2]
ALERTS = REPO / "deploy" / "prometheus" / "alerts.yml"
PROMETHEUS_CONFIG = REPO / "deploy" / "prometheus" / "prometheus.yml"
RULE_TESTS = sorted((REPO / "deploy" / "prometheus" / "tests").glob("*.yml"))
DASHBOARDS = sorted((REPO / "deploy" / "grafana" / "dashboards").glob("*.json"))
PROVISIONING = REPO / "deploy" / "grafana" / "provisioning"
DOCS = REPO / "docs" / "observability.md"

LATENCY = (0.001, 0.005, 0.01, 0.05, 0.1, 0.5, 1.0, 5.0, 10.0)
RETRIES = (0.0, 1.0, 2.0, 3.0, 5.0, 10.0)
STAGES = (
    0.0005, 0.001, 0.002, 0.003, 0.005, 0.01, 0.015, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 5.0, 10.0
)  # fmt: skip
EXPECTED: dict[str, tuple[str, str, tuple[str, ...], tuple[float, ...]]] = {
    # exposed name: (EngineMetrics attribute, type, labels, histogram buckets)
    "orders_placed_total": ("orders_placed", "counter", ("account", "venue", "symbol", "side"), ()),
    "orders_filled_total": ("orders_filled", "counter", ("account", "venue", "symbol", "side"), ()),
    "orders_partially_filled_total": (
        "orders_partially_filled",
        "counter",
        ("account", "venue", "symbol", "side"),
        (),
    ),
    "orders_rejected_total": (
        "orders_rejected",
        "counter",
        ("account", "venue", "symbol", "side", "reason"),
        (),
    ),
    "orders_canceled_total": (
        "orders_canceled",
        "counter",
        ("account", "venue", "symbol", "side"),
        (),
    ),
    "orders_denied_total": (
        "orders_denied",
        "counter",
        ("account", "venue", "symbol", "side", "reason"),
        (),
    ),
    "freeze_triggered_total": ("freeze_triggered", "counter", ("reason",), ()),
    "auto_recoveries_total": ("auto_recoveries", "counter", ("reason", "outcome"), ()),
    "order_latency_seconds": (
        "order_latency",
        "histogram",
        (
            "account",
            "venue",
            "symbol",
        ),
        LATENCY,
    ),
    "order_stage_seconds": ("order_stage", "histogram", ("stage",), STAGES),
    "exposure_drift_total": ("exposure_drift", "counter", ("kind",), ()),
    "fills_refused_total": (
        "fills_refused",
        "counter",
        ("account", "venue", "symbol", "reason"),
        (),
    ),
    "gateway_requests_shed_total": ("gateway_requests_shed", "counter", ("route",), ()),
    "fill_latency_seconds": (
        "fill_latency",
        "histogram",
        (
            "account",
            "venue",
            "symbol",
        ),
        LATENCY,
    ),
    "order_retry_count": (
        "order_retry_count",
        "histogram",
        (
            "account",
            "venue",
            "symbol",
        ),
        RETRIES,
    ),
    "position_qty": (
        "position_qty",
        "gauge",
        (
            "account",
            "venue",
            "symbol",
        ),
        (),
    ),
    "position_pnl": (
        "position_pnl",
        "gauge",
        (
            "account",
            "venue",
            "symbol",
        ),
        (),
    ),
    "risk_utilisation_ratio": ("risk_utilisation", "gauge", ("account", "limit", "symbol"), ()),
    "risk_limit": ("risk_limit", "gauge", ("account", "limit", "symbol"), ()),
    "risk_limit_factor": ("risk_limit_factor", "gauge", ("account", "limit", "symbol"), ()),
    "realised_volatility_bps": ("realised_volatility", "gauge", ("symbol",), ()),
    "trading_state": ("trading_state", "gauge", ("state",), ()),
    "edge_bps": ("edge", "gauge", ("symbol", "source"), ()),
    "edge_threshold_bps": ("edge_threshold", "gauge", ("symbol",), ()),
    "stream_lag": ("stream_lag", "gauge", ("stream", "group"), ()),
    "stream_pending": ("stream_pending", "gauge", ("stream", "group"), ()),
    "stream_length": ("stream_length", "gauge", ("stream",), ()),
    "dead_letter_length": ("dead_letter_length", "gauge", ("stream",), ()),
    "subscriber_last_poll_timestamp_seconds": (
        "subscriber_last_poll",
        "gauge",
        ("stream", "group"),
        (),
    ),
    "venue_request_seconds": (
        "venue_request",
        "histogram",
        ("venue", "endpoint", "ret_code"),
        LATENCY,
    ),
    "venue_rate_limit_remaining": (
        "venue_rate_limit_remaining",
        "gauge",
        ("venue", "endpoint"),
        (),
    ),
    "venue_circuit_state": ("venue_circuit_state", "gauge", ("venue", "state"), ()),
    "reconciliation_drift": (
        "reconciliation_drift",
        "gauge",
        ("account", "venue", "kind", "symbol"),
        (),
    ),
    "venue_ws_reconnects_total": ("venue_ws_reconnects", "counter", ("venue", "channel"), ()),
    "audit_archive_backlog": ("audit_archive_backlog", "gauge", ("stream",), ()),
    "audit_archive_oldest_unarchived_seconds": ("audit_archive_oldest", "gauge", ("stream",), ()),
    "audit_archive_writes_total": ("audit_archive_writes", "counter", ("outcome",), ()),
    "audit_archive_events_total": ("audit_archive_events", "counter", ("stream",), ()),
}
PROMETHEUS_BUILTINS = frozenset({"up"})
"""Series Prometheus makes itself, which expressions may use besides the catalogue."""
SERVICES = {
    "gateway": 8080,
    "risk": 9102,
    "router": 9101,
    "positions": 9103,
    "archive": 9104,
    "venue-sim": 8090,
}


def _touch_every_metric(m: EngineMetrics) -> None:
    """Create one child of every metric, so that each exposes samples."""
    for attribute, kind, labels, _ in EXPECTED.values():
        child = getattr(m, attribute).labels(**dict.fromkeys(labels, "x"))
        if kind == "histogram":
            child.observe(0.02)
        elif kind == "counter":
            child.inc()
        else:
            child.set(1)


def _families(registry: CollectorRegistry) -> dict[str, Any]:
    text = metrics.render_metrics(registry).body.decode()
    return {f.name: f for f in text_string_to_metric_families(text)}


# -- The catalogue ---------------------------------------------------------------------------


def test_catalogue_declares_exactly_the_contract() -> None:
    declared = {s.name: (s.kind.value, s.labels, s.buckets) for s in CATALOGUE}

    assert declared == {name: contract[1:] for name, contract in EXPECTED.items()}


def test_exposition_has_exactly_the_catalogue_names_labels_and_buckets() -> None:
    registry = CollectorRegistry()
    m = EngineMetrics(registry)
    _touch_every_metric(m)

    text = metrics.render_metrics(registry).body.decode()
    families = list(text_string_to_metric_families(text))
    exposed = {f.name + "_total" if f.type == "counter" else f.name for f in families}
    assert exposed == set(EXPECTED)
    sample_names: set[str] = set()
    for family in families:
        for sample in family.samples:
            sample_names.add(sample.name)
            name = sample.name
            if family.type == "histogram":
                name = family.name
            elif family.type == "counter":
                name = family.name + "_total"
            _, kind, labels, buckets = EXPECTED[name]
            assert family.type == kind
            expected_labels = {*labels, "le"} if sample.name.endswith("_bucket") else set(labels)
            assert set(sample.labels) == expected_labels, sample
            if sample.name.endswith("_bucket"):
                assert float(sample.labels["le"]) in (*buckets, float("inf"))

    expected_names = {n for spec in CATALOGUE for n in spec.sample_names}
    assert sample_names == expected_names
    assert "orders_placed_total{" in text
    assert "_created" not in text


@pytest.mark.parametrize(
    "spec", [s for s in CATALOGUE if s.kind is Kind.HISTOGRAM], ids=lambda s: s.name
)
def test_histogram_buckets_are_exposed_exactly(spec: metrics.MetricSpec) -> None:
    registry = CollectorRegistry()
    m = EngineMetrics(registry)
    attribute, _, labels, buckets = EXPECTED[spec.name]
    getattr(m, attribute).labels(**dict.fromkeys(labels, "x")).observe(1)

    family = _families(registry)[spec.name]
    bounds = [float(s.labels["le"]) for s in family.samples if s.name.endswith("_bucket")]

    assert bounds == [*buckets, float("inf")]


def test_every_metric_says_who_emits_it() -> None:
    for spec in CATALOGUE:
        assert spec.help and spec.emitter, spec.name


def test_engine_metrics_leaves_the_default_registry_untouched() -> None:
    before = {f.name for f in REGISTRY.collect()}

    EngineMetrics(CollectorRegistry())
    EngineMetrics(CollectorRegistry())  # a second process-worth: no duplicate registration

    assert {f.name for f in REGISTRY.collect()} == before
    assert not before & {spec.name.removesuffix("_total") for spec in CATALOGUE}


@pytest.mark.parametrize(
    ("name", "label", "vocabulary"),
    [
        pytest.param(name, label, vocabulary, id=name)
        for name, label, vocabulary in [
            ("freeze_triggered_total", "reason", FreezeReason),
            ("venue_ws_reconnects_total", "channel", WsChannel),
            ("exposure_drift_total", "kind", ExposureDriftKind),
            ("gateway_requests_shed_total", "route", ShedRoute),
        ]
    ],
)
def test_engine_metrics_exposes_every_value_of_an_alerting_counter_at_zero_from_the_start(
    name: str, label: str, vocabulary: type[StrEnum]
) -> None:
    """A series that first appears at 1 shows no increase(): its first event would not alert."""
    registry = CollectorRegistry()
    EngineMetrics(registry)

    family = _families(registry)[name.removesuffix("_total")]
    exposed = {s.labels[label]: s.value for s in family.samples if s.name == name}

    assert exposed == dict.fromkeys((v.value for v in vocabulary), 0)


def test_engine_metrics_exposes_every_auto_recovery_step_of_each_transient_reason_at_zero() -> None:
    registry = CollectorRegistry()
    EngineMetrics(registry)

    family = _families(registry)["auto_recoveries"]
    exposed = {
        (s.labels["reason"], s.labels["outcome"]): s.value
        for s in family.samples
        if s.name == "auto_recoveries_total"
    }

    transient = [r for r, c in FREEZE_CLASSES.items() if c is FreezeClass.TRANSIENT]
    assert exposed == {(r.value, o.value): 0 for r in transient for o in RecoveryOutcome}


def test_init_order_series_exposes_both_sides_of_each_symbol_of_each_account_at_zero() -> None:
    registry = CollectorRegistry()
    EngineMetrics(registry).init_order_series(
        ["BTCUSDT"], ["default", "alpha"], ["bybit", "binance-usdm"]
    )

    for account, venue in ((a, v) for a in ("default", "alpha") for v in ("bybit", "binance-usdm")):
        for side in ("Buy", "Sell"):
            labels = {"account": account, "venue": venue, "symbol": "BTCUSDT", "side": side}
            assert registry.get_sample_value("orders_placed_total", labels) == 0
            assert registry.get_sample_value("orders_canceled_total", labels) == 0
        for refusal in FillRefusal:
            labels = {"account": account, "venue": venue, "symbol": "BTCUSDT"}
            labels["reason"] = refusal.value
            assert registry.get_sample_value("fills_refused_total", labels) == 0


def test_set_trading_state_sets_one_state_and_clears_the_others() -> None:
    registry = CollectorRegistry()
    m = EngineMetrics(registry)

    m.set_trading_state(TradingState.FROZEN)
    m.set_trading_state(TradingState.REDUCING)

    values = {
        s.value: registry.get_sample_value("trading_state", {"state": s}) for s in TradingState
    }
    assert values == {"ACTIVE": 0, "REDUCING": 1, "FROZEN": 0}


def test_set_circuit_state_sets_one_state_and_clears_the_others() -> None:
    registry = CollectorRegistry()
    m = EngineMetrics(registry)

    m.set_circuit_state(CircuitState.OPEN, "binance-usdm")
    m.set_circuit_state(CircuitState.CLOSED, "bybit")

    for venue, open_ in (("binance-usdm", 1), ("bybit", 0)):
        values = {
            s.value: registry.get_sample_value("venue_circuit_state", {"venue": venue, "state": s})
            for s in CircuitState
        }
        assert values == {"closed": 1 - open_, "half_open": 0, "open": open_}


def test_set_risk_utilisation_unknown_limit_raises() -> None:
    m = EngineMetrics(CollectorRegistry())
    m.set_risk_utilisation("default", "max_inventory_usd", "BTCUSDT", 0.5)

    with pytest.raises(ValueError, match="max_inventry_usd"):
        m.set_risk_utilisation("default", "max_inventry_usd", "BTCUSDT", 0.5)


def test_render_metrics_returns_the_latest_text_format() -> None:
    registry = CollectorRegistry()
    EngineMetrics(registry).orders_placed.labels(
        account="default", venue="bybit", symbol="BTCUSDT", side="Buy"
    ).inc()

    exposition = metrics.render_metrics(registry)

    assert exposition.content_type.startswith("text/plain; version=")
    assert (
        b'orders_placed_total{account="default",side="Buy",symbol="BTCUSDT",venue="bybit"} 1.0'
        in (exposition.body)
    )


# -- PromQL in alert rules and dashboards ---------------------------------------------------

_STRING = re.compile(r'"(?:[^"\\]|\\.)*"|\'(?:[^\'\\]|\\.)*\'')
_MATCHERS = re.compile(r"\{[^}]*\}")
_RANGE = re.compile(r"\[[^\]]*\]")
_GROUPING = re.compile(r"\b(?:by|without|on|ignoring|group_left|group_right)\s*\([^)]*\)")
_IDENT = re.compile(r"(?<![\w$.:])([a-zA-Z_:][a-zA-Z0-9_:]*)(?![\w:])(?!\s*\()")
_KEYWORDS = frozenset(
    {"and", "or", "unless", "bool", "offset", "inf", "nan", "by", "without", "on", "ignoring"}
)
_LABEL_VALUES = re.compile(r"\s*label_values\(\s*([a-zA-Z_:][a-zA-Z0-9_:]*)\s*,")


def metric_names(expr: str) -> set[str]:
    """The series names an expression selects (strings, matchers, ranges, grouping removed)."""
    if match := _LABEL_VALUES.match(expr):  # a Grafana variable query
        return {match.group(1)}
    bare = _GROUPING.sub(" ", _RANGE.sub(" ", _MATCHERS.sub(" ", _STRING.sub(" ", expr))))
    return {name for name in _IDENT.findall(bare) if name not in _KEYWORDS}


def test_metric_names_ignores_functions_labels_ranges_and_grouping() -> None:
    expr = (
        "histogram_quantile(0.95, sum by (le, symbol) "
        '(rate(order_latency_seconds_bucket{symbol=~"$s"}[$__rate_interval]))) > 0.1 '
        "unless on () (max(trading_state) == 1) or absent(up)"
    )

    assert metric_names(expr) == {"order_latency_seconds_bucket", "trading_state", "up"}
    assert metric_names("label_values(orders_placed_total, symbol)") == {"orders_placed_total"}


def _known_series() -> frozenset[str]:
    return frozenset(n for spec in CATALOGUE for n in spec.sample_names) | PROMETHEUS_BUILTINS


def _alert_rules() -> list[dict[str, Any]]:
    groups = yaml.safe_load(ALERTS.read_text())["groups"]
    return [rule for group in groups for rule in group["rules"]]


def _panels(dashboard: dict[str, Any]) -> list[dict[str, Any]]:
    found: list[dict[str, Any]] = []
    for panel in dashboard["panels"]:
        found.append(panel)
        found.extend(panel.get("panels", []))  # panels inside a collapsed row
    return found


def test_alert_rules_use_only_catalogue_metrics() -> None:
    for rule in _alert_rules():
        unknown = metric_names(rule["expr"]) - _known_series()
        assert not unknown, f"{rule['alert']} uses unknown series {sorted(unknown)}"


def test_alert_rules_have_severity_summary_and_a_runbook_in_the_docs() -> None:
    docs = DOCS.read_text()
    for rule in _alert_rules():
        name = rule["alert"]
        assert rule["labels"]["severity"] in {"critical", "warning"}, name
        assert rule["annotations"]["summary"] and rule["annotations"]["description"], name
        assert rule["annotations"]["runbook_url"] == f"docs/observability.md#{name.lower()}"
        assert f"\n### {name}\n" in docs, f"docs/observability.md has no runbook for {name}"


def test_every_alert_has_a_firing_and_a_silent_promtool_test() -> None:
    fired: set[str] = set()
    silent: set[str] = set()
    for path in RULE_TESTS:
        for case in yaml.safe_load(path.read_text())["tests"]:
            for check in case.get("alert_rule_test", []):
                (fired if check.get("exp_alerts") else silent).add(check["alertname"])
    alerts = {rule["alert"] for rule in _alert_rules()}

    assert alerts - fired == set(), "alerts without a test where they fire"
    assert alerts - silent == set(), "alerts without a test where they stay silent"


def test_prometheus_scrapes_every_service_instance_by_compose_dns() -> None:
    config = yaml.safe_load(PROMETHEUS_CONFIG.read_text())
    jobs = {job["job_name"]: job for job in config["scrape_configs"]}

    for service, port in SERVICES.items():
        (sd,) = jobs[service]["dns_sd_configs"]
        assert sd == {"names": [service], "type": "A", "port": port, "refresh_interval": "15s"}
    assert config["rule_files"] == ["alerts.yml"]


# -- Grafana ---------------------------------------------------------------------------------


def test_grafana_provisions_the_prometheus_datasource_and_the_dashboards_folder() -> None:
    (datasource,) = yaml.safe_load((PROVISIONING / "datasources" / "prometheus.yml").read_text())[
        "datasources"
    ]
    (provider,) = yaml.safe_load((PROVISIONING / "dashboards" / "mmx.yml").read_text())["providers"]

    assert (datasource["name"], datasource["uid"]) == ("Prometheus", "prometheus")
    assert datasource["url"] == "http://prometheus:9090"
    assert provider["options"]["path"] == "/var/lib/grafana/dashboards"


def test_dashboards_exist_with_unique_uids() -> None:
    uids = [json.loads(path.read_text())["uid"] for path in DASHBOARDS]

    assert len(uids) >= 2
    assert len(set(uids)) == len(uids)


@pytest.mark.parametrize("path", DASHBOARDS, ids=lambda p: p.name)
def test_dashboard_panels_query_catalogue_metrics_on_the_prometheus_datasource(path: Path) -> None:
    dashboard = json.loads(path.read_text())
    assert dashboard["schemaVersion"] >= 39
    panels = _panels(dashboard)
    assert len({p["id"] for p in panels}) == len(panels), "panel ids must be unique"

    for panel in panels:
        title = panel["title"]
        if panel["type"] == "row":
            assert not panel.get("targets"), title
            continue
        assert panel["datasource"] == {"type": "prometheus", "uid": "prometheus"}, title
        assert panel["targets"], f"panel {title!r} has no target"
        for target in panel["targets"]:
            assert target["datasource"]["uid"] == "prometheus", title
            unknown = metric_names(target["expr"]) - _known_series()
            assert target["expr"] and not unknown, f"{title!r} uses unknown {sorted(unknown)}"
    for variable in dashboard["templating"]["list"]:
        unknown = metric_names(variable["definition"]) - _known_series()
        assert not unknown, f"variable {variable['name']} uses unknown {sorted(unknown)}"


def test_dashboards_show_every_catalogue_metric() -> None:
    used: set[str] = set()
    for path in DASHBOARDS:
        for panel in _panels(json.loads(path.read_text())):
            for target in panel.get("targets", []):
                used |= metric_names(target["expr"])

    unshown = [spec.name for spec in CATALOGUE if not spec.sample_names & used]

    assert not unshown, f"no dashboard shows {unshown}"


# -- Docs ------------------------------------------------------------------------------------


def test_docs_explain_every_metric() -> None:
    docs = DOCS.read_text()

    missing = [spec.name for spec in CATALOGUE if f"`{spec.name}" not in docs]

    assert not missing, f"docs/observability.md does not explain {missing}"
