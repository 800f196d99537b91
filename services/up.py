"""`mmx up`: run the local stack until Ctrl-C (see `services.up_plan` for what runs where,
`services.stack` for how, `services.local_stack` for what it keeps in its data directory)."""

from __future__ import annotations

import argparse
import json
import os
import sys
import urllib.request
from collections.abc import Sequence

from services import local_stack
from services.stack import (
    REDIS_DEFAULT_PORT,
    ProcessSpec,
    Stack,
    StackError,
    redis_probe,
    stop_signals_as_interrupt,
)
from services.up_plan import (
    DEMO,
    GATEWAY_AUTH_ENV,
    MODULES,
    UpPlan,
    plan_up,
    process_specs,
    redact_url,
)

DEMO_LIMITS = {"edgeFreezeThresholdBps": "0"}
"""Set before the demo starts. The desk default (200 bps, the prototype's) is far above what
a market maker quoting a few bps around the mid earns; 0 freezes as soon as edge turns
negative."""


def _set_demo_limits(plan: UpPlan) -> None:
    """PUT the demo's risk limits through the gateway, as an operator would."""
    request = urllib.request.Request(
        f"{plan.url('gateway')}/v1/risk/limits",
        data=json.dumps(DEMO_LIMITS).encode(),
        method="PUT",
        headers={
            "Content-Type": "application/json",
            "X-MMX-Actor": "mmx-up",
            **({"X-API-Key": key} if (key := os.environ.get("MMX_API_KEY_GATEWAY")) else {}),
        },
    )
    try:
        with urllib.request.urlopen(request, timeout=10) as response:
            response.read()
    except OSError as error:
        raise StackError(f"could not set the demo's risk limits: {error}") from error
    print(f"risk limits for the demo: {DEMO_LIMITS}", flush=True)


def print_urls(plan: UpPlan, stack: Stack, specs: Sequence[ProcessSpec]) -> None:
    """Where everything is: each component's URLs, gateway auth, logs and the kept state."""
    print("\nmmx is up:")
    for spec in specs:
        for label, url in spec.urls:
            print(f"  {label:<28} {url}")
    if plan.redis_url:
        print(f"  {'Redis (REDIS_URL)':<28} {redact_url(plan.redis_url)}")
    print(f"  {'gateway auth':<28} {gateway_auth_text(plan.gateway_auth)}")
    print(f"  {'logs':<28} {stack.log_dir}")
    print(f"  {'state (kept between runs)':<28} {plan.data_dir} (mmx up --fresh starts empty)")
    print("\nCtrl-C stops everything.", flush=True)


def gateway_auth_text(mode: str) -> str:
    """What `mmx up` says of the gateway's auth mode."""
    if mode == "required":
        return f"required ({GATEWAY_AUTH_ENV}): every /v1 call needs an API key (mmx keys)"
    return f"disabled (development default; {GATEWAY_AUTH_ENV}=required to require API keys)"


def prepare_data_dir(plan: UpPlan) -> None:
    """Refuse a data directory another `mmx up` is using; with `--fresh`, empty it of earlier
    runs' state (saying what went); without, warn when the two halves of it disagree."""
    running = local_stack.read_url(plan.data_dir, local_stack.REDIS_FILE)
    if running and redis_probe(running).check():
        raise StackError(
            f"another mmx up runs with the data directory {plan.data_dir} (its Redis answers "
            f"at {redact_url(running)}): stop it, or pass another --data-dir"
        )
    if plan.fresh:
        removed = local_stack.wipe_state(plan.data_dir)
        gone = " and ".join(str(p) for p in removed) or "nothing (there was no earlier state)"
        print(f"mmx up --fresh: removed {gone}; starting empty", flush=True)
    elif plan.redis_url is None and local_stack.has_redis_data(plan.data_dir):
        state = plan.data_dir / local_stack.SIM_STATE
        if state.exists():
            print(f"continuing from the Redis data and simulator state in {plan.data_dir}")
        else:
            print(
                f"mmx up: warning: {plan.data_dir} has Redis data but no simulator state "
                f"({state}): the engine's records will not match the venue; pass --fresh "
                "to start empty",
                file=sys.stderr,
                flush=True,
            )


