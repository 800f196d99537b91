"""The operator verbs (`mmx status`, `orders`, `positions`, `freeze`, `unfreeze`) against a
live gateway over HTTP."""

from __future__ import annotations

import argparse
from pathlib import Path

import pytest

from services.operator import (
    GatewayClient,
    OperatorError,
    freeze_text,
    limits_text,
    orders_text,
    positions_text,
    register,
    status_text,
    unfreeze_text,
)
from tests.integration.gateway.conftest import LiveGateway, gateway_settings

pytestmark = pytest.mark.integration


def mmx(*argv: str) -> int:
    parser = argparse.ArgumentParser(prog="mmx")
    register(parser.add_subparsers(dest="command", required=True))
    args = parser.parse_args(argv)
    code: int = args.func(args)
    return code


def test_freeze_then_status_shows_frozen_with_the_reason(live_gateway: LiveGateway) -> None:
    client = GatewayClient(live_gateway.url, actor="alice")

    frozen = freeze_text(client, "exchange issues")
    status = status_text(client)

    assert frozen == "trading FROZEN (epoch 1)"
    assert status.startswith("trading  FROZEN  epoch 1  since ")
    assert "by alice: manual: exchange issues" in status
    assert "maxInventoryUsd" in status and "max_total_notional" in status
    assert "ACTIVE  FROZEN  alice" in status


def test_unfreeze_within_the_cooldown_is_refused_unless_forced(live_gateway: LiveGateway) -> None:
    client = GatewayClient(live_gateway.url, actor="alice")
    freeze_text(client, "drill")

    with pytest.raises(OperatorError) as refused:
        unfreeze_text(client, "fixed")
    resumed = unfreeze_text(client, "fixed", force=True)

    assert refused.value.status == 409
    assert "cooldown: frozen 0s ago, cooldown 60s; pass force=true" in str(refused.value)
    assert resumed == "trading ACTIVE (epoch 2)"


def test_orders_and_positions_list_what_the_gateway_holds(live_gateway: LiveGateway) -> None:
    client = GatewayClient(live_gateway.url)
    body = {"symbol": "BTCUSDT", "side": "Buy", "orderType": "Limit", "qty": "0.5",
            "price": "60000", "clientOrderId": "cli-1"}  # fmt: skip
    client.post("/v1/orders", body)

    orders = orders_text(client, "BTCUSDT")
    positions = positions_text(client)

    assert "cli-1" in orders and "Pending" in orders and orders.endswith("1 open order(s)")
    assert positions == "  (none)\nnet P&L 0.00000000"


def test_verbs_print_and_return_their_exit_status(
    live_gateway: LiveGateway, capsys: pytest.CaptureFixture[str]
) -> None:
    url = ["--url", live_gateway.url]

    assert mmx("freeze", "--reason", "drill", *url) == 0
    assert mmx("unfreeze", "--reason", "too soon", *url) == 1
    assert mmx("unfreeze", "--reason", "forced", "--force", *url) == 0
    assert mmx("status", *url) == 0
    assert mmx("orders", *url) == 0
    assert mmx("positions", *url) == 0

    out, err = capsys.readouterr()
    assert "trading FROZEN (epoch 1)" in out
    assert "mmx: gateway answered 409: cooldown" in err
    assert "trading ACTIVE (epoch 2)" in out


def test_verbs_say_when_the_gateway_is_unreachable(capsys: pytest.CaptureFixture[str]) -> None:
    code = mmx("status", "--url", "http://127.0.0.1:9")

    assert code == 2
    assert "gateway http://127.0.0.1:9 unreachable" in capsys.readouterr().err


EXAMPLE = Path(__file__).resolve().parents[3] / "examples" / "desk-limits.yaml"


def test_limits_from_the_example_yaml_are_set_exactly_and_shown_with_their_rule(
    live_gateway: LiveGateway,
) -> None:
    client = GatewayClient(live_gateway.url, actor="alice")

    shown = limits_text(client, str(EXAMPLE))
    risk = client.get("/v1/risk")

    rule = risk["limits"]["scaling"]
    assert risk["limits"]["maxInventoryUsd"] == "10000"
    assert rule["volatility"]["floor"] == "0.25"  # the YAML float went as its text
    assert [w["name"] for w in rule["schedule"]] == [
        "funding-00",
        "funding-08",
        "funding-16",
        "weekend",
    ]
    assert "scaling rule\n  volatility:\n    limits:\n    - max_inventory_usd" in shown
    assert any(line.split() == ["maxInventoryUsd", "10000"] for line in shown.splitlines())


def test_a_bad_limits_file_is_refused_saying_why_and_nothing_changes(
    live_gateway: LiveGateway, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    url = ["--url", live_gateway.url]
    wrong = tmp_path / "wrong.yaml"
    wrong.write_text("scaling:\n  schedule:\n  - {name: w, start: '7:00', end: '08:00', "
                     "factor: 0.5, limits: [max_inventory_usd]}\n")  # fmt: skip
    listed = tmp_path / "list.yaml"
    listed.write_text("- maxInventoryUsd: 1\n")

    refused = mmx("limits", "--file", str(wrong), *url)
    err = capsys.readouterr().err
    not_a_mapping = mmx("limits", "--file", str(listed), *url)
    missing = mmx("limits", "--file", str(tmp_path / "nowhere.yaml"), *url)

    assert refused == 1 and "is not HH:MM" in err
    assert not_a_mapping == 2 and "expected a mapping of limits" in capsys.readouterr().err
    assert missing == 2
    assert GatewayClient(live_gateway.url).get("/v1/risk")["limits"]["scaling"] is None


def test_an_account_frozen_from_the_cli_shows_in_its_status_and_not_the_desks(
    redis_url: str,
    redis: object,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    monkeypatch.setenv("MMX_ACCOUNTS", "default,alpha")
    server = LiveGateway(gateway_settings(redis_url)).start()
    try:
        monkeypatch.setenv("MMX_GATEWAY_URL", server.url)
        assert mmx("freeze", "--account", "alpha", "--reason", "alpha drill") == 0
        assert mmx("status", "--account", "alpha") == 0
        alpha = capsys.readouterr().out
        assert mmx("status") == 0
        desk = capsys.readouterr().out
    finally:
        server.stop()

    assert "account alpha FROZEN (epoch 1)" in alpha
    assert "trading  ACTIVE" in alpha and "account alpha  FROZEN  epoch 1" in alpha
    assert "trading  ACTIVE" in desk and "account default  ACTIVE  epoch 0" in desk
