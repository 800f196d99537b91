"""Redis with a password, an ACL user and TLS, all through `REDIS_URL`.

Each test starts its own redis-server on a free port (stopped by its pid): one with
`requirepass` plus a least-privilege ACL user `mmx` (every key, no @dangerous command), and
one serving TLS only, with a CA and a server certificate made here with `openssl`. Through
the URL alone the bus (publish, consumer group, ack), the stores (Lua scripts) and a whole
service (the gateway's lifespan, an API key, an order) must work; a wrong password must not.
"""

from __future__ import annotations

import asyncio
import shutil
import socket
import subprocess
import time
from collections.abc import AsyncIterator, Iterator
from dataclasses import dataclass
from decimal import Decimal
from pathlib import Path

import httpx
import pytest
import redis.asyncio as aioredis
from redis.exceptions import AuthenticationError, NoPermissionError
from redis.exceptions import ConnectionError as RedisConnectionError
from redis.exceptions import TimeoutError as RedisTimeoutError

from libs.common import topology
from libs.common.api_keys import ApiKeyRecord, RedisApiKeyStore, Role, issue_key
from libs.common.bus import Ack, Bus, ConsumerSpec, Delivery, ensure_groups
from libs.common.domain.enums import OrderType, Side
from libs.common.domain.ids import DEFAULT_ACCOUNT, ClientOrderId, Symbol
from libs.common.domain.risk_checks import TradingState
from libs.common.messages import Envelope, PlaceOrder
from libs.common.redis_server import free_port
from libs.common.service import EnvelopeCodec
from libs.common.stores import RedisOrderStore, RedisRiskStateStore
from services.gateway.app import create_app
from services.gateway.settings import GatewaySettings

pytestmark = pytest.mark.integration

PASSWORD = "default-pass-7c1e9b"
ACL_USER, ACL_PASSWORD = "mmx", "acl-pass-3f08d2"
ACL_RULE = f"{ACL_USER} on >{ACL_PASSWORD} ~* &* +@all -@dangerous"
"""What a deployment would give mmx: every key and channel, no FLUSHALL / CONFIG / KEYS /
DEBUG / ... . Streams are not under one prefix, hence `~*`."""


@dataclass
class Server:
    process: subprocess.Popen[bytes]
    port: int
    log: Path

    def stop(self) -> None:
        if self.process.poll() is None:
            self.process.terminate()
            try:
                self.process.wait(timeout=10)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait()


def start_server(workdir: Path, *args: str) -> Server:
    """redis-server with `args` on 127.0.0.1, no persistence; waits until its port listens."""
    binary = shutil.which("redis-server")
    if binary is None:
        pytest.fail("redis-server is not on PATH (`make system-deps` installs it)")
    log = workdir / "redis.log"
    port = free_port()
    argv = [binary, "--bind", "127.0.0.1", "--save", "", "--appendonly", "no",
            "--dir", str(workdir), "--logfile", str(log), *args]  # fmt: skip
    argv = [a.replace("{port}", str(port)) for a in argv]
    process = subprocess.Popen(argv, stdout=subprocess.DEVNULL, stderr=subprocess.STDOUT)
    server = Server(process, port, log)
    deadline = time.monotonic() + 10
    while time.monotonic() < deadline:
        if process.poll() is not None:
            pytest.fail(f"redis-server exited with {process.returncode}: {log.read_text()}")
        try:
            with socket.create_connection(("127.0.0.1", port), timeout=0.2):
                return server
        except OSError:
            time.sleep(0.02)
    server.stop()
    pytest.fail(f"redis-server did not listen on {port} within 10 s")


@pytest.fixture
def password_server(tmp_path: Path) -> Iterator[Server]:
    server = start_server(
        tmp_path, "--port", "{port}", "--requirepass", PASSWORD, "--user", *ACL_RULE.split()
    )
    yield server
    server.stop()


@dataclass
class Certificates:
    ca: Path
    cert: Path
    key: Path


