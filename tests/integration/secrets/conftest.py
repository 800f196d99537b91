"""A real moto Secrets Manager server over HTTP, and clients pointed at it.

moto runs as a separate `python -m moto.server` process: the code under test talks the
AWS protocol over a socket, and moto's process-wide switches (IAM enforcement via
`/moto-api/reset-auth`, the request recorder) cannot leak into this interpreter. No moto
import happens here, so moto's own warnings never reach pytest's `filterwarnings=error`.

Requests are counted server-side with moto's recorder (`/moto-api/recorder/*`), which
appends every request it receives to a file before handling it.
"""

from __future__ import annotations

import base64
import json
import os
import socket
import subprocess
import sys
import threading
import time
import urllib.request
from collections.abc import Iterator
from contextlib import suppress
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import boto3
import pytest

from libs.common.redis_server import free_port
from libs.common.secrets import SecretsClient, SecretsSettings

REGION = "us-east-1"
PRINCIPAL = "test-router"


def _post(url: str, data: bytes = b"") -> None:
    # text/plain: moto reads the raw body; a form content type would hide it.
    request = urllib.request.Request(
        url, data=data, method="POST", headers={"Content-Type": "text/plain"}
    )
    with urllib.request.urlopen(request, timeout=5) as response:
        response.read()


@dataclass
class MotoServer:
    url: str

    def reset(self) -> None:
        """Drop every secret, user and recorded request."""
        _post(f"{self.url}/moto-api/reset")
        _post(f"{self.url}/moto-api/recorder/reset-recording")

    def enforce_iam(self, enabled: bool) -> None:
        """Make moto check signatures and identity policies of every request (or stop)."""
        _post(f"{self.url}/moto-api/reset-auth", b"0" if enabled else b"inf")

    def requests(self, target: str, secret_id: str | None = None) -> int:
        """How many `secretsmanager.<target>` requests (for `secret_id`) moto has received."""
        with urllib.request.urlopen(
            f"{self.url}/moto-api/recorder/download-recording", timeout=5
        ) as response:
            lines = response.read().decode().splitlines()
        count = 0
        for line in lines:
            entry = json.loads(line)
            if entry["headers"].get("X-Amz-Target") != f"secretsmanager.{target}":
                continue
            body = entry["body"]
            raw = base64.b64decode(body) if entry["body_encoded"] else body.encode()
            if secret_id is None or json.loads(raw).get("SecretId") == secret_id:
                count += 1
        return count


@pytest.fixture(scope="session")
def moto_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[MotoServer]:
    workdir = tmp_path_factory.mktemp("moto")
    port = free_port()
    env = {**os.environ, "MOTO_RECORDER_FILEPATH": str(workdir / "recording.jsonl")}
    with (workdir / "server.log").open("wb") as log:
        process = subprocess.Popen(
            [sys.executable, "-m", "moto.server", "-H", "127.0.0.1", "-p", str(port)],
            env=env,
            stdout=log,
            stderr=subprocess.STDOUT,
        )
        server = MotoServer(f"http://127.0.0.1:{port}")
        try:
            _wait_ready(server, process, workdir / "server.log")
            _post(f"{server.url}/moto-api/recorder/start-recording")
            yield server
        finally:
            process.terminate()
            try:
                process.wait(timeout=10)
            except subprocess.TimeoutExpired:
                process.kill()
                process.wait()


def _wait_ready(server: MotoServer, process: subprocess.Popen[bytes], log: Path) -> None:
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise RuntimeError(f"moto server exited with {process.returncode}: {log.read_text()}")
        with suppress(OSError), urllib.request.urlopen(f"{server.url}/moto-api/", timeout=1):
            return
        time.sleep(0.05)
    raise RuntimeError(f"moto server not ready after 30 s: {log.read_text()}")


@pytest.fixture(autouse=True)
def aws_env(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    """Dummy AWS identity and region; nothing may be read from this machine's ~/.aws."""
    for name in list(os.environ):
        if name.startswith(("AWS_", "SECRETS_")) or name.endswith(("_API_KEY", "_API_SECRET")):
            monkeypatch.delenv(name)
    monkeypatch.setenv("AWS_ACCESS_KEY_ID", "testing")
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", "testing")
    monkeypatch.setenv("AWS_DEFAULT_REGION", REGION)
    monkeypatch.setenv("AWS_CONFIG_FILE", str(tmp_path / "no-aws-config"))
    monkeypatch.setenv("AWS_SHARED_CREDENTIALS_FILE", str(tmp_path / "no-aws-credentials"))
    monkeypatch.setenv("AWS_EC2_METADATA_DISABLED", "true")


@pytest.fixture
def moto(moto_server: MotoServer) -> MotoServer:
    """The session's moto server, emptied for this test."""
    moto_server.reset()
    return moto_server


@pytest.fixture
def admin(moto: MotoServer) -> Iterator[Any]:
    """The test's own Secrets Manager client, to arrange and change state server-side."""
    client = boto3.session.Session().client(
        "secretsmanager", region_name=REGION, endpoint_url=moto.url
    )
    yield client
    client.close()


@pytest.fixture
def iam(moto: MotoServer) -> Iterator[Any]:
    client = boto3.session.Session().client("iam", region_name=REGION, endpoint_url=moto.url)
    yield client
    client.close()


@dataclass
class FakeClock:
    """Monotonic seconds that move only when a test says so."""

    now: float = 1_000.0

    def __call__(self) -> float:
        return self.now

    def advance(self, seconds: float) -> None:
        self.now += seconds


@pytest.fixture
def clock() -> FakeClock:
    return FakeClock()


@dataclass
class ClientFactory:
    endpoint_url: str
    clock: FakeClock
    made: list[SecretsClient] = field(default_factory=list)

    def __call__(self, session: Any = None, **overrides: Any) -> SecretsClient:
        values: dict[str, Any] = {
            "region": REGION,
            "endpoint_url": self.endpoint_url,
            "principal": PRINCIPAL,
            **overrides,
        }
        client = SecretsClient(SecretsSettings(**values), session=session, clock=self.clock)
        self.made.append(client)
        return client


@pytest.fixture
def make_client(moto: MotoServer, clock: FakeClock) -> Iterator[ClientFactory]:
    """Build `SecretsClient`s on the moto endpoint; all closed after the test."""
    factory = ClientFactory(moto.url, clock)
    yield factory
    for client in factory.made:
        client.close()


@dataclass
class SilentServer:
    """A TCP server that accepts connections and never answers: an endpoint that hangs."""

    url: str
    accepted: int = 0


@pytest.fixture
def silent_server() -> Iterator[SilentServer]:
    listener = socket.create_server(("127.0.0.1", 0))
    listener.settimeout(0.05)
    server = SilentServer(f"http://127.0.0.1:{listener.getsockname()[1]}")
    held: list[socket.socket] = []
    stop = threading.Event()

    def accept() -> None:
        while not stop.is_set():
            try:
                conn, _ = listener.accept()
            except TimeoutError:
                continue
            held.append(conn)
            server.accepted += 1

    thread = threading.Thread(target=accept, daemon=True)
    thread.start()
    yield server
    stop.set()
    thread.join(timeout=5)
    for conn in held:
        conn.close()
    listener.close()
