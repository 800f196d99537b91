"""The `mmx` command: run the local stack, one service, or an operator verb.

mmx up [--no-demo] [--with-prometheus] ...  the local stack; Ctrl-C stops it
mmx service NAME [--host H] [--port P]  one service in the foreground
mmx status | orders | positions         what the gateway says (see services.operator)
mmx freeze | unfreeze --reason TEXT     stop or resume trading
mmx keys create | list | revoke         the gateway's API keys (see services.keys_cli)
"""

from __future__ import annotations

import argparse
import importlib
import json
import os
import sys
import urllib.parse
import urllib.request
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path

from services import local_prometheus
from services.dlq_cli import register as register_dlq_verbs
from services.keys_cli import register as register_key_verbs
from services.operator import register as register_operator_verbs
from services.stack import (
    REDIS_DEFAULT_PORT,
    ProcessSpec,
    Stack,
    StackError,
    find_redis_server,
    free_port,
    http_probe,
    port_is_free,
    python_module,
    redis_probe,
    redis_spec,
    stop_signals_as_interrupt,
)

REPO_ROOT = Path(__file__).resolve().parents[1]
SIM_KEY, SIM_SECRET = "mmx-dev-key", "mmx-dev-secret"
DEMO = "demo-quoter"
DEMO_LIMITS = {"edgeFreezeThresholdBps": "0"}
"""Set before the demo starts. The desk default (200 bps, the prototype's) is far above what
a market maker quoting a few bps around the mid earns; 0 freezes as soon as edge turns
negative."""

MODULES = {
    "venue-sim": "services.venue_sim",
    "risk": "services.risk",
    "router": "services.router",
    "positions": "services.positions",
    "gateway": "services.gateway",
}
"""Every service by its `mmx service` name, in `mmx up`'s start order."""
DEFAULT_PORTS = {
    "gateway": 8080,
    "venue-sim": 8090,
    "router": 9101,
    "risk": 9102,
    "positions": 9103,
}
BASE_OFFSETS = {"gateway": 0, "venue-sim": 1, "router": 2, "risk": 3, "positions": 4}
"""`--base-port B`: gateway B, venue-sim B+1, router B+2, risk B+3, positions B+4."""


def _service_entry(module: str) -> Callable[[Sequence[str]], None]:
    def run(argv: Sequence[str]) -> None:
        main: Callable[[Sequence[str]], None] = importlib.import_module(f"{module}.__main__").main
        main(list(argv))

    return run


SERVICES: dict[str, Callable[[Sequence[str]], None]] = {
    name: _service_entry(module) for name, module in MODULES.items()
}
"""`mmx service NAME argv`: each calls `services.<name>.__main__.main(argv)`, imported lazily."""


# -- mmx up -----------------------------------------------------------------------------------


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

    def url(self, name: str) -> str:
        return f"http://{self.host}:{self.ports[name]}"


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
    data_dir = Path(args.data_dir).resolve()
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
            env={"MMX_SIM_KEYS": f"{SIM_KEY}:{SIM_SECRET}", "MMX_SIM_MARKET_FROZEN": "false"},
        )
    urls: tuple[tuple[str, str], ...] = ((f"{name} metrics", f"{base}/metrics"),)
    env = {
        "REDIS_URL": redis_url,
        "MMX_VENUE": "sim",
        "MMX_VENUE_URL": plan.url("venue-sim"),
        "MMX_API_KEY": SIM_KEY,
        "MMX_API_SECRET": SIM_SECRET,
    }
    if name == "gateway":
        env["MMX_GATEWAY_AUTH"] = "disabled"  # a local development stack: no API keys
        urls = (
            ("gateway API", f"{base}/v1"),
            ("API docs", f"{base}/docs"),
            ("WebSocket stream", f"{ws}/v1/stream"),
            *urls,
        )
    return ProcessSpec(name, argv, http_probe(f"{base}/ready"), urls=urls, env=env)


def _demo_spec(plan: UpPlan) -> ProcessSpec:
    argv = python_module(
        "examples.demo_quoter", "--gateway", plan.url("gateway"), "--venue", plan.url("venue-sim")
    )
    # examples/ is not installed with the package: run it from the source tree.
    env = {
        "PYTHONPATH": os.pathsep.join(filter(None, [str(REPO_ROOT), os.environ.get("PYTHONPATH")]))
    }
    return ProcessSpec(DEMO, argv, None, env=env)


def _set_demo_limits(plan: UpPlan) -> None:
    """PUT the demo's risk limits through the gateway, as an operator would."""
    request = urllib.request.Request(
        f"{plan.url('gateway')}/v1/risk/limits",
        data=json.dumps(DEMO_LIMITS).encode(),
        method="PUT",
        headers={"Content-Type": "application/json", "X-MMX-Actor": "mmx-up"},
    )
    try:
        with urllib.request.urlopen(request, timeout=10) as response:
            response.read()
    except OSError as error:
        raise StackError(f"could not set the demo's risk limits: {error}") from error
    print(f"risk limits for the demo: {DEMO_LIMITS}", flush=True)