def _up(args: argparse.Namespace) -> int:
    try:
        plan = plan_up(args, dict(os.environ))
        prepare_data_dir(plan)
        specs = process_specs(plan)
    except StackError as error:
        print(f"mmx up: {error}", file=sys.stderr)
        return 2
    if plan.redis_url and not redis_probe(plan.redis_url).check():
        shown = redact_url(plan.redis_url)
        print(f"mmx up: REDIS_URL {shown} does not answer PING", file=sys.stderr)
        return 2
    stack = Stack(log_dir=plan.data_dir / "logs")
    written: list[tuple[str, str]] = []
    code = 0
    with stop_signals_as_interrupt():
        try:
            for spec in specs:
                if spec.name == DEMO:
                    _set_demo_limits(plan)
                proc = stack.start(spec)
                print(f"started {spec.name} (pid {proc.pid})", flush=True)
                if spec.name in ("redis", "gateway"):
                    file_name = f"{spec.name}.url"
                    url = spec.urls[0][1] if spec.name == "redis" else plan.url("gateway")
                    local_stack.write_url(plan.data_dir, file_name, url)
                    written.append((file_name, url))
            print_urls(plan, stack, specs)
            stack.wait()
        except KeyboardInterrupt:
            print("\nstopping…", flush=True)
        except StackError as error:
            print(f"mmx up: {error}", file=sys.stderr, flush=True)
            code = 1
        finally:
            stack.stop()
            for file_name, url in written:
                local_stack.remove_url(plan.data_dir, file_name, url)
            print("stopped.", flush=True)
    return code


def _int_env(name: str) -> int | None:
    value = os.environ.get(name)
    return int(value) if value else None


def register(commands: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    """Add `up` to the `mmx` command."""
    up = commands.add_parser(
        "up",
        help="run the local stack until Ctrl-C",
        description="Run Redis (unless REDIS_URL is set), the simulator, the five services "
        "and a demo strategy.",
    )
    up.add_argument("--host", default="127.0.0.1", help="listen address of every component")
    up.add_argument(
        "--data-dir",
        default=local_stack.DEFAULT_DATA_DIR,
        help="Redis data (AOF), the simulator's state, the audit archive and logs, kept "
        "between runs "
        f"(default: ./{local_stack.DEFAULT_DATA_DIR})",
    )
    up.add_argument(
        "--fresh",
        action="store_true",
        help="remove the Redis data and the simulator state of earlier runs first (not the logs)",
    )
    up.add_argument(
        "--base-port",
        type=int,
        default=_int_env("MMX_UP_BASE_PORT"),
        help="gateway on P, venue-sim P+1, router P+2, risk P+3, positions P+4, archive P+5 "
        "(env MMX_UP_BASE_PORT; default: 8080, 8090, 9101, 9102, 9103, 9104)",
    )
    for name in MODULES:
        up.add_argument(f"--{name}-port", type=int, help=f"{name}'s port (overrides --base-port)")
    up.add_argument(
        "--redis-port",
        type=int,
        help=f"embedded Redis port (default {REDIS_DEFAULT_PORT}, a free one if that is taken)",
    )
    up.add_argument(
        "--venues",
        help="the venues to trade, comma-separated: bybit, binance-usdm (env MMX_VENUES; "
        "default bybit); with binance-usdm its simulator runs too, on 8091 (--base-port P: P+6)",
    )
    up.add_argument("--no-demo", action="store_true", help="do not start the demo quoter")
    up.add_argument(
        "--with-prometheus",
        action="store_true",
        help="also run Prometheus (from PATH) scraping every service, with the alert rules",
    )
    up.add_argument("--prometheus-port", type=int, help="Prometheus's port (default: a free one)")
    up.set_defaults(func=_up)
