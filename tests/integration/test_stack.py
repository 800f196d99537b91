"""The local stack: `mmx up` as a real process, its process manager, the embedded Redis, and
the compose file (checked as data: there is no Docker engine on the test machines)."""

from __future__ import annotations

import json
import os
import re
import signal
import subprocess
import sys
import textwrap
import threading
import time
import urllib.request
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest
import redis
import yaml

from libs.common.redis_server import free_port
from services.restarts import RestartPolicy
from services.stack import (
    ProcessSpec,
    Stack,
    StackError,
    find_redis_server,
    free_port_block,
    http_probe,
    python_module,
    redis_spec,
)

REPO = Path(__file__).resolve().parents[2]
SCALABLE = ("router", "risk", "positions")
ENGINE = ("venue-sim", "risk", "router", "positions", "archive", "gateway")


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


def test_stack_restarts_a_killed_child_after_a_back_off_and_says_so(tmp_path: Path) -> None:
    said: list[str] = []
    stack = Stack(tmp_path / "logs", say=said.append)
    first = stack.start(ProcessSpec("worker", _sleeper("worker", tmp_path / "m"), None))
    try:
        first.kill()
        first.wait()
        start = time.monotonic()
        stack.supervise(start)
        assert len(said) == 1 and said[0].startswith(
            f"mmx up: worker (pid {first.pid}) killed by SIGKILL at 20"
        ), said
        assert "; restarting in 0.5 s (crash 1 within 60 s; crash 5 stops the stack)" in said[0]
        stack.supervise(start + 0.4)
        assert stack.started[0][1] is first  # not yet: the back-off
        stack.supervise(start + 0.5)
        second = stack.started[0][1]
        assert second is not first and second.poll() is None
        assert said[1] == f"mmx up: restarted worker (pid {second.pid})"
    finally:
        stack.stop()
    log = (tmp_path / "logs" / "worker.log").read_text()
    assert f"pid {first.pid} killed by SIGKILL; restarting in 0.5 s" in log


def test_stack_stops_when_a_child_keeps_dying(tmp_path: Path) -> None:
    policy = RestartPolicy(first_delay_s=0.01, max_crashes=3)
    stack = Stack(tmp_path / "logs", policy=policy, say=lambda text: None)
    stack.start(ProcessSpec("short", [sys.executable, "-c", "import sys; sys.exit(4)"], None))
    try:
        with pytest.raises(StackError, match="short exited with code 4; short died 3 times"):
            stack.wait()
    finally:
        stack.stop()


def test_stack_child_that_must_not_be_restarted_stops_the_stack_saying_why(
    tmp_path: Path,
) -> None:
    stack = Stack(tmp_path / "logs", say=lambda text: None)
    argv = [sys.executable, "-c", "import time; time.sleep(0.3)"]
    stack.start(ProcessSpec("venue", argv, None, fatal="it would forget its orders"))
    try:
        with pytest.raises(
            StackError,
            match=r"venue \(pid \d+\) exited with code 0; not restarted: it would",
        ):
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

    def wait_until_up(self, timeout_s: float = 90) -> None:
        deadline = time.monotonic() + timeout_s
        while "Ctrl-C stops everything." not in self.output:
            assert self.proc.poll() is None, f"mmx up exited early:\n{self.output}"
            assert time.monotonic() < deadline, f"mmx up never came up:\n{self.output}"
            time.sleep(0.1)

    def stop(self) -> None:
        self.proc.send_signal(signal.SIGTERM)
        assert self.proc.wait(timeout=60) == 0, self.output

    def pids(self) -> dict[str, int]:
        """The latest pid of each child, as `mmx up` printed them."""
        found = re.findall(r"(?:started|restarted) (\S+) \(pid (\d+)\)", self.output)
        return {name: int(pid) for name, pid in found}

    def url(self, offset: int) -> str:
        return f"http://127.0.0.1:{self.base_port + offset}"


Launch = Callable[..., MmxUp]


