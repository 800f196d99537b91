"""The whole mmx stack as real processes, for end-to-end tests.

    stack = E2EStack(redis_url, sim, log_dir)
    await stack.start(routers=3)            # risk, N routers, positions, gateway, archive; /ready
    reply = await stack.gateway.place(symbol="BTCUSDT", side="Buy", qty="0.001", price="60000")
    await wait_for(probe, what="the order rests at the venue")   # probe: async, truthy when done
    stack.routers[0].kill()                 # SIGKILL
    demo = stack.spawn_demo("--interval", "0.2")                 # examples/demo_quoter.py
    await stack.stop()                      # demos, then services: SIGTERM, then SIGKILL, by pid

Every service runs as `python -m services.<name> --port <free port>` with REDIS_URL, the
simulator's URL and keys, and short intervals (leases, reconciliation, pending checks) so
that recovery happens within a test's time. Gateway auth is on: `start` writes an operator
key for the tests' client ("e2e") and a trader key for the demo ("demo") into Redis.
"""

from __future__ import annotations

import asyncio
import os
import signal
import subprocess
import sys
import time
from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass, field
from decimal import Decimal
from pathlib import Path
from typing import Any, TypeVar

import httpx
from prometheus_client.parser import text_string_to_metric_families

from libs.common.api_keys import ApiKeyRecord, RedisApiKeyStore, Role, issue_key
from libs.common.domain.ids import Symbol
from libs.common.redis_connect import redis_from_url
from libs.common.redis_server import free_port
from libs.common.stores.marks import Mark, RedisMarkStore
from tests.simulator import REPO_ROOT, SimProcess

T = TypeVar("T")

SERVICES = ("risk", "router", "positions", "gateway", "archive")
SERVICE_ENV: Mapping[str, Mapping[str, str]] = {
    "gateway": {"MMX_GATEWAY_UNFREEZE_COOLDOWN_S": "0"},
    "risk": {"MMX_RISK_CLAIM_IDLE_MS": "2000", "MMX_RISK_REFRESH_INTERVAL_S": "0.5"},
    "router": {
        "MMX_ROUTER_LEASE_TTL_S": "1.5",
        "MMX_ROUTER_RECONCILE_INTERVAL_S": "1",
        "MMX_ROUTER_PENDING_CHECK_S": "1",
        "MMX_ROUTER_VENUE_PROBE_INTERVAL_S": "1",
        "MMX_ROUTER_RATE_LIMIT_PER_S": "1000",
        "MMX_ROUTER_RATE_LIMITS": '{"query": 1000}',
    },
    "positions": {
        "MMX_POSITIONS_SYMBOLS": "BTCUSDT,ETHUSDT,SOLUSDT",
        "MMX_POSITIONS_LEASE_TTL_MS": "1500",
        "MMX_POSITIONS_RECONCILE_INTERVAL_S": "1",
        "MMX_POSITIONS_MARK_UPDATE_INTERVAL_S": "0.2",
        "MMX_POSITIONS_CLAIM_IDLE_MS": "2000",
        "MMX_POSITIONS_REFRESH_INTERVAL_S": "0.5",
    },
    # Into `<log dir>/archive` unless a test names a bucket (MMX_ARCHIVE_DIR "" and
    # MMX_ARCHIVE_BUCKET ...).
    "archive": {"MMX_ARCHIVE_FLUSH_INTERVAL_S": "0.2", "MMX_ARCHIVE_CLAIM_IDLE_MS": "2000"},
}
"""Per-service settings for tests (short intervals); a test may override any of them."""
READY_TIMEOUT_S = 30.0


async def wait_for(
    probe: Callable[[], Awaitable[T | None]],
    *,
    what: str,
    timeout_s: float = 10.0,
    interval_s: float = 0.05,
) -> T:
    """Poll `probe` until it returns something truthy; return that, or fail naming `what`."""
    deadline = time.monotonic() + timeout_s
    while True:
        value = await probe()
        if value:
            return value
        if time.monotonic() > deadline:
            raise AssertionError(
                f"timed out after {timeout_s} s waiting for {what} (last: {value})"
            )
        await asyncio.sleep(interval_s)


