"""The local stack: `mmx up` as a real process, its process manager, the embedded Redis, and
the compose file (checked as data: there is no Docker engine on the test machines)."""

from __future__ import annotations

import os
import re
import signal
import subprocess
import sys
import textwrap
import threading
import time
import urllib.request
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest
import redis
import yaml

from services.stack import (
    ProcessSpec,
    Stack,
    StackError,
    find_redis_server,
    free_port,
    free_port_block,
    http_probe,
    python_module,
    redis_spec,
)

REPO = Path(__file__).resolve().parents[2]
SCALABLE = ("router", "risk", "positions")
ENGINE = ("venue-sim", "risk", "router", "positions", "gateway")


def _gone(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return True
    return False


def _sleeper(name: str, marker: Path) -> list[str]:
    """A child that appends its name to `marker` when it gets SIGTERM, then exits."""
    code = textwrap.dedent(f"""
        import signal, sys, time
        def bye(*_):
            with open({str(marker)!r}, "a") as f:
                f.write({name!r} + "\\n")
            sys.exit(0)
        signal.signal(signal.SIGTERM, bye)
        while True:
            time.sleep(0.05)
    """)
    return [sys.executable, "-c", code]


# -- the process manager ----------------------------------------------------------------------


def test_stack_stops_children_in_reverse_start_order(tmp_path: Path) -> None:
    marker = tmp_path / "stopped"
    stack = Stack(tmp_path / "logs")
    try:
        for name in ("first", "second", "third"):
            stack.start(ProcessSpec(name, _sleeper(name, marker), None))
        time.sleep(0.3)  # let the children install their handlers
    finally:
        stack.stop()
    assert marker.read_text().split() == ["third", "second", "first"]
    assert stack.started == []


def test_stack_child_exiting_during_start_is_an_error_naming_its_log(tmp_path: Path) -> None:
    stack = Stack(tmp_path / "logs")
    argv = [sys.executable, "-c", "import sys; print('boom'); sys.exit(3)"]
    spec = ProcessSpec("broken", argv, http_probe(f"http://127.0.0.1:{free_port()}/ready"))
    with pytest.raises(StackError, match=r"broken exited with code 3 during start-up; see .*"):
        stack.start(spec)
    stack.stop()
    assert "boom" in (tmp_path / "logs" / "broken.log").read_text()


def test_stack_child_not_ready_in_time_is_an_error(tmp_path: Path) -> None:
    stack = Stack(tmp_path / "logs")
    url = f"http://127.0.0.1:{free_port()}/ready"
    spec = ProcessSpec("mute", _sleeper("mute", tmp_path / "m"), http_probe(url), start_timeout_s=1)
    try:
        with pytest.raises(StackError, match=f"mute did not answer {url} within 1 s"):
            stack.start(spec)
    finally:
        stack.stop()


def test_stack_wait_reports_a_child_that_dies(tmp_path: Path) -> None:
    stack = Stack(tmp_path / "logs")
    stack.start(ProcessSpec("short", [sys.executable, "-c", "import time; time.sleep(0.3)"], None))
    try:
        with pytest.raises(StackError, match="short exited with code 0"):
            stack.wait()
    finally:
        stack.stop()


def test_embedded_redis_runs_with_aof_in_the_data_dir(tmp_path: Path) -> None:
    port = free_port()
    spec = redis_spec(binary=find_redis_server(), host="127.0.0.1", port=port, data_dir=tmp_path)
    stack = Stack(tmp_path / "logs")
    try:
        proc = stack.start(spec)
        with redis.Redis(port=port) as client:
            client.set("k", "v")
            assert client.config_get("appendonly") == {"appendonly": "yes"}
            assert client.config_get("appendfsync") == {"appendfsync": "always"}
            assert client.config_get("dir")["dir"] == str(tmp_path.resolve())
    finally:
        stack.stop()
    assert proc.returncode == 0
    assert any(tmp_path.glob("appendonly*")), list(tmp_path.iterdir())


# -- mmx up -----------------------------------------------------------------------------------


@dataclass
class MmxUp:
    """`mmx up` as a child process, its output collected line by line by a thread."""

    proc: subprocess.Popen[str]
    base_port: int
    lines: list[str] = field(default_factory=list)

    def read(self) -> None:
        assert self.proc.stdout is not None
        for line in self.proc.stdout:
            self.lines.append(line)

    @property
    def output(self) -> str:
        return "".join(self.lines)


@pytest.fixture
def mmx_up(tmp_path: Path) -> Iterator[MmxUp]:
    """`mmx up --no-demo` on free ports with its embedded Redis; killed if a test leaves it."""
    base = free_port_block(5)
    argv = python_module(
        "services.cli", "up", "--no-demo", "--data-dir", str(tmp_path / "mmx"),
        "--base-port", str(base), "--redis-port", str(free_port()),
    )  # fmt: skip
    env = {k: v for k, v in os.environ.items() if k != "REDIS_URL"}
    proc = subprocess.Popen(
        argv,
        cwd=tmp_path,
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
        # As a job started with `&` from a script: SIGINT inherited ignored. It still stops.
        preexec_fn=lambda: signal.signal(signal.SIGINT, signal.SIG_IGN),
    )
    up = MmxUp(proc, base)
    reader = threading.Thread(target=up.read, daemon=True)
    reader.start()
    try:
        yield up
    finally:
        if proc.poll() is None:
            proc.kill()
        proc.wait()
        reader.join(timeout=10)
        assert proc.stdout is not None
        proc.stdout.close()


def _ready(url: str) -> bool:
    try:
        with urllib.request.urlopen(url, timeout=1) as response:
            return bool(response.status == 200)
    except OSError:
        return False


@pytest.mark.parametrize("stop_signal", [signal.SIGINT, signal.SIGTERM])
def test_mmx_up_starts_everything_and_stops_cleanly_on_a_signal(
    mmx_up: MmxUp, tmp_path: Path, stop_signal: signal.Signals
) -> None:
    deadline = time.monotonic() + 90
    while "Ctrl-C stops everything." not in mmx_up.output:
        assert mmx_up.proc.poll() is None, f"mmx up exited early:\n{mmx_up.output}"
        assert time.monotonic() < deadline, f"mmx up never came up:\n{mmx_up.output}"
        time.sleep(0.1)
    assert _ready(f"http://127.0.0.1:{mmx_up.base_port}/ready")

    stopping = time.monotonic()
    mmx_up.proc.send_signal(stop_signal)
    assert mmx_up.proc.wait(timeout=60) == 0, mmx_up.output
    assert time.monotonic() - stopping < 30

    output = mmx_up.output
    pids = {name: int(pid) for name, pid in re.findall(r"started (\S+) \(pid (\d+)\)", output)}
    assert set(pids) == {"redis", *ENGINE}, output
    assert [name for name, pid in pids.items() if not _gone(pid)] == []
    assert "stopped." in output
    assert f"http://127.0.0.1:{mmx_up.base_port}/docs" in output
    assert any((tmp_path / "mmx" / "redis").glob("appendonly*"))
    assert {p.stem for p in (tmp_path / "mmx" / "logs").glob("*.log")} == {"redis", *ENGINE}


def test_mmx_up_with_an_unreachable_redis_url_fails_fast(tmp_path: Path) -> None:
    env = {**os.environ, "REDIS_URL": f"redis://127.0.0.1:{free_port()}/0"}
    argv = python_module("services.cli", "up", "--base-port", str(free_port_block(5)))
    done = subprocess.run(argv, cwd=tmp_path, env=env, capture_output=True, text=True, timeout=30)
    assert done.returncode == 2
    assert "does not answer PING" in done.stderr


# -- docker-compose.yml -----------------------------------------------------------------------


@pytest.fixture(scope="module")
def compose() -> dict[str, Any]:
    loaded: dict[str, Any] = yaml.safe_load((REPO / "docker-compose.yml").read_text())
    return loaded


def test_compose_has_the_whole_stack(compose: dict[str, Any]) -> None:
    expected = {"redis", "prometheus", "grafana", *ENGINE}
    assert set(compose["services"]) == expected


def test_compose_scalable_services_have_no_container_name_and_no_host_port(
    compose: dict[str, Any],
) -> None:
    services = compose["services"]
    assert [name for name, s in services.items() if "container_name" in s] == []
    assert [name for name in SCALABLE if "ports" in services[name]] == []


def test_compose_every_service_has_a_healthcheck_and_an_image(compose: dict[str, Any]) -> None:
    for name, service in compose["services"].items():
        assert service.get("healthcheck", {}).get("test"), f"{name} has no healthcheck"
        assert service.get("image") or service.get("build"), f"{name} has no image or build"
        if service.get("build"):
            assert (REPO / service["build"] / "Dockerfile").exists()


def test_compose_engine_waits_for_healthy_dependencies(compose: dict[str, Any]) -> None:
    services = compose["services"]
    for name in ("risk", "router", "positions", "gateway"):
        depends = services[name]["depends_on"]
        assert {"redis", "venue-sim"} <= set(depends), name
        assert {d["condition"] for d in depends.values()} == {"service_healthy"}, name
        assert services[name]["command"][:2] == ["service", name]
        assert "/ready" in " ".join(services[name]["healthcheck"]["test"])


def test_compose_secrets_are_required_never_defaulted(compose: dict[str, Any]) -> None:
    text = (REPO / "docker-compose.yml").read_text()
    for secret in ("REDIS_PASSWORD", "MMX_API_KEY", "MMX_API_SECRET", "GRAFANA_ADMIN_PASSWORD"):
        uses = re.findall(r"\$\{" + secret + r"([^}]*)\}", text)
        assert uses, f"{secret} is not used"
        assert all(use.startswith(":?") for use in uses), f"{secret}: {uses}"
    env = compose["services"]["router"]["environment"]
    assert env["REDIS_URL"].startswith("redis://:${REDIS_PASSWORD:?")


def test_compose_redis_keeps_an_aof_on_a_volume_behind_a_password(
    compose: dict[str, Any],
) -> None:
    redis_service = compose["services"]["redis"]
    command = " ".join(redis_service["command"])
    assert "--appendonly yes --appendfsync always" in command
    assert "--requirepass ${REDIS_PASSWORD:?" in command
    assert any(v.endswith(":/data") for v in redis_service["volumes"])


def test_compose_monitoring_mounts_the_deploy_configs(compose: dict[str, Any]) -> None:
    services = compose["services"]
    assert "./deploy/prometheus:/etc/prometheus:ro" in services["prometheus"]["volumes"]
    assert services["prometheus"]["ports"] == ["9090:9090"]
    grafana = services["grafana"]["volumes"]
    assert "./deploy/grafana/provisioning:/etc/grafana/provisioning:ro" in grafana
    assert "./deploy/grafana/dashboards:/var/lib/grafana/dashboards:ro" in grafana
    assert services["gateway"]["ports"] == ["8080:8080"]
    for mounted in ("deploy/prometheus/prometheus.yml", "deploy/grafana/provisioning"):
        assert (REPO / mounted).exists()