def make_certificates(workdir: Path) -> Certificates:
    """A throwaway CA and a server certificate for 127.0.0.1 signed by it."""

    def openssl(*args: str) -> None:
        subprocess.run(["openssl", *args], cwd=workdir, check=True, capture_output=True)

    openssl("req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days", "1",
            "-keyout", "ca.key", "-out", "ca.crt", "-subj", "/CN=mmx test CA")  # fmt: skip
    openssl("req", "-newkey", "rsa:2048", "-nodes", "-keyout", "server.key",
            "-out", "server.csr", "-subj", "/CN=127.0.0.1")  # fmt: skip
    (workdir / "san.ext").write_text("subjectAltName=IP:127.0.0.1,DNS:localhost\n")
    openssl("x509", "-req", "-in", "server.csr", "-CA", "ca.crt", "-CAkey", "ca.key",
            "-CAcreateserial", "-days", "1", "-out", "server.crt",
            "-extfile", "san.ext")  # fmt: skip
    return Certificates(workdir / "ca.crt", workdir / "server.crt", workdir / "server.key")


@pytest.fixture
def tls_server(tmp_path: Path) -> Iterator[tuple[Server, Certificates]]:
    """redis-server answering TLS only (`--port 0`), clients not asked for certificates."""
    if shutil.which("openssl") is None:
        pytest.fail("openssl is not on PATH: it makes the test certificates")
    certs = make_certificates(tmp_path)
    server = start_server(
        tmp_path,
        "--port", "0", "--tls-port", "{port}",
        "--tls-cert-file", str(certs.cert), "--tls-key-file", str(certs.key),
        "--tls-ca-cert-file", str(certs.ca), "--tls-auth-clients", "no",
        "--requirepass", PASSWORD,
    )  # fmt: skip
    yield server, certs
    server.stop()


def url(server: Server, user: str = "", password: str = PASSWORD) -> str:
    return f"redis://{user}:{password}@127.0.0.1:{server.port}/0"


def tls_url(server: Server, certs: Certificates) -> str:
    query = f"ssl_cert_reqs=required&ssl_ca_certs={certs.ca}"
    return f"rediss://:{PASSWORD}@127.0.0.1:{server.port}/0?{query}"


@pytest.fixture
async def client_for() -> AsyncIterator[list[aioredis.Redis]]:
    made: list[aioredis.Redis] = []
    yield made
    for client in made:
        await client.aclose()


def bid(cid: str) -> PlaceOrder:
    return PlaceOrder(
        client_order_id=ClientOrderId(cid),
        symbol=Symbol("BTCUSDT"),
        side=Side.BUY,
        order_type=OrderType.LIMIT,
        qty=Decimal("0.001"),
        price=Decimal("60000"),
    )


async def bus_and_stores_work(redis: aioredis.Redis) -> None:
    """A consumer group round trip, Lua-scripted store writes, and an API key record."""
    await ensure_groups(redis, topology.consumed([DEFAULT_ACCOUNT]))
    bus = Bus(redis, EnvelopeCodec())
    seen: list[Delivery[Envelope]] = []

    async def handle(delivery: Delivery[Envelope]) -> None:
        seen.append(delivery)

    spec = ConsumerSpec(
        stream=topology.ORDERS_REQUESTS.of(DEFAULT_ACCOUNT),
        group=topology.Group.RISK,
        ack=Ack.BATCH,
        consumer="auth-test",
        block_ms=20,
    )
    consumer = bus.consumer(spec, handle)
    await consumer.start()
    try:
        await bus.publish(topology.ORDERS_REQUESTS.of(DEFAULT_ACCOUNT), Envelope.wrap(bid("tls-1")))
        for _ in range(250):
            if seen:
                break
            await asyncio.sleep(0.02)
    finally:
        await consumer.stop()
    assert [d.message.open_as(PlaceOrder).client_order_id for d in seen] == ["tls-1"]
    pending = await redis.xpending(
        topology.ORDERS_REQUESTS.of(DEFAULT_ACCOUNT).name, topology.Group.RISK.value
    )
    assert pending["pending"] == 0

    orders = RedisOrderStore(redis)
    created, _ = await orders.create(bid("tls-2").to_order(time.time_ns()))
    assert await orders.get(ClientOrderId("tls-2")) == created
    risk = RedisRiskStateStore(redis)
    assert (await risk.freeze("drill", "test", time.time_ns())).changed
    assert (await risk.trading_state()).state is TradingState.FROZEN
    record = ApiKeyRecord.issue(issue_key(), Role.VIEWER, "grafana", now_ns=time.time_ns())
    assert await RedisApiKeyStore(redis).create(record)


