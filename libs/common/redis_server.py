"""Run a throwaway `redis-server` child process on a free local port.

For tests and benchmarks: no persistence, bound to 127.0.0.1, stopped by its pid.
"""

from __future__ import annotations

import shutil
import socket
import subprocess
import tempfile
import time
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import redis


class RedisServerError(RuntimeError):
    """redis-server is missing or did not start."""


@dataclass
class RedisServer:
    """A running redis-server child process; `stop()` ends it."""

    process: subprocess.Popen[bytes]
    port: int
    workdir: tempfile.TemporaryDirectory[str]
    argv: list[str]

    @property
    def url(self) -> str:
        return f"redis://127.0.0.1:{self.port}/0"

    def kill(self) -> None:
        """SIGKILL: the server dies without writing anything more (its AOF stays as it was)."""
        if self.process.poll() is None:
            self.process.kill()
            self.process.wait()

    def restart(self, timeout_s: float = 10.0) -> None:
        """Start the server again on the same port and directory (a durable one reloads its
        AOF) and wait until it answers PING."""
        if self.process.poll() is None:
            raise RedisServerError(f"redis-server on port {self.port} is still running")
        self.process = subprocess.Popen(self.argv)
        _wait_for_ping(self, timeout_s)

    def stop(self) -> None:
        """Terminate the server (SIGTERM, then SIGKILL after 5 s) and remove its directory."""
        if self.process.poll() is None:
            self.process.terminate()
            try:
                self.process.wait(timeout=5)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait()
        self.workdir.cleanup()


LOG_NAME = "redis.log"
"""The server's log file, in its working directory."""
DURABLE = ["--appendonly", "yes", "--appendfsync", "always"]
"""An AOF fsynced before every write is acknowledged."""


def start_redis_server(
    *,
    binary: str | None = None,
    timeout_s: float = 10.0,
    durable: bool = False,
    extra_args: Sequence[str] = (),
) -> RedisServer:
    """Start redis-server (from PATH unless `binary` is given) and wait until it answers PING.
    No persistence, unless `durable`: an AOF fsynced before every write is acknowledged.
    `extra_args` go last (e.g. `--replicaof 127.0.0.1 <port>`)."""
    path = redis_server_binary(binary)
    workdir = tempfile.TemporaryDirectory(prefix="mmx-redis-")
    port = free_port()
    argv = [
        path,
        "--port", str(port),
        "--bind", "127.0.0.1",
        "--save", "",
        *(DURABLE if durable else ["--appendonly", "no"]),
        "--dir", workdir.name,
        "--logfile", str(Path(workdir.name) / LOG_NAME),
        *extra_args,
    ]  # fmt: skip
    return launch(argv, port, workdir, timeout_s)


def redis_server_binary(binary: str | None = None) -> str:
    """`binary`, else redis-server from PATH; RedisServerError when there is none."""
    path = binary or shutil.which("redis-server")
    if path is None:
        raise RedisServerError("redis-server was not found on PATH")
    return path


def launch(
    argv: list[str], port: int, workdir: tempfile.TemporaryDirectory[str], timeout_s: float = 10.0
) -> RedisServer:
    """Run `argv`, a redis-server (or sentinel) listening on `port` and logging to `LOG_NAME`
    in `workdir`, and wait until it answers PING; stopped (and `workdir` removed) if not."""
    server = RedisServer(subprocess.Popen(argv), port, workdir, argv)
    try:
        _wait_for_ping(server, timeout_s)
    except BaseException:
        server.stop()
        raise
    return server


def free_port(host: str = "127.0.0.1") -> int:
    """A port of `host` the OS says is free now."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind((host, 0))
        port: int = sock.getsockname()[1]
        return port


def _wait_for_ping(server: RedisServer, timeout_s: float) -> None:
    log = Path(server.workdir.name) / LOG_NAME
    deadline = time.monotonic() + timeout_s
    with redis.Redis(host="127.0.0.1", port=server.port, socket_timeout=1) as client:
        while time.monotonic() < deadline:
            if server.process.poll() is not None:
                tail = log.read_text(errors="replace")[-2000:] if log.exists() else ""
                raise RedisServerError(
                    f"redis-server exited with code {server.process.returncode}:\n{tail}"
                )
            try:
                if client.ping():
                    return
            except redis.ConnectionError:
                time.sleep(0.05)
    raise RedisServerError(f"redis-server on port {server.port} did not answer PING in time")