@dataclass
class ServiceProcess:
    """One service process, known by its pid."""

    service: str
    name: str
    port: int
    proc: subprocess.Popen[bytes]
    log_path: Path

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    @property
    def alive(self) -> bool:
        return self.proc.poll() is None

    def kill(self) -> None:
        """SIGKILL: the process dies without any clean-up."""
        if self.alive:
            self.proc.send_signal(signal.SIGKILL)
        self.proc.wait(timeout=10)

    def stop(self, grace_s: float = 10.0) -> None:
        """SIGTERM, then SIGKILL after `grace_s`."""
        if self.alive:
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(timeout=grace_s)
            except subprocess.TimeoutExpired:
                self.kill()

    def log_tail(self, chars: int = 6000) -> str:
        text = self.log_path.read_text(errors="replace") if self.log_path.exists() else ""
        return text[-chars:]


class GatewayClient:
    """The gateway's `/v1` API over HTTP, answering parsed JSON (raising on 5xx)."""

    def __init__(self, base_url: str, api_key: str) -> None:
        self.base_url = base_url
        self.http = httpx.AsyncClient(
            base_url=base_url, headers={"X-API-Key": api_key}, timeout=15.0
        )

    async def aclose(self) -> None:
        await self.http.aclose()

    async def call(
        self, method: str, path: str, *, json: Any = None, params: Mapping[str, Any] | None = None
    ) -> httpx.Response:
        response = await self.http.request(method, path, json=json, params=params)
        if response.status_code >= 500:
            raise AssertionError(
                f"{method} {path} answered {response.status_code}: {response.text}"
            )
        return response

    async def place(self, *, wait: bool = True, **order: Any) -> dict[str, Any]:
        """POST /v1/orders (a Limit GTC linear order unless given); the PlaceResult."""
        body = {"category": "linear", "orderType": "Limit", **order}
        response = await self.call(
            "POST", "/v1/orders", json=body, params={"wait": "true"} if wait else None
        )
        assert response.status_code in (200, 201, 202), response.text
        result: dict[str, Any] = response.json()
        return result

    async def order(self, client_order_id: str) -> dict[str, Any] | None:
        response = await self.call("GET", f"/v1/orders/{client_order_id}")
        return None if response.status_code == 404 else response.json()

    async def orders(self, **params: Any) -> list[dict[str, Any]]:
        response = await self.call("GET", "/v1/orders", params=params)
        assert response.status_code == 200, response.text
        orders: list[dict[str, Any]] = response.json()["orders"]
        return orders

    async def positions(self) -> dict[str, Any]:
        response = await self.call("GET", "/v1/positions")
        assert response.status_code == 200, response.text
        result: dict[str, Any] = response.json()
        return result

    async def risk(self) -> dict[str, Any]:
        response = await self.call("GET", "/v1/risk")
        assert response.status_code == 200, response.text
        result: dict[str, Any] = response.json()
        return result

    async def post(self, path: str, body: Mapping[str, Any]) -> httpx.Response:
        return await self.call("POST", path, json=dict(body))