def _specs(plan: UpPlan) -> list[ProcessSpec]:
    specs: list[ProcessSpec] = []
    redis_url = plan.redis_url
    if redis_url is None:
        spec = redis_spec(
            binary=find_redis_server(),
            host=plan.host,
            port=plan.redis_port,
            data_dir=plan.data_dir / "redis",
        )
        specs.append(spec)
        redis_url = spec.urls[0][1]
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


def _print_urls(plan: UpPlan, stack: Stack, specs: Sequence[ProcessSpec]) -> None:
    print("\nmmx is up:")
    for spec in specs:
        for label, url in spec.urls:
            print(f"  {label:<28} {url}")
    if plan.redis_url:
        print(f"  {'Redis (REDIS_URL)':<28} {redact_url(plan.redis_url)}")
    print(f"  {'gateway auth':<28} disabled (development stack: no API key needed)")
    print(f"  {'logs':<28} {stack.log_dir}")
    print("\nCtrl-C stops everything.", flush=True)


def _up(args: argparse.Namespace) -> int:
    try:
        plan = plan_up(args, dict(os.environ))
        specs = _specs(plan)
    except StackError as error:
        print(f"mmx up: {error}", file=sys.stderr)
        return 2
    if plan.redis_url and not redis_probe(plan.redis_url).check():
        shown = redact_url(plan.redis_url)
        print(f"mmx up: REDIS_URL {shown} does not answer PING", file=sys.stderr)
        return 2
    stack = Stack(log_dir=plan.data_dir / "logs")
    code = 0
    with stop_signals_as_interrupt():
        try:
            for spec in specs:
                if spec.name == DEMO:
                    _set_demo_limits(plan)
                proc = stack.start(spec)
                print(f"started {spec.name} (pid {proc.pid})", flush=True)
            _print_urls(plan, stack, specs)
            stack.wait()
        except KeyboardInterrupt:
            print("\nstopping…", flush=True)
        except StackError as error:
            print(f"mmx up: {error}", file=sys.stderr, flush=True)
            code = 1
        finally:
            stack.stop()
            print("stopped.", flush=True)
    return code


def _service(args: argparse.Namespace) -> int:
    argv = [
        *(["--host", args.host] if args.host else []),
        *(["--port", str(args.port)] if args.port else []),
    ]
    SERVICES[args.name](argv)
    return 0


def _int_env(name: str) -> int | None:
    value = os.environ.get(name)
    return int(value) if value else None


def _add_up(commands: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    up = commands.add_parser(
        "up",
        help="run the local stack until Ctrl-C",
        description="Run Redis, the simulator, the four services and a demo strategy.",
    )
    up.add_argument("--host", default="127.0.0.1", help="listen address of every component")
    up.add_argument(
        "--data-dir", default=".mmx", help="Redis data (AOF) and logs (default: ./.mmx)"
    )
    up.add_argument(
        "--base-port",
        type=int,
        default=_int_env("MMX_UP_BASE_PORT"),
        help="gateway on P, venue-sim P+1, router P+2, risk P+3, positions P+4 "
        "(env MMX_UP_BASE_PORT; default: 8080, 8090, 9101, 9102, 9103)",
    )
    for name in MODULES:
        up.add_argument(f"--{name}-port", type=int, help=f"{name}'s port (overrides --base-port)")
    up.add_argument(
        "--redis-port",
        type=int,
        help=f"embedded Redis port (default {REDIS_DEFAULT_PORT}, a free one if that is taken)",
    )
    up.add_argument("--no-demo", action="store_true", help="do not start the demo quoter")
    up.add_argument(
        "--with-prometheus",
        action="store_true",
        help="also run Prometheus (from PATH) scraping every service, with the alert rules",
    )
    up.add_argument("--prometheus-port", type=int, help="Prometheus's port (default: a free one)")
    up.set_defaults(func=_up)


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="mmx", description="mmx execution engine")
    commands = parser.add_subparsers(dest="command", required=True)
    _add_up(commands)
    service = commands.add_parser("service", help="run one service in the foreground")
    service.add_argument("name", choices=list(SERVICES))
    service.add_argument("--host")
    service.add_argument("--port", type=int)
    service.set_defaults(func=_service)
    register_operator_verbs(commands)
    register_key_verbs(commands)
    register_dlq_verbs(commands)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    result: int = args.func(args)
    return result


def redact_url(url: str) -> str:
    """`url` with any password replaced by `***`, for printing."""
    parts = urllib.parse.urlsplit(url)
    userinfo, at, hosts = parts.netloc.rpartition("@")  # hosts: one, or a Sentinel list
    if not at or ":" not in userinfo:
        return url
    user = userinfo.split(":", 1)[0]
    return urllib.parse.urlunsplit(parts._replace(netloc=f"{user}:***@{hosts}"))


if __name__ == "__main__":
    sys.exit(main())
