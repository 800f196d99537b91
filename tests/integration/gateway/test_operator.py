"""The operator verbs (`mmx status`, `orders`, `positions`, `freeze`, `unfreeze`) against a
live gateway over HTTP."""

from __future__ import annotations

import argparse

import pytest

from services.operator import (
    GatewayClient,
    OperatorError,
    freeze_text,
    orders_text,
    positions_text,
    register,
    status_text,
    unfreeze_text,
)
from tests.integration.gateway.conftest import LiveGateway

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
