"""Test harness for the venue simulator: run it as a real subprocess and drive it.

    sim = SimProcess().start()          # Bybit V5: free port, known key pair, frozen market
    binance = SimProcess(personality="binance-usdm").start()   # Binance USDⓈ-M futures
    await sim.control("reset", {"marketFrozen": True})
    await sim.control("mid", {"symbol": "BTCUSDT", "price": "60000"})
    orders = await sim.orders()
    sim.stop()

`SimClient` signs requests exactly like a Bybit client, for tests that speak raw HTTP
(`tests.binance_client.BinanceClient` is the Binance personality's). The `/sim/...`
control endpoints are the same in both personalities.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import tempfile
import time
import urllib.error
import urllib.request
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import aiohttp
import orjson

from libs.common.redis_server import free_port
from libs.common.venue.signing import sign_rest, sign_ws_auth
from services.venue_sim.settings import PERSONALITIES

REPO_ROOT = Path(__file__).resolve().parents[1]
TEST_API_KEY = "mmx-test-key"
TEST_API_SECRET = "mmx-test-secret"


class SimProcess:
    """The simulator as a child process (`python -m services.venue_sim`) of one
    personality: "bybit" (default) or "binance-usdm" (`MMX_SIM_PERSONALITY`)."""

    def __init__(
        self,
        *,
        api_key: str = TEST_API_KEY,
        api_secret: str = TEST_API_SECRET,
        seed: int = 7,
        market_frozen: bool = True,
        env: dict[str, str] | None = None,
        personality: str = "bybit",
    ) -> None:
        if personality not in PERSONALITIES:
            raise ValueError(f"personality must be one of {PERSONALITIES}, was {personality!r}")
        self.personality = personality
        self.api_key = api_key
        self.api_secret = api_secret
        self.seed = seed
        self.market_frozen = market_frozen
        self.extra_env = env or {}
        self.port = 0
        self.proc: subprocess.Popen[bytes] | None = None
        self.log_path = Path(tempfile.mkstemp(prefix="venue-sim-", suffix=".log")[1])

    @property
    def base_url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    @property
    def ws_url(self) -> str:
        """The WebSocket base (the Binance personality's streams hang off it: `/ws/<key>`,
        `/stream`, `/market/stream`, ...)."""
        return f"ws://127.0.0.1:{self.port}"

    @property
    def ws_private_url(self) -> str:
        return f"ws://127.0.0.1:{self.port}/v5/private"

    @property
    def ws_public_url(self) -> str:
        """The linear public stream."""
        return f"ws://127.0.0.1:{self.port}/v5/public/linear"

    @property
    def ws_public_spot_url(self) -> str:
        return f"ws://127.0.0.1:{self.port}/v5/public/spot"

    def start(self, timeout_s: float = 30.0) -> SimProcess:
        """Start the process on a free port and wait until /sim/health answers."""
        for _ in range(3):
            self.port = free_port()
            env = {
                **os.environ,
                "MMX_SIM_KEYS": f"{self.api_key}:{self.api_secret}",
                "MMX_SIM_SEED": str(self.seed),
                "MMX_SIM_MARKET_FROZEN": "true" if self.market_frozen else "false",
                "MMX_SIM_LOG_LEVEL": "WARNING",
                **self.extra_env,
                "MMX_SIM_PERSONALITY": self.personality,
            }
            with self.log_path.open("ab") as log:
                self.proc = subprocess.Popen(
                    [
                        sys.executable,
                        "-m",
                        "services.venue_sim",
                        "--host",
                        "127.0.0.1",
                        "--port",
                        str(self.port),
                    ],
                    cwd=REPO_ROOT,
                    env=env,
                    stdout=log,
                    stderr=subprocess.STDOUT,
                )
            if self._wait_healthy(timeout_s):
                return self
            self.stop()
        raise RuntimeError(
            f"venue-sim did not start (personality {self.personality}); log:\n"
            f"{self.log_path.read_text()}"
        )

    def _wait_healthy(self, timeout_s: float) -> bool:
        deadline = time.monotonic() + timeout_s
        while time.monotonic() < deadline:
            if self.proc is None or self.proc.poll() is not None:
                return False
            try:
                with urllib.request.urlopen(f"{self.base_url}/sim/health", timeout=1) as resp:
                    if resp.status == 200:
                        return True
            except (urllib.error.URLError, ConnectionError, TimeoutError):
                pass
            time.sleep(0.05)
        return False

    def stop(self) -> None:
        """Terminate the process (by its pid) and wait for it."""
        proc, self.proc = self.proc, None
        if proc is None or proc.poll() is not None:
            return
        proc.terminate()
        try:
            proc.wait(timeout=10)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait(timeout=10)

    def __enter__(self) -> SimProcess:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()

    def _control_url(self, path: str) -> str:
        path = path.strip("/")
        path = path.removeprefix("sim/")
        return f"{self.base_url}/sim/{path}"

    async def control(
        self, path: str, body: dict[str, Any] | None = None, method: str = "POST"
    ) -> Any:
        """Call a control endpoint ("reset", "faults", "ws/drop", ...) and return its JSON."""
        data = orjson.dumps(body or {}) if method.upper() != "GET" else None
        async with (
            aiohttp.ClientSession() as session,
            session.request(
                method.upper(),
                self._control_url(path),
                data=data,
                headers={"Content-Type": "application/json"},
            ) as resp,
        ):
            payload = await resp.json(content_type=None)
            if resp.status >= 400:
                raise RuntimeError(f"/sim/{path} answered {resp.status}: {payload}")
            return payload

    def control_sync(
        self, path: str, body: dict[str, Any] | None = None, method: str = "POST"
    ) -> Any:
        """`control` for synchronous tests."""
        data = json.dumps(body or {}).encode() if method.upper() != "GET" else None
        request = urllib.request.Request(
            self._control_url(path),
            data=data,
            method=method.upper(),
            headers={"Content-Type": "application/json"},
        )
        with urllib.request.urlopen(request, timeout=10) as resp:
            return json.loads(resp.read())

    async def orders(self) -> list[dict[str, Any]]:
        """Every order the simulator holds, any status (Bybit fields plus "category", in
        either personality; the Binance one's orderId is its numeric orderId as a string)."""
        result: list[dict[str, Any]] = (await self.control("orders", method="GET"))["list"]
        return result


@dataclass(frozen=True)
class Reply:
    """A raw HTTP answer: status, parsed JSON body (None when not JSON), headers."""

    status: int
    body: Any
    headers: dict[str, str]


class KeyedClient:
    """Raw HTTP to a simulator over `session`, with an API key pair (default: the
    simulator's own). `SimClient` signs like Bybit, `tests.binance_client.BinanceClient`
    like Binance."""

    def __init__(
        self,
        sim: SimProcess,
        session: aiohttp.ClientSession,
        *,
        api_key: str | None = None,
        api_secret: str | None = None,
    ) -> None:
        self.sim = sim
        self.session = session
        self.api_key = api_key or sim.api_key
        self.api_secret = api_secret or sim.api_secret


class SimClient(KeyedClient):
    """Signs requests like a Bybit client; every knob of the signature can be overridden."""

    def headers(
        self, payload: str, *, timestamp: int | None = None, recv_window: int = 5000
    ) -> dict[str, str]:
        ts = str(timestamp if timestamp is not None else int(time.time() * 1000))
        return {
            "X-BAPI-API-KEY": self.api_key,
            "X-BAPI-TIMESTAMP": ts,
            "X-BAPI-RECV-WINDOW": str(recv_window),
            "X-BAPI-SIGN": sign_rest(self.api_secret, ts, self.api_key, recv_window, payload),
            "Content-Type": "application/json",
        }

    async def get(self, path: str, params: dict[str, Any] | None = None, **kw: Any) -> Reply:
        query = "&".join(f"{k}={v}" for k, v in sorted((params or {}).items()))
        url = f"{self.sim.base_url}{path}" + (f"?{query}" if query else "")
        async with self.session.get(url, headers=self.headers(query, **kw)) as resp:
            return await read_reply(resp)

    async def post(self, path: str, body: dict[str, Any] | None = None, **kw: Any) -> Reply:
        raw = json.dumps(body or {})
        url = f"{self.sim.base_url}{path}"
        async with self.session.post(url, data=raw, headers=self.headers(raw, **kw)) as resp:
            return await read_reply(resp)

    def ws_auth(self, *, expires: int | None = None) -> dict[str, Any]:
        """The private stream's `auth` op."""
        expires = expires if expires is not None else int(time.time() * 1000) + 10_000
        return {
            "op": "auth",
            "args": [self.api_key, expires, sign_ws_auth(self.api_secret, expires)],
        }


async def read_reply(resp: aiohttp.ClientResponse) -> Reply:
    """A response as a `Reply` (body parsed when it is JSON)."""
    text = await resp.text()
    try:
        body = json.loads(text)
    except ValueError:
        body = None
    return Reply(resp.status, body, dict(resp.headers))
