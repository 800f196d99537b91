"""The run-time Prometheus config of a local stack, and `mmx up --with-prometheus`."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from services import local_prometheus
from services.cli import build_parser
from services.stack import free_port_block
from services.up_plan import BASE_OFFSETS, UpPlan, plan_up, process_specs

TARGETS = {"gateway": ["127.0.0.1:18080"], "router": ["127.0.0.1:19101", "127.0.0.1:19111"]}


def test_config_scrapes_each_target_under_its_job_and_loads_the_alert_rules_by_absolute_path(
    tmp_path: Path,
) -> None:
    path = local_prometheus.write_config(
        tmp_path / "p.yml", TARGETS, scrape_interval_s=1, evaluation_interval_s=0.5
    )
    config = json.loads(path.read_text())
    assert config["global"]["scrape_interval"] == "1000ms"
    assert config["global"]["evaluation_interval"] == "500ms"
    assert config["rule_files"] == [str(local_prometheus.ALERT_RULES)]
    assert Path(config["rule_files"][0]).is_absolute() and Path(config["rule_files"][0]).exists()
    assert {
        job["job_name"]: job["static_configs"][0]["targets"] for job in config["scrape_configs"]
    } == TARGETS
    assert not (tmp_path / "p.yml.tmp").exists()


def test_config_refuses_a_job_without_targets() -> None:
    with pytest.raises(ValueError, match="job 'risk' has no targets"):
        local_prometheus.config({"risk": []})


def _plan(tmp_path: Path, *extra: str) -> UpPlan:
    base = free_port_block(len(BASE_OFFSETS))  # one port per service of `mmx up`
    args = build_parser().parse_args(
        ["up", "--base-port", str(base), "--data-dir", str(tmp_path), *extra]
    )
    return plan_up(args, {"REDIS_URL": "redis://127.0.0.1:1/0"})


def test_up_with_prometheus_runs_it_against_every_engine_service(tmp_path: Path) -> None:
    plan = _plan(tmp_path, "--with-prometheus", "--no-demo")
    specs = {spec.name: spec for spec in process_specs(plan)}
    assert "prometheus" in specs, "prometheus is installed here (make system-deps)"
    prometheus = specs["prometheus"]
    assert f"--web.listen-address=127.0.0.1:{plan.prometheus_port}" in prometheus.argv
    assert dict(prometheus.urls)["Prometheus"] == f"http://127.0.0.1:{plan.prometheus_port}"
    config = json.loads((tmp_path / "prometheus.yml").read_text())
    assert {
        job["job_name"]: job["static_configs"][0]["targets"] for job in config["scrape_configs"]
    } == {job: [f"127.0.0.1:{plan.ports[job]}"] for job in local_prometheus.ENGINE_JOBS}


def test_up_with_prometheus_but_no_binary_says_so_and_runs_without_it(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    plan = _plan(tmp_path, "--with-prometheus", "--no-demo")
    monkeypatch.setenv("PATH", str(tmp_path))  # no prometheus here
    names = [spec.name for spec in process_specs(plan)]
    assert "prometheus" not in names and "gateway" in names
    assert "no `prometheus` binary on PATH, continuing without it" in capsys.readouterr().err


def test_up_without_the_flag_runs_no_prometheus(tmp_path: Path) -> None:
    plan = _plan(tmp_path, "--no-demo")
    assert plan.prometheus_port is None
    assert "prometheus" not in [spec.name for spec in process_specs(plan)]