async def gateway_works(redis_url: str) -> None:
    """The service kit builds its client from the URL: lifespan, /ready, a keyed order."""
    issued = issue_key()
    settings = GatewaySettings(redis_url=redis_url, port=0, auth="required")
    app = create_app(settings)
    async with app.router.lifespan_context(app):
        runtime = app.state.runtime
        record = ApiKeyRecord.issue(issued, Role.TRADER, "strat-1", now_ns=time.time_ns())
        assert await RedisApiKeyStore(runtime.redis).create(record)
        transport = httpx.ASGITransport(app=app)
        async with httpx.AsyncClient(transport=transport, base_url="http://gw") as http:
            ready = await http.get("/ready")
            placed = await http.post(
                "/v1/orders",
                json={"symbol": "BTCUSDT", "side": "Buy", "orderType": "Limit",
                      "qty": "0.001", "price": "60000", "clientOrderId": "gw-1"},
                headers={"X-API-Key": issued.key},
            )  # fmt: skip
    assert ready.status_code == 200, ready.text
    assert placed.status_code == 202, placed.text


async def test_the_default_user_with_a_password_runs_bus_stores_and_a_service(
    password_server: Server, client_for: list[aioredis.Redis]
) -> None:
    client = aioredis.Redis.from_url(url(password_server))
    client_for.append(client)

    await bus_and_stores_work(client)
    await gateway_works(url(password_server))


async def test_a_least_privilege_acl_user_runs_bus_stores_and_a_service(
    password_server: Server, client_for: list[aioredis.Redis]
) -> None:
    client = aioredis.Redis.from_url(url(password_server, ACL_USER, ACL_PASSWORD))
    client_for.append(client)

    await bus_and_stores_work(client)
    await gateway_works(url(password_server, ACL_USER, ACL_PASSWORD))
    with pytest.raises(NoPermissionError):
        await client.flushall()


async def test_a_wrong_password_stops_the_service_without_showing_the_password(
    password_server: Server,
) -> None:
    wrong = "wrong-pass-91aa"
    app = create_app(GatewaySettings(redis_url=url(password_server, "", wrong), port=0))

    with pytest.raises(AuthenticationError) as refused:
        async with app.router.lifespan_context(app):
            pass

    assert wrong not in str(refused.value)
    assert wrong not in repr(refused.value)


async def test_tls_with_a_verified_certificate_runs_bus_stores_and_a_service(
    tls_server: tuple[Server, Certificates], client_for: list[aioredis.Redis]
) -> None:
    server, certs = tls_server
    client = aioredis.Redis.from_url(tls_url(server, certs))
    client_for.append(client)

    await bus_and_stores_work(client)
    await gateway_works(tls_url(server, certs))


async def test_tls_refuses_a_server_whose_certificate_is_not_trusted(
    tls_server: tuple[Server, Certificates], tmp_path: Path, client_for: list[aioredis.Redis]
) -> None:
    server, _ = tls_server
    (tmp_path / "other").mkdir()
    other = make_certificates(tmp_path / "other")
    client = aioredis.Redis.from_url(tls_url(server, other))
    client_for.append(client)

    with pytest.raises(RedisConnectionError, match="CERTIFICATE_VERIFY_FAILED"):
        await client.ping()


async def test_plain_tcp_to_a_tls_only_server_gets_nothing(
    tls_server: tuple[Server, Certificates], client_for: list[aioredis.Redis]
) -> None:
    server, _ = tls_server
    client = aioredis.Redis.from_url(url(server), socket_timeout=2, socket_connect_timeout=2)
    client_for.append(client)

    with pytest.raises((RedisConnectionError, RedisTimeoutError)):  # no TLS handshake: dropped
        await client.ping()