@pytest.fixture
def launch(tmp_path: Path) -> Iterator[Launch]:
    """Start `mmx up --no-demo` on free ports with its embedded Redis (default data dir
    tmp_path/mmx); every one started is killed if a test leaves it running."""
    launched: list[tuple[MmxUp, threading.Thread]] = []

    def start(*extra: str, data_dir: Path | None = None) -> MmxUp:
        base = free_port_block(6)
        argv = python_module(
            "services.cli", "up", "--no-demo", "--data-dir", str(data_dir or tmp_path / "mmx"),
            "--base-port", str(base), "--redis-port", str(free_port()), *extra,
        )  # fmt: skip
        env = {k: v for k, v in os.environ.items() if k not in ("REDIS_URL", "MMX_GATEWAY_AUTH")}
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
        launched.append((up, reader))
        return up

    try:
        yield start
    finally:
        for up, reader in launched:
            if up.proc.poll() is None:
                up.proc.kill()
            up.proc.wait()
            reader.join(timeout=10)
            assert up.proc.stdout is not None
            up.proc.stdout.close()


@pytest.fixture
def mmx_up(launch: Launch) -> MmxUp:
    """`mmx up --no-demo` on free ports with its embedded Redis."""
    return launch()


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
    mmx_up.wait_until_up()
    assert _ready(f"http://127.0.0.1:{mmx_up.base_port}/ready")

    stopping = time.monotonic()
    mmx_up.proc.send_signal(stop_signal)
    assert mmx_up.proc.wait(timeout=60) == 0, mmx_up.output
    assert time.monotonic() - stopping < 30

    output = mmx_up.output
    pids = mmx_up.pids()
    assert set(pids) == {"redis", *ENGINE}, output
    assert [name for name, pid in pids.items() if not _gone(pid)] == []
    assert "stopped." in output
    assert f"http://127.0.0.1:{mmx_up.base_port}/docs" in output
    assert f"console                      http://127.0.0.1:{mmx_up.base_port}/console" in output
    assert "gateway auth                 disabled (development default" in output
    assert any((tmp_path / "mmx" / "redis").glob("appendonly*"))
    assert {p.stem for p in (tmp_path / "mmx" / "logs").glob("*.log")} == {"redis", *ENGINE}


def test_mmx_up_with_an_unreachable_redis_url_fails_fast(tmp_path: Path) -> None:
    env = {**os.environ, "REDIS_URL": f"redis://127.0.0.1:{free_port()}/0"}
    argv = python_module("services.cli", "up", "--base-port", str(free_port_block(6)))
    done = subprocess.run(argv, cwd=tmp_path, env=env, capture_output=True, text=True, timeout=30)
    assert done.returncode == 2
    assert "does not answer PING" in done.stderr


# -- mmx up across runs, restarts, logs --------------------------------------------------------

LOG_LINE = re.compile(
    r"^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z [A-Z]+ (?P<service>\S+) \S+ (\[cid=\S+\] )?\S+: "
)


def _http(method: str, url: str, body: dict[str, Any] | None = None) -> Any:
    request = urllib.request.Request(
        url,
        data=None if body is None else json.dumps(body).encode(),
        method=method,
        headers={"Content-Type": "application/json"},
    )
    with urllib.request.urlopen(request, timeout=10) as response:
        return json.loads(response.read() or b"null")


def _engine_and_venue(up: MmxUp) -> tuple[dict[str, Any], dict[str, Any]]:
    """(open orders by clientOrderId, positions) as the gateway and as the simulator say."""
    placed = _http("GET", f"{up.url(0)}/v1/orders")["orders"]
    engine = {
        "open": sorted(o["clientOrderId"] for o in placed),
        "positions": {
            p["symbol"]: Decimal(p["qty"])
            for p in _http("GET", f"{up.url(0)}/v1/positions")["positions"]
            if Decimal(p["qty"])
        },
    }
    orders = _http("GET", f"{up.url(1)}/sim/orders")["list"]
    venue = {
        "open": sorted(
            o["orderLinkId"] for o in orders if o["orderStatus"] in ("New", "PartiallyFilled")
        ),
        "positions": {
            p["symbol"]: Decimal(p["size"]) * (1 if p["side"] == "Buy" else -1)
            for p in _http("GET", f"{up.url(1)}/sim/positions")["list"]
            if Decimal(p["size"])
        },
    }
    return engine, venue


def _agreeing(up: MmxUp, timeout_s: float = 45) -> dict[str, Any]:
    """What engine and venue both say once they agree (reconciliation runs at start)."""
    deadline = time.monotonic() + timeout_s
    while True:
        engine, venue = _engine_and_venue(up)
        if engine == venue:
            return engine
        assert time.monotonic() < deadline, f"engine {engine} != venue {venue}\n{up.output}"
        time.sleep(0.5)


