"""A Prometheus for a stack on this machine: its config is written at run time, because the
ports of a local stack vary (`mmx up --base-port`, e2e tests on free ports).

    config = write_config(data_dir / "prometheus.yml", {"router": ["127.0.0.1:9101"], ...})
    spec = prometheus_spec(binary=find_prometheus(), host=..., port=..., config=config,
                           data_dir=data_dir / "prometheus")

The config scrapes each target under its service's job name (the names the alert rules and
dashboards use), and loads the desk's alert rules from `deploy/prometheus/alerts.yml` by
absolute path, so the local Prometheus alerts exactly as the compose one does. The compose
stack has its own static config, `deploy/prometheus/prometheus.yml`.
"""

from __future__ import annotations

import json
import shutil
from collections.abc import Mapping, Sequence
from pathlib import Path

from services.stack import ProcessSpec, http_probe

REPO_ROOT = Path(__file__).resolve().parents[1]
ALERT_RULES = REPO_ROOT / "deploy" / "prometheus" / "alerts.yml"
ENGINE_JOBS = ("gateway", "risk", "router", "positions", "archive")
"""The services that serve `/metrics` (the simulator does not)."""


def find_prometheus() -> str | None:
    """The `prometheus` server binary on PATH, or None."""
    return shutil.which("prometheus")


def config(
    targets: Mapping[str, Sequence[str]],
    *,
    scrape_interval_s: float = 5.0,
    evaluation_interval_s: float = 5.0,
    rule_files: Sequence[Path] = (ALERT_RULES,),
) -> dict[str, object]:
    """A Prometheus config scraping `targets` (job name -> ["host:port", ...])."""
    for job, addresses in targets.items():
        if not addresses:
            raise ValueError(f"job {job!r} has no targets: expected at least one host:port")
    return {
        "global": {
            "scrape_interval": _duration(scrape_interval_s),
            "scrape_timeout": _duration(min(scrape_interval_s, 10.0)),
            "evaluation_interval": _duration(evaluation_interval_s),
            "external_labels": {"system": "mmx"},
        },
        "rule_files": [str(path.resolve()) for path in rule_files],
        "scrape_configs": [
            {"job_name": job, "static_configs": [{"targets": list(addresses)}]}
            for job, addresses in targets.items()
        ],
    }


def write_config(
    path: Path,
    targets: Mapping[str, Sequence[str]],
    *,
    scrape_interval_s: float = 5.0,
    evaluation_interval_s: float = 5.0,
    rule_files: Sequence[Path] = (ALERT_RULES,),
) -> Path:
    """Write the config for `targets` to `path` (JSON, which is YAML) and return `path`."""
    body = config(
        targets,
        scrape_interval_s=scrape_interval_s,
        evaluation_interval_s=evaluation_interval_s,
        rule_files=rule_files,
    )
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_suffix(path.suffix + ".tmp")
    tmp.write_text(json.dumps(body, indent=2) + "\n")
    tmp.replace(path)  # never a half-written config
    return path


def prometheus_spec(
    *, binary: str, host: str, port: int, config: Path, data_dir: Path
) -> ProcessSpec:
    """Prometheus serving on host:port with its TSDB in `data_dir`; ready on `/-/ready`."""
    data_dir.mkdir(parents=True, exist_ok=True)
    url = f"http://{host}:{port}"
    argv = [
        binary,
        f"--config.file={config.resolve()}",
        f"--storage.tsdb.path={data_dir.resolve()}",
        "--storage.tsdb.retention.time=2d",
        f"--web.listen-address={host}:{port}",
        "--log.level=warn",
    ]
    return ProcessSpec(
        "prometheus",
        argv,
        http_probe(f"{url}/-/ready"),
        urls=(("Prometheus", url), ("Prometheus alerts", f"{url}/alerts")),
    )


def _duration(seconds: float) -> str:
    """Prometheus duration syntax: whole milliseconds."""
    return f"{round(seconds * 1000)}ms"
