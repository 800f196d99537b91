"""promtool on the Prometheus config, the alert rules and their unit tests, every dashboard
query and a real `/metrics` exposition.

promtool comes from PATH or from scripts/ensure_promtool.sh. If it still cannot be found the
tests fail rather than skip: an unchecked rule file is how a broken alert reaches production.
"""

from __future__ import annotations

import json
import re
import shutil
import subprocess
from pathlib import Path

import pytest
import yaml
from prometheus_client import CollectorRegistry

from libs.common.metrics import CATALOGUE, EngineMetrics, Kind, render_metrics

pytestmark = [pytest.mark.integration, pytest.mark.timeout(900)]

REPO = Path(__file__).resolve().parents[3]
PROMETHEUS_DIR = REPO / "deploy" / "prometheus"
DASHBOARDS = sorted((REPO / "deploy" / "grafana" / "dashboards").glob("*.json"))
ENSURE_PROMTOOL = REPO / "scripts" / "ensure_promtool.sh"
_GRAFANA_INTERVAL = re.compile(r"\$__(?:rate_interval|interval|range)\b")
_GRAFANA_VARIABLE = re.compile(r"\$\w+")


@pytest.fixture(scope="session")
def promtool() -> str:
    """Path of promtool, installed by scripts/ensure_promtool.sh when missing."""
    found = shutil.which("promtool")
    if found is not None:
        return found
    result = subprocess.run(
        ["bash", str(ENSURE_PROMTOOL)], capture_output=True, text=True, timeout=840, check=False
    )
    lines = result.stdout.splitlines()
    if result.returncode != 0 or not lines or not Path(lines[-1]).is_file():
        pytest.fail(
            f"promtool is missing and {ENSURE_PROMTOOL.name} could not install it "
            f"(exit {result.returncode}):\n{result.stderr}"
        )
    return lines[-1]


def _promtool(promtool: str, *args: str, stdin: str | None = None) -> str:
    result = subprocess.run(
        [promtool, *args],
        cwd=REPO,
        input=stdin,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    output = result.stdout + result.stderr
    assert result.returncode == 0, f"promtool {' '.join(args)} failed:\n{output}"
    return output


def test_prometheus_config_is_valid(promtool: str) -> None:
    output = _promtool(promtool, "check", "config", "deploy/prometheus/prometheus.yml")

    assert "1 rule files found" in output


def test_alert_rules_are_valid(promtool: str) -> None:
    output = _promtool(promtool, "check", "rules", "deploy/prometheus/alerts.yml")

    assert "SUCCESS" in output


def test_alert_rule_unit_tests_pass(promtool: str) -> None:
    test_files = sorted(str(p.relative_to(REPO)) for p in (PROMETHEUS_DIR / "tests").glob("*.yml"))
    assert test_files, "expected promtool unit tests in deploy/prometheus/tests"

    output = _promtool(promtool, "test", "rules", *test_files)

    assert output.count("SUCCESS") == len(test_files), output


def test_dashboard_queries_are_valid_promql(promtool: str, tmp_path: Path) -> None:
    """Every panel query, with Grafana's variables filled in, parses as a recording rule."""
    rules = []
    for path in DASHBOARDS:
        for panel in json.loads(path.read_text())["panels"]:
            for target in panel.get("targets", []):
                expr = _GRAFANA_INTERVAL.sub("5m", target["expr"])
                expr = _GRAFANA_VARIABLE.sub(".*", expr)
                rules.append({"record": f"dashboard:query_{len(rules)}:check", "expr": expr})
    assert len(rules) > 20
    rule_file = tmp_path / "dashboard_queries.yml"
    rule_file.write_text(yaml.safe_dump({"groups": [{"name": "dashboards", "rules": rules}]}))

    output = _promtool(promtool, "check", "rules", str(rule_file))

    assert f"SUCCESS: {len(rules)} rules found" in output


def test_metrics_exposition_passes_promtool_lint(promtool: str) -> None:
    registry = CollectorRegistry()
    m = EngineMetrics(registry)
    for spec in CATALOGUE:
        family = spec.name.removesuffix("_total")  # as prometheus_client names a counter
        (metric,) = (
            v for k, v in vars(m).items() if k != "registry" and v.describe()[0].name == family
        )
        child = metric.labels(**dict.fromkeys(spec.labels, "x"))
        if spec.kind is Kind.HISTOGRAM:
            child.observe(0.02)
        elif spec.kind is Kind.COUNTER:
            child.inc()
        else:
            child.set(1)

    exposition = render_metrics(registry).body.decode()
    _promtool(promtool, "check", "metrics", stdin=exposition)
