"""The run-time config of a local Prometheus (`services.local_prometheus`) is one promtool
accepts, alert rules included."""

from __future__ import annotations

import shutil
import subprocess
from pathlib import Path

import pytest

from services import local_prometheus

pytestmark = pytest.mark.integration

TARGETS = {"gateway": ["127.0.0.1:18080"], "router": ["127.0.0.1:19101", "127.0.0.1:19111"]}


def test_written_config_passes_promtool_check_config(tmp_path: Path) -> None:
    promtool = shutil.which("promtool")
    assert promtool, "promtool is missing: run `make system-deps`"
    path = local_prometheus.write_config(tmp_path / "prometheus.yml", TARGETS)
    result = subprocess.run(
        [promtool, "check", "config", str(path)], capture_output=True, text=True, check=False
    )
    assert result.returncode == 0, result.stdout + result.stderr
