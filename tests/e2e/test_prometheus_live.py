"""A real Prometheus scraping the whole stack while the demo quoter trades: every dashboard
panel's query and every alert expression evaluates without error, every panel has data, a
manual freeze raises SystemFrozen, and counters summed over two routers count each fill once.

Prometheus comes from PATH (`make system-deps` installs it with promtool); missing, the test
fails: a dashboard nobody evaluated is how an empty panel reaches the desk.
"""

from __future__ import annotations

import asyncio
import json
import re
import time
from collections.abc import Iterator
from decimal import Decimal
from pathlib import Path
from typing import Any

import httpx
import pytest
import yaml

from services import local_prometheus
from services.stack import ProcessSpec, Stack, free_port
from tests.e2e.conftest import StackFactory
from tests.e2e.harness import E2EStack, wait_for

pytestmark = [pytest.mark.e2e, pytest.mark.timeout(150)]

REPO = Path(__file__).resolve().parents[2]
DASHBOARDS = sorted((REPO / "deploy" / "grafana" / "dashboards").glob("*.json"))
ALERTS = REPO / "deploy" / "prometheus" / "alerts.yml"
VENUE_PROBE = "/v5/market/time"
MIDS = {"BTCUSDT": Decimal(60000), "ETHUSDT": Decimal(3000)}
GRAFANA_VARIABLES = {
    "$__rate_interval": "30s",
    "$__interval": "30s",
    "$__range": "5m",
    "$symbol": "BTCUSDT",
}
FAST = {  # every service refreshes its stream gauges each 0.5 s
    service: {f"MMX_{service.upper()}_STREAM_HEALTH_INTERVAL_S": "0.5"}
    for service in ("risk", "router", "positions", "gateway", "archive")
}


def dashboard_queries() -> Iterator[tuple[str, str]]:
    """(dashboard / panel title, PromQL with Grafana's variables substituted)."""
    for path in DASHBOARDS:
        dashboard = json.loads(path.read_text())

        yield from _panel_queries(path.stem, dashboard["panels"])


def _panel_queries(dashboard: str, panels: list[dict[str, Any]]) -> Iterator[tuple[str, str]]:
    for panel in panels:
        yield from _panel_queries(dashboard, panel.get("panels", []))
        for target in panel.get("targets", []):
            if expr := target.get("expr"):
                yield f"{dashboard} / {panel.get('title')}", substitute(expr)


def substitute(expr: str) -> str:
    for name, value in sorted(GRAFANA_VARIABLES.items(), key=lambda kv: -len(kv[0])):
        expr = expr.replace(name, value)
    leftover = re.findall(r"\$\w+", expr)
    assert not leftover, f"unknown Grafana variables {leftover} in {expr}"
    return expr


def alert_rules() -> list[tuple[str, str]]:
    groups = yaml.safe_load(ALERTS.read_text())["groups"]
    return [(rule["alert"], rule["expr"]) for group in groups for rule in group["rules"]]


class Prom:
    def __init__(self, url: str) -> None:
        self.http = httpx.AsyncClient(base_url=url, timeout=5.0)

    async def query(self, expr: str) -> list[dict[str, Any]]:
        response = await self.http.get("/api/v1/query", params={"query": expr})
        body = response.json()
        assert response.status_code == 200 and body["status"] == "success", (expr, body)
        result: list[dict[str, Any]] = body["data"]["result"]
        return result

    async def alerts(self) -> list[dict[str, Any]]:
        alerts: list[dict[str, Any]] = (await self.http.get("/api/v1/alerts")).json()["data"][
            "alerts"
        ]
        return alerts


async def _quotes(stack: E2EStack) -> dict[tuple[str, str], dict[str, Any]] | None:
    orders = [o for o in await stack.venue_open_orders() if o["orderLinkId"].startswith("demo-")]
    quotes = {(o["symbol"], o["side"]): o for o in orders}
    return quotes if len(quotes) == 4 else None


async def _trade_through_quotes(stack: E2EStack, rounds: int) -> None:
    """Public trades at the demo's bid and ask: each fills one resting quote."""
    for _ in range(rounds):
        quotes = await wait_for(lambda: _quotes(stack), what="two-sided demo quotes")
        for (symbol, _side), order in quotes.items():
            await stack.sim.control(
                "trade", {"symbol": symbol, "price": order["price"], "qty": order["qty"]}
            )
        await asyncio.sleep(0.3)


async def _venue_filled(stack: E2EStack) -> int:
    return sum(1 for o in await stack.sim.orders() if o["orderStatus"] == "Filled")


