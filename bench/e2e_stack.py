"""The benchmark's stack: its own redis-server, the simulator and the four services, on free
ports, under the load profile; every process known by its pid and stopped by it.

The simulator always runs from this checkout (it records the receipt times the benchmark
reads); the engine services (risk, router, positions, gateway) run from `engine_repo`, which
is this checkout unless `--repo` names another (cwd and PYTHONPATH point at it).
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import tempfile
import time
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path

from libs.common.redis_server import RedisServer, free_port, start_redis_server
from libs.common.topology import RATE_LIMIT_GROUPS
from services.stack import http_probe
from services.venue_sim.settings import DEV_KEY, DEV_SECRET

REPO_ROOT = Path(__file__).resolve().parents[1]
SYMBOLS = ("BTCUSDT", "ETHUSDT", "SOLUSDT", "XRPUSDT")
"""The symbols of the throughput and latency rows (the first four of the simulator's
catalogue, services/venue_sim/engine/catalog.py)."""
ENGINE = ("risk", "router", "positions", "gateway")
HIGH = 100_000
"""Requests per second for every raised rate limit: far above what the stack can do."""
START_TIMEOUT_S = 60.0
STOP_GRACE_S = 5.0
_LIVE: list[BenchStack] = []
"""Stacks started and not yet stopped: `stop_all` ends them whatever happened."""


@dataclass(frozen=True)
class LoadProfile:
    """Every limit the benchmark raises, and where."""

    symbols: tuple[str, ...] = SYMBOLS
    """Listed by the simulator and traded by every service."""
    routers: int = 1
    """Router instances (router, router-2, ...), one process each."""
    durable_redis: bool = False
    """Redis with an AOF fsynced before every write is acknowledged (as `mmx up` and the
    compose file run it); False: no persistence."""
    sim_max_active_orders: int = 2_000
    """Open orders per (category, symbol) at the venue (Bybit: 500); 5,000 resting on 4
    symbols need 1,250 on each."""
    risk_limits: Mapping[str, str] = field(
        default_factory=lambda: {
            "maxOpenOrdersPerSymbol": "10000",
            "maxOrdersPerSecond": "100000",
            "maxOrderNotional": "1000000",
            "maxInventoryUsd": "1000000000",
            "maxTotalNotional": "1000000000",
            "dailyLossLimit": "1000000000",
            "edgeFreezeThresholdBps": "-10000",
        }
    )
    """PUT /v1/risk/limits; the price band stays at its default (500 bps)."""

    def sim_env(self) -> dict[str, str]:
        """The simulator's environment: every listed symbol, a frozen market, raised limits."""
        return {
            "MMX_SIM_KEYS": f"{DEV_KEY}:{DEV_SECRET}",
            "MMX_SIM_SYMBOLS": ",".join(self.symbols),
            "MMX_SIM_MARKET_FROZEN": "true",
            "MMX_SIM_TRADE_PER_SECOND": str(HIGH),
            "MMX_SIM_SPOT_TRADE_PER_SECOND": str(HIGH),
            "MMX_SIM_QUERY_PER_SECOND": str(HIGH),
            "MMX_SIM_DCP_PER_SECOND": str(HIGH),
            "MMX_SIM_IP_PER_5S": str(HIGH * 100),
            "MMX_SIM_MAX_ACTIVE_ORDERS": str(self.sim_max_active_orders),
            "MMX_SIM_LOG_LEVEL": "WARNING",
        }

    def service_env(self, service: str) -> dict[str, str]:
        """What one engine service gets on top of Redis, venue URL and keys."""
        symbols = ",".join(self.symbols)
        if service == "router":
            return {
                "MMX_ROUTER_RATE_LIMIT_PER_S": str(HIGH),
                "MMX_ROUTER_RATE_LIMITS": json.dumps(dict.fromkeys(RATE_LIMIT_GROUPS, HIGH)),
                "MMX_ROUTER_SYMBOLS": symbols,
            }
        if service == "positions":
            return {"MMX_POSITIONS_SYMBOLS": symbols}
        if service == "gateway":
            return {"MMX_GATEWAY_AUTH": "disabled"}
        return {}

    def lines(self) -> list[str]:
        """The profile as printed above the table."""
        sim = {k: v for k, v in self.sim_env().items() if k not in ("MMX_SIM_KEYS",)}
        out = ["simulator (env): " + ", ".join(f"{k}={v}" for k, v in sim.items())]
        fsync = "AOF, appendfsync always" if self.durable_redis else "no persistence"
        out.append(f"redis-server: {fsync}")
        for service in ENGINE:
            env = self.service_env(service)
            if env:
                out.append(f"{service} (env): " + ", ".join(f"{k}={v}" for k, v in env.items()))
        limits = ", ".join(f"{k}={v}" for k, v in self.risk_limits.items())
        out.append(f"risk limits (PUT /v1/risk/limits): {limits}; priceBandBps default (500)")
        return out


@dataclass
class Proc:
    """One child process, by name and pid."""

    name: str
    proc: subprocess.Popen[bytes]
    port: int

    @property
    def pid(self) -> int:
        return self.proc.pid

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"


