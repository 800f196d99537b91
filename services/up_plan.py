"""`mmx up`'s plan: where every component of the local stack listens and lives, and the
process specs that run them (`services.stack`)."""

from __future__ import annotations

import argparse
import os
import sys
import urllib.parse
from dataclasses import dataclass
from pathlib import Path

from libs.common.accounts import parse_venues
from libs.common.redis_server import free_port
from services import local_prometheus, local_stack
from services.stack import (
    REDIS_DEFAULT_PORT,
    ProcessSpec,
    StackError,
    find_redis_server,
    http_probe,
    port_is_free,
    python_module,
    redis_spec,
)

REPO_ROOT = Path(__file__).resolve().parents[1]
SIM_KEY, SIM_SECRET = "mmx-dev-key", "mmx-dev-secret"
DEMO = "demo-quoter"
GATEWAY_AUTH_ENV = "MMX_GATEWAY_AUTH"
GATEWAY_AUTH_MODES = ("required", "disabled")
SIM_NOT_RESTARTED = (
    "the simulator writes its state every few seconds: restarted, it would have forgotten "
    "the orders and fills since, and no longer agree with the engine's records"
)
MODULES = {
    "venue-sim": "services.venue_sim",
    "risk": "services.risk",
    "router": "services.router",
    "positions": "services.positions",
    "archive": "services.archive",
    "gateway": "services.gateway",
}
"""Every service by its `mmx service` name, in `mmx up`'s start order."""
DEFAULT_PORTS = {
    "gateway": 8080,
    "venue-sim": 8090,
    "router": 9101,
    "risk": 9102,
    "positions": 9103,
    "archive": 9104,
}
BASE_OFFSETS = {"gateway": 0, "venue-sim": 1, "router": 2, "risk": 3, "positions": 4, "archive": 5}
"""`--base-port B`: gateway B, venue-sim B+1, router B+2, risk B+3, positions B+4, archive B+5."""
BINANCE_SIM = "venue-sim-binance"
"""The Binance USDⓈ-M simulator, run when `--venues` names binance-usdm: port 8091, or the
base port + 6."""
BINANCE_SIM_PORT, BINANCE_SIM_OFFSET = 8091, 6


@dataclass(frozen=True)
class UpPlan:
    """Where everything of `mmx up` listens and lives."""

    host: str
    ports: dict[str, int]
    redis_url: str | None
    """REDIS_URL when given; None means start the embedded redis-server on `redis_port`."""
    redis_port: int
    data_dir: Path
    demo: bool
    prometheus_port: int | None = None
    """`--with-prometheus`: where Prometheus listens; None: no Prometheus."""
    gateway_auth: str = "disabled"
    """MMX_GATEWAY_AUTH when set, else `disabled` (a development stack)."""
    fresh: bool = False
    """`--fresh`: remove the Redis data and the simulator state of earlier runs first."""
    venues: tuple[str, ...] = ("bybit",)
    """`--venues` (MMX_VENUES): the venues the stack trades; with binance-usdm its simulator
    runs too, on `binance_port`."""
    binance_port: int | None = None

    def url(self, name: str) -> str:
        port = self.binance_port if name == BINANCE_SIM else self.ports[name]
        return f"http://{self.host}:{port}"