async def test_every_panel_and_alert_evaluates_on_live_prometheus_and_freeze_alerts(
    make_stack: StackFactory, tmp_path: Path
) -> None:
    binary = local_prometheus.find_prometheus()
    assert binary, "no `prometheus` on PATH: run `make system-deps` (Debian package prometheus)"
    stack = await make_stack(routers=2, env=FAST)
    for symbol, mid in MIDS.items():
        await stack.set_mid(symbol, str(mid))
    # A scaling rule on volatility (a reference no market here reaches: nothing tightens), so
    # that realised_volatility_bps has series for its panel.
    calm = {"volatility": {"limits": ["max_order_notional"], "referenceBps": "10000"}}
    await stack.set_limits(edgeFreezeThresholdBps="0", scaling=calm)
    stack.spawn_demo("--interval", "0.2", "--edge-every", "0.5")
    await wait_for(lambda: _quotes(stack), what="two-sided demo quotes", timeout_s=20)

    targets: dict[str, list[str]] = {}
    for process in stack.processes:
        if process.port:
            targets.setdefault(process.service, []).append(f"127.0.0.1:{process.port}")
    config = local_prometheus.write_config(
        tmp_path / "prometheus.yml", targets, scrape_interval_s=1, evaluation_interval_s=1
    )
    port = free_port()
    spec: ProcessSpec = local_prometheus.prometheus_spec(
        binary=binary, host="127.0.0.1", port=port, config=config, data_dir=tmp_path / "tsdb"
    )
    processes = Stack(log_dir=tmp_path / "prometheus-logs")
    prom = Prom(f"http://127.0.0.1:{port}")
    try:
        await asyncio.to_thread(processes.start, spec)

        async def all_up() -> bool:
            up = await prom.query("up")
            return len(up) == 6 and all(s["value"][1] == "1" for s in up)

        await wait_for(all_up, what="every service scraped and up", timeout_s=15)

        # Activity for the rate panels: fills on both sides, a denial, a venue error.
        await _trade_through_quotes(stack, rounds=3)
        denied = await stack.gateway.place(
            symbol="BTCUSDT", side="Buy", qty="1000", price=str(MIDS["BTCUSDT"])
        )
        assert denied["outcome"] == "denied", denied
        # One 5xx on the routers' venue probe (only they call /v5/market/time), seen by
        # Prometheus before the panels are read, so that it is inside their rate window.
        await stack.sim.control("faults", {"http5xx_next": 1, "paths": [VENUE_PROBE]})

        async def venue_error_scraped() -> bool:
            return bool(await prom.query('venue_request_seconds_count{ret_code!="0"}'))

        await wait_for(venue_error_scraped, what="a venue 5xx in Prometheus", timeout_s=10)
        await _trade_through_quotes(stack, rounds=2)

        panels = list(dashboard_queries())
        rules = alert_rules()
        empty: list[str] = []

        async def every_panel_has_data() -> bool:
            empty.clear()
            for title, expr in panels:
                if not await prom.query(expr):
                    empty.append(f"{title}: {expr}")
            return not empty

        try:
            await wait_for(every_panel_has_data, what="data in every panel", timeout_s=30)
        except AssertionError:
            pytest.fail("panels without data:\n" + "\n".join(empty))
        for _name, expr in rules:
            await prom.query(expr)  # evaluates without error (data or not)
        print(
            f"\nlive Prometheus: {len(panels)} panel queries, all with data; "
            f"{len(rules)} alert expressions evaluated"
        )

        # N routers: each fill counted once across instances.
        response = await stack.gateway.post("/v1/risk/freeze", {"reason": "e2e: alert check"})
        assert response.status_code in (200, 201, 202), response.text

        async def counted_once() -> tuple[float, int] | None:
            counted = await stack.metric_total("orders_filled_total")
            filled = await _venue_filled(stack)
            return (counted, filled) if filled and counted == filled else None

        counted, filled = await wait_for(
            counted_once, what="orders_filled_total over 2 routers == venue fills", timeout_s=15
        )
        per_router = await stack.metric_samples("orders_filled_total", service="router")
        assert {name for name, _, _ in per_router} == {"router-1", "router-2"}

        async def frozen_alert() -> dict[str, Any] | None:
            return next(
                (
                    a
                    for a in await prom.alerts()
                    if a["labels"]["alertname"] == "SystemFrozen"
                    and a["state"] in ("pending", "firing")
                ),
                None,
            )

        alert = await wait_for(frozen_alert, what="SystemFrozen pending or firing", timeout_s=15)

        async def manual_freeze_counted() -> bool:
            query = 'sum(increase(freeze_triggered_total{reason="manual"}[5m]))'
            return float((await prom.query(query))[0]["value"][1]) > 0

        await wait_for(manual_freeze_counted, what="the manual freeze in Prometheus", timeout_s=10)
        print(
            f"fills: {filled} at the venue, orders_filled_total summed over 2 routers: "
            f"{counted:.0f}; SystemFrozen {alert['state']} at {time.strftime('%T')}"
        )
    finally:
        await prom.http.aclose()
        await asyncio.to_thread(processes.stop, grace_s=5.0)
