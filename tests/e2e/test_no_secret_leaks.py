"""No secret leaves memory: run the stack with a known venue key pair, known gateway API
keys and a Redis ACL user with a known password, trade and freeze through the gateway, then
search every log line of every process (each run at DEBUG), every metric of every /metrics,
every Redis key and value (streams entry by entry), every API answer and every WebSocket push
for them. A hit fails the test naming where it was found.

The whole stack talks to its own redis-server as the least-privilege ACL user of
docs/SECURITY.md section 10 (`redis://mmx:…@…`, no @dangerous command).

The venue pair reaches the router through libs.common.secrets (mock mode, `dev/bybit/api`);
the trader key through the secret `dev/gateway/api-keys` (its hash only); the operator key
through `mmx keys create`, whose stdout (the one place a key is meant to be shown) is the
only output not searched. Masked prefixes (`abcd…`, at most 4 characters) are allowed: the
needles are the full values.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import os
import secrets
import subprocess
import sys
from collections.abc import AsyncIterator, Iterator
from dataclasses import dataclass, field
from decimal import Decimal
from pathlib import Path
from typing import Any

import aiohttp
import httpx
import pytest
import redis.asyncio as aioredis

from libs.common.api_keys import IssuedKey, hash_secret, issue_key, parse_key
from libs.common.tasks import cancel_and_wait
from tests.e2e.conftest import SIM_LIMITS
from tests.e2e.harness import SERVICES, E2EStack, wait_for
from tests.integration.test_redis_auth_tls import ACL_PASSWORD, ACL_USER, Server, start_server
from tests.simulator import REPO_ROOT, SimProcess

pytestmark = pytest.mark.e2e

RUN = secrets.token_hex(6)
VENUE_KEY = f"leakVenueKey{RUN}"
VENUE_SECRET = f"leakVenueSecret{secrets.token_hex(16)}"
DEBUG_LOGGING = (
    "import logging\n"
    "logging.basicConfig(level=logging.DEBUG, "
    'format="%(asctime)s %(levelname)s %(name)s %(message)s")\n'
    "logging.captureWarnings(True)\n"
)
"""`sitecustomize` of every service process: the most verbose logs are the ones searched."""


@pytest.fixture
def acl_redis(tmp_path: Path) -> Iterator[str]:
    """A redis-server of its own with the mmx ACL user; its URL (the user's password in it)."""
    workdir = tmp_path / "redis"
    workdir.mkdir()
    rule = f"{ACL_USER} on >{ACL_PASSWORD} ~* &* +@all -@dangerous"
    server: Server = start_server(
        workdir, "--port", "{port}", "--requirepass", secrets.token_hex(8), "--user", *rule.split()
    )
    try:
        yield f"redis://{ACL_USER}:{ACL_PASSWORD}@127.0.0.1:{server.port}/0"
    finally:
        server.stop()


@pytest.fixture(scope="module")
def leak_sim() -> Iterator[SimProcess]:
    """A simulator that accepts only the test's venue pair."""
    sim = SimProcess(api_key=VENUE_KEY, api_secret=VENUE_SECRET, market_frozen=True).start()
    try:
        yield sim
    finally:
        sim.stop()


# -- What the test collects ----------------------------------------------------------------------


@dataclass
class Corpus:
    """Everything searched, as (where, text) pairs."""

    items: list[tuple[str, str]] = field(default_factory=list)

    def add(self, where: str, text: str) -> None:
        self.items.append((where, text))

    def texts(self, prefix: str) -> str:
        return "\n".join(text for where, text in self.items if where.startswith(prefix))

    def leaks(self, needles: dict[str, str]) -> list[str]:
        found = []
        for where, text in self.items:
            for name, needle in needles.items():
                at = text.find(needle)
                if at >= 0:
                    context = text[max(0, at - 120) : at + len(needle) + 120]
                    for other, value in needles.items():
                        context = context.replace(value, f"<{other}>")
                    found.append(f"{name} in {where}: …{context}…")
        return found


class ApiRecorder:
    """An httpx client of the gateway that keeps every answer (status, headers, body)."""

    def __init__(self, base_url: str, corpus: Corpus) -> None:
        self.corpus = corpus
        self.http = httpx.AsyncClient(
            base_url=base_url, timeout=15.0, event_hooks={"response": [self._keep]}
        )

    async def _keep(self, response: httpx.Response) -> None:
        await response.aread()
        request = response.request
        where = f"API answer {request.method} {request.url.path} {response.status_code}"
        self.corpus.add(where, f"{dict(response.headers)}\n{response.text}")

    async def call(
        self, method: str, path: str, key: IssuedKey | str | None, **kwargs: Any
    ) -> httpx.Response:
        headers = dict(kwargs.pop("headers", {}))
        if key is not None:
            headers["X-API-Key"] = key.key if isinstance(key, IssuedKey) else key
        return await self.http.request(method, path, headers=headers, **kwargs)


@contextlib.asynccontextmanager
async def stream_pushes(url: str, key: IssuedKey, corpus: Corpus) -> AsyncIterator[list[str]]:
    """The gateway's WebSocket, opened with the key in the query string; every push kept."""
    pushes: list[str] = []

    async def read(ws: aiohttp.ClientWebSocketResponse) -> None:
        async for message in ws:
            pushes.append(message.data)
            corpus.add("WebSocket push", str(message.data))

    async with (
        aiohttp.ClientSession() as session,
        session.ws_connect(f"{url}/v1/stream?apiKey={key.key}") as ws,
    ):
        reader = asyncio.create_task(read(ws))
        try:
            yield pushes
        finally:
            await cancel_and_wait(reader)


async def redis_dump(redis_url: str, corpus: Corpus) -> int:
    """Every key of the db and its value, read by type; stream entries one by one."""
    count = 0
    async with aioredis.Redis.from_url(redis_url) as client:
        async for raw_key in client.scan_iter(count=500):
            key = raw_key.decode(errors="replace")
            kind = _text(await client.type(raw_key))
            value: Any
            if kind == "string":
                value = await client.get(raw_key)
            elif kind == "hash":
                value = await client.hgetall(raw_key)
            elif kind == "set":
                value = sorted(await client.smembers(raw_key))
            elif kind == "zset":
                value = await client.zrange(raw_key, 0, -1, withscores=True)
            elif kind == "list":
                value = await client.lrange(raw_key, 0, -1)
            elif kind == "stream":
                entries: Any = await client.xrange(raw_key)
                for entry_id, fields in entries:
                    corpus.add(f"Redis stream {key} entry {_text(entry_id)}", _text(fields))
                groups = await client.xinfo_groups(raw_key)
                value = [dict(g) for g in groups]
            else:
                pytest.fail(f"Redis key {key} has type {kind}, which this test cannot read")
            corpus.add(f"Redis {kind} {key}", key + "\n" + _text(value))
            count += 1
    return count


def _text(value: Any) -> str:
    if isinstance(value, bytes):
        return value.decode(errors="replace")
    if isinstance(value, dict):
        return "\n".join(f"{_text(k)}={_text(v)}" for k, v in value.items())
    if isinstance(value, list | tuple):
        return "\n".join(_text(v) for v in value)
    return str(value)


async def metrics(stack: E2EStack, corpus: Corpus) -> None:
    async with httpx.AsyncClient(timeout=5.0) as http:
        for process in stack.processes:
            if process.port and process.alive:
                text = (await http.get(f"{process.url}/metrics")).text
                corpus.add(f"/metrics of {process.name}", text)


def logs(stack: E2EStack, sim: SimProcess, corpus: Corpus) -> None:
    for process in stack.processes:
        for number, line in enumerate(process.log_path.read_text(errors="replace").splitlines()):
            corpus.add(f"log {process.log_path.name} line {number + 1}", line)
    for number, line in enumerate(sim.log_path.read_text(errors="replace").splitlines()):
        corpus.add(f"log venue-sim line {number + 1}", line)


# -- Arranging the keys --------------------------------------------------------------------------


def create_operator_key(redis_url: str, corpus: Corpus) -> IssuedKey:
    """`mmx keys create` as an operator runs it; its stderr is searched, its stdout is the key."""
    done = subprocess.run(
        [sys.executable, "-m", "services.keys_cli", "create", "--role", "operator",
         "--name", "leak-ops"],
        cwd=REPO_ROOT,
        env={**os.environ, "REDIS_URL": redis_url},
        capture_output=True,
        text=True,
        timeout=60,
        check=True,
    )  # fmt: skip
    corpus.add("mmx keys create (stderr)", done.stderr)
    key = done.stdout.strip()
    presented = parse_key(key)
    return IssuedKey(key, presented.key_id, presented.secret)


def stack_env(tmp_path: Path, trader: IssuedKey) -> dict[str, dict[str, str]]:
    debug = tmp_path / "debug-logging"
    debug.mkdir()
    (debug / "sitecustomize.py").write_text(DEBUG_LOGGING)
    common = {
        "PYTHONPATH": os.pathsep.join([str(debug), str(REPO_ROOT)]),
        "MMX_SECRETS_ENV": "dev",
        "SECRETS_MOCK_MODE": "1",
        "BYBIT_API_KEY": VENUE_KEY,
        "BYBIT_API_SECRET": VENUE_SECRET,
    }
    entry = {"id": trader.key_id, "hash": hash_secret(trader.secret), "role": "trader",
             "name": "leak-strategy"}  # fmt: skip
    env = {service: dict(common) for service in SERVICES}
    env["gateway"] |= {
        "MMX_GATEWAY_AUTH": "required",
        "SECRETS_MOCK_DEV_GATEWAY_API_KEYS": json.dumps([entry]),
    }
    return env


# -- Driving the stack ---------------------------------------------------------------------------


def order(cid: str, price: str) -> dict[str, str]:
    return {"category": "linear", "symbol": "BTCUSDT", "side": "Buy", "orderType": "Limit",
            "qty": "0.001", "price": price, "clientOrderId": cid}  # fmt: skip


async def trade_and_freeze(
    api: ApiRecorder, stack: E2EStack, trader: IssuedKey, operator: IssuedKey
) -> IssuedKey:
    """Orders placed, amended, filled and cancelled; refused keys; a freeze and unfreeze.
    Returns the wrong key it presented."""
    await stack.sim.control("mid", {"symbol": "BTCUSDT", "price": "60000"})

    async def mark_known() -> bool:
        reply = await api.call("POST", "/v1/risk/simulate", trader, json=order("sim-1", "59000"))
        return bool(reply.json().get("approved"))

    await wait_for(mark_known, what="a BTCUSDT mark at risk")
    for cid, price in (("leak-1", "59000"), ("leak-2", "59990")):
        placed = await api.call("POST", "/v1/orders", trader, json=order(cid, price),
                                params={"wait": "true"})  # fmt: skip
        assert placed.json()["outcome"] == "accepted", placed.text
    amended = await api.call("PATCH", "/v1/orders/leak-1", trader, json={"price": "59100"})
    assert amended.status_code == 202, amended.text
    await stack.sim.control("trade", {"symbol": "BTCUSDT", "price": "59990", "qty": "0.001"})

    async def filled() -> bool:
        positions = (await api.call("GET", "/v1/positions", trader)).json()["positions"]
        return any(
            p["symbol"] == "BTCUSDT" and Decimal(p["qty"]) == Decimal("0.001") for p in positions
        )

    await wait_for(filled, what="the fill of leak-2 in the position", timeout_s=15)
    assert (await api.call("DELETE", "/v1/orders/leak-1", trader)).status_code == 202
    wrong = await refused_keys(api, trader, operator)
    rested = await api.call("POST", "/v1/orders", trader, json=order("leak-3", "59000"),
                            params={"wait": "true"})  # fmt: skip
    assert rested.json()["outcome"] == "accepted", rested.text
    frozen = await api.call("POST", "/v1/risk/freeze", operator, json={"reason": "leak drill"})
    assert frozen.status_code == 200, frozen.text
    await wait_for(_flat(stack), what="zero open orders at the venue", timeout_s=15)
    resumed = await api.call("POST", "/v1/risk/unfreeze", operator, json={"reason": "drill over"})
    assert resumed.status_code == 200, resumed.text
    flatten = await api.call("DELETE", "/v1/orders", operator,
                             params={"symbol": "BTCUSDT", "reason": "end of drill"})  # fmt: skip
    assert flatten.status_code == 202, flatten.text
    for path in ("/v1/orders", "/v1/positions", "/v1/risk", "/v1/orders/leak-2"):
        assert (await api.call("GET", path, trader)).status_code == 200
    return wrong


def _flat(stack: E2EStack) -> Any:
    async def probe() -> bool:
        return await stack.venue_open_orders() == []

    return probe


async def refused_keys(api: ApiRecorder, trader: IssuedKey, operator: IssuedKey) -> IssuedKey:
    """Keys the gateway must refuse without echoing or logging them; the wrong one is kept."""
    other = issue_key().secret
    wrong = IssuedKey(f"mmx_{trader.key_id}_{other}", trader.key_id, other)
    attempts = [
        await api.call("GET", "/v1/orders", VENUE_SECRET),  # the venue secret, pasted by mistake
        await api.call("GET", "/v1/orders", None, headers={"Authorization": f"Bearer {VENUE_KEY}"}),
        await api.call("GET", "/v1/orders", wrong),
        await api.call("GET", "/v1/orders", None, params={"apiKey": operator.key}),
        await api.call("POST", "/v1/risk/freeze", trader, json={"reason": "not mine"}),
    ]
    assert [a.status_code for a in attempts] == [401, 401, 401, 401, 403]
    return wrong


# -- The test ------------------------------------------------------------------------------------


async def test_no_secret_reaches_logs_metrics_redis_streams_or_api_answers(
    leak_sim: SimProcess, acl_redis: str, tmp_path: Path
) -> None:
    redis_url = acl_redis
    await leak_sim.control("reset", {"marketFrozen": True})
    await leak_sim.control("limits", SIM_LIMITS)
    corpus = Corpus()
    trader = issue_key()
    operator = await asyncio.to_thread(create_operator_key, redis_url, corpus)
    stack = E2EStack(redis_url, leak_sim, tmp_path / "logs", env=stack_env(tmp_path, trader))
    try:
        await stack.start()
        gateway = stack.service("gateway").url
        api = ApiRecorder(gateway, corpus)
        try:
            ws_url = gateway.replace("http://", "ws://")
            async with stream_pushes(ws_url, trader, corpus) as pushes:
                refused = await trade_and_freeze(api, stack, trader, operator)
                await asyncio.sleep(1.0)  # the last pushes, metrics and log lines
        finally:
            await api.http.aclose()
        await metrics(stack, corpus)
        keys_read = await redis_dump(redis_url, corpus)
    finally:
        await stack.stop()
    logs(stack, leak_sim, corpus)

    # The corpus is the real thing: each source holds what this run must have put there.
    assert keys_read > 20
    assert any('"type":"OrderFilled"' in p for p in pushes)
    assert f"leak-ops [{operator.key_id}]" in corpus.texts("Redis stream audit")
    assert "mmx:{default}:order:leak-2" in corpus.texts("Redis")
    gateway_log = corpus.texts("log gateway-1.log")
    assert "refused GET /v1/orders" in gateway_log
    assert '"WebSocket /v1/stream?apiKey=<redacted>" [accepted]' in gateway_log
    assert "venue credentials Credentials(api_key='leak…'" in corpus.texts("log router-1.log")
    for service in ("risk", "router", "positions", "gateway"):
        assert "freeze_triggered_total" in corpus.texts(f"/metrics of {service}-1")
    assert len([w for w, _ in corpus.items if w.startswith("API answer")]) >= 15

    harness_keys = {f"harness {n} API key": parse_key(k).secret for n, k in stack.keys.items()}
    leaks = corpus.leaks(
        {
            "venue API key": VENUE_KEY,
            "venue API secret": VENUE_SECRET,
            "operator API key": operator.secret,
            "trader API key": trader.secret,
            "refused API key": refused.secret,
            "Redis password": ACL_PASSWORD,
            **harness_keys,
        }
    )
    assert not leaks, f"{len(leaks)} secret(s) leaked:\n" + "\n".join(leaks[:50])