def plan_up(args: argparse.Namespace, environ: dict[str, str]) -> UpPlan:
    """Resolve ports and Redis; raise StackError when a port we must use is taken."""
    host: str = args.host
    base: int | None = args.base_port
    ports = {
        name: getattr(args, f"{name.replace('-', '_')}_port")
        or (base + BASE_OFFSETS[name] if base else DEFAULT_PORTS[name])
        for name in MODULES
    }
    if len(set(ports.values())) != len(ports):
        raise StackError(f"two services on one port: {ports}")
    for name, port in ports.items():
        if not port_is_free(host, port):
            flag = f"--{name}-port"
            raise StackError(
                f"port {port} for {name} is in use: pass {flag}, or --base-port "
                "(MMX_UP_BASE_PORT for `make up`)"
            )
    redis_url = environ.get("REDIS_URL") or None
    redis_port: int = args.redis_port or REDIS_DEFAULT_PORT
    if redis_url is None and not port_is_free(host, redis_port):
        if args.redis_port:
            raise StackError(f"port {redis_port} for Redis is in use: pass another --redis-port")
        redis_port = free_port(host)
        while redis_port in ports.values():  # the OS may hand out a port planned for a service
            redis_port = free_port(host)
    data_dir = Path(args.data_dir).resolve()
    gateway_auth = environ.get(GATEWAY_AUTH_ENV) or "disabled"
    if gateway_auth not in GATEWAY_AUTH_MODES:
        raise StackError(
            f"{GATEWAY_AUTH_ENV}={gateway_auth!r}: expected one of {', '.join(GATEWAY_AUTH_MODES)}"
        )
    if gateway_auth == "required" and not args.no_demo and not environ.get("MMX_API_KEY_GATEWAY"):
        raise StackError(
            f"{GATEWAY_AUTH_ENV}=required: the demo quoter needs an API key; set "
            "MMX_API_KEY_GATEWAY to an operator key (mmx keys create --role operator --name "
            "demo), or pass --no-demo"
        )
    if args.fresh and redis_url is not None:
        raise StackError(
            "--fresh removes the embedded Redis' data, but REDIS_URL names another Redis: "
            "empty that one yourself, or unset REDIS_URL"
        )
    try:
        venues = parse_venues(args.venues or environ.get("MMX_VENUES") or "bybit")
    except ValueError as error:
        raise StackError(f"--venues: {error}") from None
    binance_port = None
    if "binance-usdm" in venues:
        binance_port = base + BINANCE_SIM_OFFSET if base else BINANCE_SIM_PORT
        if binance_port in ports.values() or not port_is_free(host, binance_port):
            raise StackError(
                f"port {binance_port} for the Binance simulator is in use: pass --base-port"
            )
    prometheus_port = None
    if args.with_prometheus:
        prometheus_port = args.prometheus_port or free_port(host)
        if prometheus_port in ports.values() or not port_is_free(host, prometheus_port):
            raise StackError(f"port {prometheus_port} for Prometheus is in use")
    return UpPlan(
        host,
        ports,
        redis_url,
        redis_port,
        data_dir,
        demo=not args.no_demo,
        prometheus_port=prometheus_port,
        gateway_auth=gateway_auth,
        fresh=args.fresh,
        venues=venues,
        binance_port=binance_port,
    )


def _service_spec(plan: UpPlan, name: str, redis_url: str) -> ProcessSpec:
    port = plan.ports[name]
    base = plan.url(name)
    ws = f"ws://{plan.host}:{port}"
    argv = python_module("services.cli", "service", name, "--host", plan.host, "--port", str(port))
    if name == "venue-sim":
        return ProcessSpec(
            name,
            argv,
            http_probe(f"{base}/sim/health"),
            urls=(
                ("simulator REST (Bybit V5)", f"{base}/v5/market/tickers?category=linear"),
                ("simulator orders", f"{base}/sim/orders"),
                ("simulator private WS", f"{ws}/v5/private"),
            ),
            env={
                "MMX_SIM_KEYS": f"{SIM_KEY}:{SIM_SECRET}",
                "MMX_SIM_MARKET_FROZEN": "false",
                "MMX_SIM_STATE_PATH": str(plan.data_dir / local_stack.SIM_STATE),
                "MMX_SIM_LOG_LEVEL": os.environ.get("MMX_SIM_LOG_LEVEL", "INFO"),
            },
            fatal=SIM_NOT_RESTARTED,
        )
    urls: tuple[tuple[str, str], ...] = ((f"{name} metrics", f"{base}/metrics"),)
    env = {
        "REDIS_URL": redis_url,
        "MMX_VENUES": ",".join(plan.venues),
        "MMX_VENUE": "sim",
        "MMX_VENUE_URL": plan.url("venue-sim"),
        "MMX_API_KEY": SIM_KEY,
        "MMX_API_SECRET": SIM_SECRET,
    }
    if plan.binance_port is not None:
        env |= {
            "MMX_BINANCE_VENUE": "sim",
            "MMX_BINANCE_URL": plan.url(BINANCE_SIM),
            "MMX_BINANCE_API_KEY": SIM_KEY,
            "MMX_BINANCE_API_SECRET": SIM_SECRET,
        }
    if name == "archive" and not os.environ.get("MMX_ARCHIVE_BUCKET"):
        env["MMX_ARCHIVE_DIR"] = str(plan.data_dir / local_stack.ARCHIVE_DIR)
    if name == "gateway":
        env[GATEWAY_AUTH_ENV] = plan.gateway_auth
        urls = (
            ("gateway API", f"{base}/v1"),
            ("console", f"{base}/console"),
            ("API docs", f"{base}/docs"),
            ("WebSocket stream", f"{ws}/v1/stream"),
            *urls,
        )
    return ProcessSpec(name, argv, http_probe(f"{base}/ready"), urls=urls, env=env)