@dataclass
class E2EStack:
    """Risk, router(s), positions, gateway and archive against one Redis and one simulator."""

    redis_url: str
    sim: SimProcess
    log_dir: Path
    env: dict[str, dict[str, str]] = field(default_factory=dict)
    """Per-service overrides of SERVICE_ENV."""
    processes: list[ServiceProcess] = field(default_factory=list)
    keys: dict[str, str] = field(default_factory=dict)
    """Gateway API keys issued for the test, by holder: "e2e" (operator), "demo" (trader)."""
    _gateway: GatewayClient | None = None

    @property
    def gateway(self) -> GatewayClient:
        assert self._gateway is not None, "the stack has no gateway: call start() first"
        return self._gateway

    @property
    def routers(self) -> list[ServiceProcess]:
        return [p for p in self.processes if p.service == "router"]

    def service(self, service: str) -> ServiceProcess:
        return next(p for p in self.processes if p.service == service and p.alive)

    def _env(self, service: str, extra: Mapping[str, str] | None) -> dict[str, str]:
        return {
            **os.environ,
            "PYTHONUNBUFFERED": "1",
            "REDIS_URL": self.redis_url,
            "MMX_VENUE": "sim",
            "MMX_VENUE_URL": self.sim.base_url,
            "MMX_API_KEY": self.sim.api_key,
            "MMX_API_SECRET": self.sim.api_secret,
            **({"MMX_ARCHIVE_DIR": str(self.log_dir / "archive")} if service == "archive" else {}),
            **SERVICE_ENV[service],
            **self.env.get(service, {}),
            **(extra or {}),
        }

    def spawn(self, service: str, env: Mapping[str, str] | None = None) -> ServiceProcess:
        """Start one process of `service` on a free port (not waited for)."""
        index = sum(1 for p in self.processes if p.service == service) + 1
        name = f"{service}-{index}"
        # A sibling not listening yet does not hold its port: the OS may hand it out again
        # (a run saw risk and the gateway given one port, and the fuzz reach risk's API).
        promised = {p.port for p in self.processes}
        port = free_port()
        while port in promised:
            port = free_port()
        log_path = self.log_dir / f"{name}.log"
        with log_path.open("ab") as log:
            proc = subprocess.Popen(
                [sys.executable, "-m", f"services.{service}", "--port", str(port)],
                cwd=REPO_ROOT,
                env=self._env(service, env),
                stdin=subprocess.DEVNULL,
                stdout=log,
                stderr=subprocess.STDOUT,
            )
        process = ServiceProcess(service, name, port, proc, log_path)
        self.processes.append(process)
        return process

    def spawn_demo(self, *args: str) -> ServiceProcess:
        """Run the demo quoter (`python -m examples.demo_quoter`) against this stack."""
        name = f"demo-quoter-{sum(1 for p in self.processes if p.service == 'demo') + 1}"
        log_path = self.log_dir / f"{name}.log"
        argv = [sys.executable, "-m", "examples.demo_quoter", "--gateway", self.gateway.base_url]
        with log_path.open("ab") as log:
            proc = subprocess.Popen(
                [*argv, "--venue", self.sim.base_url, *args],
                cwd=REPO_ROOT,
                env={
                    **os.environ,
                    "PYTHONUNBUFFERED": "1",
                    "MMX_API_KEY_GATEWAY": self.keys["demo"],
                },
                stdin=subprocess.DEVNULL,
                stdout=log,
                stderr=subprocess.STDOUT,
            )
        process = ServiceProcess("demo", name, 0, proc, log_path)
        self.processes.append(process)
        return process

    async def wait_ready(self, process: ServiceProcess, timeout_s: float = READY_TIMEOUT_S) -> None:
        """Wait until the process answers `/ready` with 200; fail with its log otherwise."""
        deadline = time.monotonic() + timeout_s
        last = "no answer"
        async with httpx.AsyncClient(timeout=2.0) as http:
            while time.monotonic() < deadline:
                if not process.alive:
                    raise AssertionError(
                        f"{process.name} exited with {process.proc.returncode} while starting:\n"
                        f"{process.log_tail()}"
                    )
                try:
                    response = await http.get(f"{process.url}/ready")
                    if response.status_code == 200:
                        return
                    last = f"{response.status_code} {response.text}"
                except httpx.TransportError as error:
                    last = repr(error)
                await asyncio.sleep(0.1)
        raise AssertionError(
            f"{process.name} not ready in {timeout_s} s (last: {last}):\n{process.log_tail()}"
        )

    async def start_service(
        self, service: str, env: Mapping[str, str] | None = None
    ) -> ServiceProcess:
        process = self.spawn(service, env)
        await self.wait_ready(process)
        return process

    async def connect_gateway(self, process: ServiceProcess | None = None) -> None:
        """Point `gateway` at `process` (default: the live gateway) with the "e2e" key, as
        after a restart on a new port or new keys; the old client is closed."""
        old, self._gateway = self._gateway, None
        target = process or self.service("gateway")
        self._gateway = GatewayClient(target.url, self.keys["e2e"])
        if old is not None:
            await old.aclose()

    async def issue_keys(self) -> None:
        """Write an operator key of every account ("e2e", the tests' client) and a trader key
        of the default account ("demo")."""
        client = redis_from_url(self.redis_url)
        try:
            store = RedisApiKeyStore(client)
            for name, role, accounts in (
                ("e2e", Role.OPERATOR, ("*",)),
                ("demo", Role.TRADER, ("default",)),
            ):
                issued = issue_key()
                record = ApiKeyRecord.issue(
                    issued, role, name, now_ns=time.time_ns(), accounts=accounts
                )
                await store.create(record)
                self.keys[name] = issued.key
        finally:
            await client.aclose()

    async def start(self, *, routers: int = 1) -> E2EStack:
        """Start every service (N routers), all at once, and wait until each is ready."""
        self.log_dir.mkdir(parents=True, exist_ok=True)
        await self.issue_keys()
        started = [self.spawn("risk"), *(self.spawn("router") for _ in range(routers))]
        started += [self.spawn("positions"), self.spawn("gateway"), self.spawn("archive")]
        await asyncio.gather(*(self.wait_ready(p) for p in started))
        await self.connect_gateway()
        return self

    async def metric_samples(
        self, sample: str, *, service: str | None = None, **labels: str
    ) -> list[tuple[str, dict[str, str], float]]:
        """Every `sample` series of every live process (of `service`): (process, labels, value)."""
        found: list[tuple[str, dict[str, str], float]] = []
        async with httpx.AsyncClient(timeout=5.0) as http:
            for process in self.processes:
                if not process.port or not process.alive or service not in (None, process.service):
                    continue
                text = (await http.get(f"{process.url}/metrics")).text
                for family in text_string_to_metric_families(text):
                    found += [
                        (process.name, s.labels, s.value)
                        for s in family.samples
                        if s.name == sample and labels.items() <= s.labels.items()
                    ]
        return found

    async def metric_total(self, sample: str, **labels: str) -> float:
        """`sample` (e.g. "freeze_triggered_total") summed over every live process's /metrics."""
        return sum(value for _, _, value in await self.metric_samples(sample, **labels))

    async def set_mid(self, symbol: str, price: str) -> None:
        """Move the simulator's mid, then wait until risk's mark has followed it."""
        await self.sim.control("mid", {"symbol": symbol, "price": price})
        await self.wait_mark(symbol, price)

    async def wait_mark(self, symbol: str, price: str, timeout_s: float = 10.0) -> None:
        """Wait until the mark store holds a fresh mark for `symbol` within 10 bps of `price`.

        Read from Redis, not through `/v1/risk/simulate`: simulate also denies for a freeze,
        which a test may have provoked meanwhile, though the mark is there."""
        target = Decimal(price)
        client = redis_from_url(self.redis_url)
        marks = RedisMarkStore(client)

        async def near() -> Mark | None:
            mark = await marks.get(Symbol(symbol))
            if mark is None or time.time_ns() - mark.seen_ns > 10 * 1_000_000_000:
                return None
            reference = mark.mid or mark.mark
            return mark if abs(reference - target) <= target * Decimal("0.001") else None

        try:
            await wait_for(near, what=f"a mark for {symbol} near {price}", timeout_s=timeout_s)
        finally:
            await client.aclose()

    async def set_limits(self, **limits: Any) -> dict[str, Any]:
        """PUT /v1/risk/limits with camelCase fields; the limits now live."""
        response = await self.gateway.call("PUT", "/v1/risk/limits", json=limits)
        assert response.status_code == 200, response.text
        result: dict[str, Any] = response.json()
        return result

    async def venue_open_orders(self, symbol: str | None = None) -> list[dict[str, Any]]:
        """Orders open at the simulator (New / PartiallyFilled), of one symbol or of all."""
        return [
            o
            for o in await self.sim.orders()
            if o["orderStatus"] in ("New", "PartiallyFilled") and symbol in (None, o["symbol"])
        ]

    async def stop(self) -> None:
        """Stop the demo quoters first (they cancel through the gateway), then every service,
        by pid; close the client."""
        for demo in (p for p in self.processes if p.service == "demo"):
            await asyncio.to_thread(demo.stop)
        if self._gateway is not None:
            await self._gateway.aclose()
            self._gateway = None
        await asyncio.gather(*(asyncio.to_thread(p.stop) for p in self.processes))

    def logs(self) -> str:
        """The tail of every process's log, for a failed test's report."""
        parts = [
            f"===== {p.name} (port {p.port}, pid {p.proc.pid}, "
            f"exit {p.proc.returncode})\n{p.log_tail()}"
            for p in self.processes
        ]
        parts.append(f"===== venue-sim\n{self.sim.log_path.read_text(errors='replace')[-4000:]}")
        return "\n".join(parts)