@dataclass
class BenchStack:
    """Redis, simulator, risk, router, positions, gateway; `stop()` ends every one by pid."""

    log_dir: Path
    engine_repo: Path = REPO_ROOT
    profile: LoadProfile = field(default_factory=LoadProfile)
    redis: RedisServer | None = None
    procs: dict[str, Proc] = field(default_factory=dict)

    @property
    def redis_url(self) -> str:
        assert self.redis is not None
        return self.redis.url

    @property
    def sim_url(self) -> str:
        return self.procs["venue-sim"].url

    @property
    def gateway_url(self) -> str:
        return self.procs["gateway"].url

    def pids(self) -> dict[str, int]:
        """Every process of the stack by name, redis-server included."""
        found = {"redis-server": self.redis.process.pid} if self.redis else {}
        return found | {name: p.pid for name, p in self.procs.items()}

    def start(self) -> BenchStack:
        """Start everything and wait until each answers (raises StackDown on failure)."""
        self.log_dir.mkdir(parents=True, exist_ok=True)
        _LIVE.append(self)
        self.redis = start_redis_server(durable=self.profile.durable_redis)
        sim = self._spawn("venue-sim", "services.venue_sim", REPO_ROOT, self.profile.sim_env())
        self._wait({"venue-sim": f"{sim.url}/sim/health"})
        common = {
            "REDIS_URL": self.redis_url,
            "MMX_VENUE": "sim",
            "MMX_VENUE_URL": sim.url,
            "MMX_API_KEY": DEV_KEY,
            "MMX_API_SECRET": DEV_SECRET,
        }
        for name in self.engine_names:
            service = name.split("-")[0]
            env = common | self.profile.service_env(service)
            self._spawn(name, f"services.{service}", self.engine_repo, env)
        self._wait({s: f"{self.procs[s].url}/ready" for s in self.engine_names})
        return self

    @property
    def engine_names(self) -> list[str]:
        """The engine's processes: each service once, and the extra routers."""
        extra = [f"router-{i}" for i in range(2, self.profile.routers + 1)]
        return [*ENGINE, *extra]

    def _spawn(self, name: str, module: str, repo: Path, env: Mapping[str, str]) -> Proc:
        port = free_port()
        log_path = self.log_dir / f"{name}.log"
        with log_path.open("ab") as log:
            proc = subprocess.Popen(
                [sys.executable, "-m", module, "--port", str(port)],
                cwd=repo,
                env={**os.environ, "PYTHONUNBUFFERED": "1", "PYTHONPATH": str(repo), **env},
                stdin=subprocess.DEVNULL,
                stdout=log,
                stderr=subprocess.STDOUT,
            )
        found = self.procs[name] = Proc(name, proc, port)
        return found

    def _wait(self, urls: Mapping[str, str]) -> None:
        deadline = time.monotonic() + START_TIMEOUT_S
        waiting = dict(urls)
        while waiting:
            for name, url in list(waiting.items()):
                if self.procs[name].proc.poll() is not None:
                    raise StackDown(f"{name} exited during start-up; see {self.log_dir}")
                if http_probe(url).check():
                    del waiting[name]
            if waiting and time.monotonic() > deadline:
                raise StackDown(f"{', '.join(waiting)} not ready in {START_TIMEOUT_S:.0f} s")
            time.sleep(0.1)

    def dead(self) -> list[str]:
        """Names of the processes that have exited."""
        return [name for name, p in self.procs.items() if p.proc.poll() is not None]

    def stop(self) -> list[str]:
        """SIGTERM the engine services, then the simulator, SIGKILL whichever has not exited
        STOP_GRACE_S on; then the redis-server. Only ever our own children, by pid. Returns
        the names of those that had to be killed."""
        killed: list[str] = []
        for names in ([n for n in self.engine_names if n in self.procs], ["venue-sim"]):
            found = [self.procs.pop(n) for n in names if n in self.procs]
            for child in found:
                if child.proc.poll() is None:
                    child.proc.send_signal(signal.SIGTERM)
            for child in found:
                try:
                    child.proc.wait(timeout=STOP_GRACE_S)
                except subprocess.TimeoutExpired:
                    killed.append(child.name)
                    child.proc.kill()
                    child.proc.wait()
        if self.redis is not None:
            self.redis.stop()
            self.redis = None
        if self in _LIVE:
            _LIVE.remove(self)
        return killed


def stop_all() -> None:
    """Stop every stack still running (after an interrupt or a cancelled start)."""
    for stack in list(_LIVE):
        stack.stop()


class StackDown(RuntimeError):
    """A process of the stack did not start or died."""


def new_log_dir() -> Path:
    """A fresh directory for this run's service logs (kept after the run)."""
    return Path(tempfile.mkdtemp(prefix="mmx-bench-e2e-"))


def cpu_seconds(pid: int) -> float:
    """utime + stime of `pid` (all its threads) so far, in seconds; 0 if it is gone."""
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return 0.0
    fields = stat[stat.rindex(")") + 2 :].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")