def _binance_sim_spec(plan: UpPlan, port: int) -> ProcessSpec:
    """The Binance USDⓈ-M personality of the simulator, its own process and state."""
    base, ws = plan.url(BINANCE_SIM), f"ws://{plan.host}:{port}"
    argv = python_module(
        "services.venue_sim",
        "--personality",
        "binance-usdm",
        "--host",
        plan.host,
        "--port",
        str(port),
    )
    return ProcessSpec(
        BINANCE_SIM,
        argv,
        http_probe(f"{base}/sim/health"),
        urls=(
            ("simulator REST (Binance USDⓈ-M)", f"{base}/fapi/v1/ticker/bookTicker"),
            ("simulator user stream", f"{ws}/ws/<listenKey>"),
        ),
        env={
            "MMX_SIM_KEYS": f"{SIM_KEY}:{SIM_SECRET}",
            "MMX_SIM_MARKET_FROZEN": "false",
            "MMX_SIM_STATE_PATH": str(plan.data_dir / local_stack.BINANCE_SIM_STATE),
            "MMX_SIM_LOG_LEVEL": os.environ.get("MMX_SIM_LOG_LEVEL", "INFO"),
        },
        fatal=SIM_NOT_RESTARTED,
    )


def _demo_spec(plan: UpPlan) -> ProcessSpec:
    argv = python_module(
        "examples.demo_quoter", "--gateway", plan.url("gateway"), "--venue", plan.url("venue-sim")
    )
    # examples/ is not installed with the package: run it from the source tree.
    env = {
        "PYTHONPATH": os.pathsep.join(filter(None, [str(REPO_ROOT), os.environ.get("PYTHONPATH")]))
    }
    return ProcessSpec(DEMO, argv, None, env=env)


def process_specs(plan: UpPlan) -> list[ProcessSpec]:
    specs: list[ProcessSpec] = []
    redis_url = plan.redis_url
    if redis_url is None:
        # Restarted when it dies, unlike the simulator: its AOF is fsynced before every write
        # is acknowledged, so a restarted Redis has everything the engine was told is written.
        spec = redis_spec(
            binary=find_redis_server(),
            host=plan.host,
            port=plan.redis_port,
            data_dir=plan.data_dir / "redis",
        )
        specs.append(spec)
        redis_url = spec.urls[0][1]
    if plan.binance_port is not None:  # before the services, as the Bybit simulator
        specs.append(_binance_sim_spec(plan, plan.binance_port))
    specs += [_service_spec(plan, name, redis_url) for name in MODULES]
    if plan.prometheus_port is not None:
        specs += _prometheus_specs(plan)
    if plan.demo:
        specs.append(_demo_spec(plan))
    return specs


def _prometheus_specs(plan: UpPlan) -> list[ProcessSpec]:
    """Prometheus scraping this stack's services, if its binary is installed; else say so
    and run the stack without it."""
    assert plan.prometheus_port is not None
    binary = local_prometheus.find_prometheus()
    if binary is None:
        print(
            "mmx up: --with-prometheus: no `prometheus` binary on PATH, continuing without it "
            "(Debian/Ubuntu: apt-get install prometheus, or `make system-deps`; macOS: "
            "brew install prometheus)",
            file=sys.stderr,
            flush=True,
        )
        return []
    targets = {job: [f"{plan.host}:{plan.ports[job]}"] for job in local_prometheus.ENGINE_JOBS}
    config = local_prometheus.write_config(plan.data_dir / "prometheus.yml", targets)
    return [
        local_prometheus.prometheus_spec(
            binary=binary,
            host=plan.host,
            port=plan.prometheus_port,
            config=config,
            data_dir=plan.data_dir / "prometheus",
        )
    ]


def redact_url(url: str) -> str:
    """`url` with any password replaced by `***`, for printing."""
    parts = urllib.parse.urlsplit(url)
    userinfo, at, hosts = parts.netloc.rpartition("@")  # hosts: one, or a Sentinel list
    if not at or ":" not in userinfo:
        return url
    user = userinfo.split(":", 1)[0]
    return urllib.parse.urlunsplit(parts._replace(netloc=f"{user}:***@{hosts}"))