def _mmx(*argv: str) -> subprocess.CompletedProcess[str]:
    env = {k: v for k, v in os.environ.items() if k != "REDIS_URL"}
    return subprocess.run(
        python_module("services.cli", *argv), env=env, capture_output=True, text=True, timeout=60
    )


def test_mmx_up_second_run_continues_where_the_first_stopped_and_fresh_starts_empty(
    launch: Launch, tmp_path: Path
) -> None:
    data_dir = tmp_path / "mmx"
    first = launch()
    first.wait_until_up()
    mid = Decimal(_http("GET", f"{first.url(1)}/v5/market/tickers?category=linear&symbol=BTCUSDT")
                  ["result"]["list"][0]["lastPrice"])  # fmt: skip
    orders = [
        {"clientOrderId": "taker-1", "side": "Buy", "orderType": "Market", "qty": "0.002"},
        {"clientOrderId": "rest-bid", "side": "Buy", "orderType": "Limit", "qty": "0.001",
         "price": str((mid * Decimal("0.97")).quantize(Decimal(1)))},
        {"clientOrderId": "rest-ask", "side": "Sell", "orderType": "Limit", "qty": "0.001",
         "price": str((mid * Decimal("1.03")).quantize(Decimal(1)))},
    ]  # fmt: skip
    for order in orders:  # 3% off the mid: inside risk's price band, far from filling
        placed = _http(
            "POST", f"{first.url(0)}/v1/orders?wait=true", {"symbol": "BTCUSDT", **order}
        )
        assert placed["outcome"] == "accepted", placed
    before = _agreeing(first)
    assert before == {"open": ["rest-ask", "rest-bid"], "positions": {"BTCUSDT": Decimal("0.002")}}
    first.stop()
    assert (data_dir / "venue-sim" / "state.json").exists()
    assert not (data_dir / "redis.url").exists()

    second = launch()
    second.wait_until_up()
    assert f"continuing from the Redis data and simulator state in {data_dir}" in second.output
    assert _agreeing(second) == before
    listed = _mmx("keys", "--data-dir", str(data_dir), "list")  # no REDIS_URL: the stack's
    assert listed.returncode == 0, listed.stderr
    second.stop()
    refused = _mmx("keys", "--data-dir", str(data_dir), "list")
    assert refused.returncode == 2
    assert "REDIS_URL is not set and no `mmx up` runs with the data directory" in refused.stderr

    fresh = launch("--fresh")
    fresh.wait_until_up()
    assert f"mmx up --fresh: removed {data_dir / 'redis'} and {data_dir / 'venue-sim'}" in (
        fresh.output
    )
    assert _agreeing(fresh) == {"open": [], "positions": {}}
    assert _http("GET", f"{fresh.url(1)}/sim/orders")["list"] == []
    fresh.stop()


def test_mmx_up_brings_a_killed_service_back_and_dies_cleanly_with_its_parent(
    launch: Launch, tmp_path: Path
) -> None:
    up = launch()
    up.wait_until_up()
    router = up.pids()["router"]
    os.kill(router, signal.SIGKILL)
    deadline = time.monotonic() + 30
    while up.pids()["router"] == router or not _ready(f"{up.url(2)}/ready"):
        assert up.proc.poll() is None, up.output
        assert time.monotonic() < deadline, f"router did not come back:\n{up.output}"
        time.sleep(0.2)
    assert f"mmx up: router (pid {router}) killed by SIGKILL at " in up.output
    assert "restarting in 0.5 s" in up.output

    children = up.pids()
    up.proc.kill()  # the parent dies: every child gets SIGTERM (PR_SET_PDEATHSIG)
    up.proc.wait()
    deadline = time.monotonic() + 30
    while not all(_gone(pid) for pid in children.values()):
        assert time.monotonic() < deadline, [n for n, p in children.items() if not _gone(p)]
        time.sleep(0.2)
    for name in ("gateway", "risk", "router", "positions", "venue-sim"):
        lines = (tmp_path / "mmx" / "logs" / f"{name}.log").read_text().splitlines()
        ours = [line for line in lines if line and not line.startswith("=== ")]
        assert [line for line in ours if not LOG_LINE.match(line)] == [], name
        assert {LOG_LINE.match(line)["service"] for line in ours} == {name}  # type: ignore[index]
        assert not any("Traceback" in line for line in ours), name
        lost = [line for line in ours if "lost Redis at" in line]
        assert len(lost) <= 2, lost  # once per process: the router's first and second life


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
