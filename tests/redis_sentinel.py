"""A throwaway Redis Sentinel set-up on free local ports: a primary, one replica of it, and one
sentinel monitoring them, each a `redis-server` child process stopped by its pid.

    with start_sentinel_cluster() as cluster:
        client = redis_from_url(cluster.url)  # redis+sentinel://127.0.0.1:<port>/mymaster/0
        ...
        cluster.kill_primary()                # SIGKILL, as a crashed host
        promoted = cluster.wait_failover()    # the port the sentinel now names

The sentinel runs `redis-server <conf> --sentinel` with quorum 1, `down-after-milliseconds`
1000 and `failover-timeout` 5000, so a failover takes about 2 to 4 s. Nothing is persisted;
every file is in one temp dir, removed by `stop()`. For the integration and fault tests.
"""

from __future__ import annotations

import contextlib
import os
import shutil
import signal
import socket
import subprocess
import tempfile
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from types import TracebackType
from typing import TypeVar

import redis

T = TypeVar("T")

SERVICE = "mymaster"
"""The name the sentinel monitors the primary under."""


class SentinelClusterError(RuntimeError):
    """A process did not start, or the sentinel did not do what was waited for in time."""


@dataclass
class SentinelCluster:
    """The running processes; a context manager that `stop()`s them on exit."""

    primary_port: int
    """The port of the primary as this helper last saw it: the first primary until
    `wait_failover` returns the promoted replica's."""
    replica_port: int
    sentinel_port: int
    workdir: tempfile.TemporaryDirectory[str]
    service: str = SERVICE
    processes: dict[int, subprocess.Popen[bytes]] = field(default_factory=dict)
    """Each started process by the port it listens on."""

    @property
    def url(self) -> str:
        """The `redis+sentinel://` URL of the service, db 0."""
        return f"redis+sentinel://127.0.0.1:{self.sentinel_port}/{self.service}/0"

    def master_port(self) -> int:
        """The primary's port as the sentinel reports it now."""
        with _client(self.sentinel_port) as sentinel:
            _host, port = sentinel.sentinel_get_master_addr_by_name(self.service)
        return int(port)

    def kill_primary(self) -> None:
        """SIGKILL the primary (`primary_port`) by its pid and reap it: no shutdown, no save."""
        process = self.processes[self.primary_port]
        if process.poll() is None:
            os.kill(process.pid, signal.SIGKILL)
        process.wait()

    def wait_failover(self, timeout: float = 10.0) -> int:
        """Wait until the sentinel names another primary than `primary_port` and that one
        answers as a master; it becomes `primary_port`, and is returned."""
        old = self.primary_port

        def promoted() -> int | None:
            port = self.master_port()
            return port if port != old and _role(port) == b"master" else None

        self.primary_port = _until(promoted, timeout, f"no failover from port {old}")
        return self.primary_port

    def stop(self) -> None:
        """Stop every process this helper started (SIGTERM by pid, SIGKILL after 5 s) and
        remove the temp dir."""
        for process in self.processes.values():
            _stop(process)
        self.processes.clear()
        self.workdir.cleanup()

    def __enter__(self) -> SentinelCluster:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.stop()


def start_sentinel_cluster(
    *, service: str = SERVICE, binary: str | None = None, timeout_s: float = 15.0
) -> SentinelCluster:
    """Start the primary, its replica (in sync before this returns) and the sentinel (which
    knows the replica before this returns), each on a free port of 127.0.0.1."""
    path = binary or shutil.which("redis-server")
    if path is None:
        raise SentinelClusterError("redis-server was not found on PATH")
    workdir = tempfile.TemporaryDirectory(prefix="mmx-sentinel-")
    root = Path(workdir.name)
    primary, replica, sentinel = _free_ports(3)
    cluster = SentinelCluster(primary, replica, sentinel, workdir, service)
    try:
        _spawn(  # no 5 s wait for more replicas before the first sync
            cluster, path, root, cluster.primary_port, "primary",
            "--repl-diskless-sync-delay", "0",
        )  # fmt: skip
        _spawn(
            cluster, path, root, cluster.replica_port, "replica",
            "--replicaof", "127.0.0.1", str(cluster.primary_port),
        )  # fmt: skip
        _until(lambda: _in_sync(cluster.replica_port), timeout_s, "the replica did not sync")
        conf = root / "sentinel.conf"  # the sentinel rewrites it: a file of its own
        conf.write_text(
            f"port {cluster.sentinel_port}\n"
            "bind 127.0.0.1\n"
            f"dir {root / 'sentinel'}\n"
            f"logfile {root / 'sentinel.log'}\n"
            f"sentinel monitor {service} 127.0.0.1 {cluster.primary_port} 1\n"
            f"sentinel down-after-milliseconds {service} 1000\n"
            f"sentinel failover-timeout {service} 5000\n"
        )
        (root / "sentinel").mkdir()
        _start(cluster, cluster.sentinel_port, [path, str(conf), "--sentinel"], root / "sentinel")
        _until(lambda: _knows_replica(cluster), timeout_s, "the sentinel did not see the replica")
    except BaseException:
        cluster.stop()
        raise
    return cluster


def _spawn(
    cluster: SentinelCluster, binary: str, root: Path, port: int, name: str, *args: str
) -> None:
    workdir = root / name
    workdir.mkdir()
    argv = [
        binary,
        "--port", str(port),
        "--bind", "127.0.0.1",
        "--save", "",
        "--appendonly", "no",
        "--dir", str(workdir),
        "--logfile", str(root / f"{name}.log"),
        *args,
    ]  # fmt: skip
    _start(cluster, port, argv, workdir)


def _start(cluster: SentinelCluster, port: int, argv: list[str], workdir: Path) -> None:
    process = subprocess.Popen(argv, cwd=workdir)
    cluster.processes[port] = process

    def answers() -> bool:
        if process.poll() is not None:
            logs = "\n".join(
                p.read_text(errors="replace")[-1500:] for p in workdir.parent.glob("*.log")
            )
            raise SentinelClusterError(f"{argv} exited with code {process.returncode}:\n{logs}")
        with _client(port) as client:
            return bool(client.ping())

    _until(answers, 10.0, f"port {port} did not answer PING")


def _client(port: int) -> redis.Redis:
    return redis.Redis(host="127.0.0.1", port=port, socket_timeout=1, socket_connect_timeout=1)


def _role(port: int) -> bytes | None:
    try:
        with _client(port) as client:
            role: bytes = client.execute_command("ROLE")[0]
            return role
    except redis.ConnectionError:
        return None


def _in_sync(replica_port: int) -> bool:
    with _client(replica_port) as client:
        info: dict[str, object] = client.info("replication")
        return info.get("master_link_status") == "up"


def _knows_replica(cluster: SentinelCluster) -> bool:
    with _client(cluster.sentinel_port) as sentinel:
        replicas = sentinel.sentinel_slaves(cluster.service)
    return any(
        int(r["port"]) == cluster.replica_port and not (r["is_sdown"] or r["is_odown"])
        for r in replicas
    )


def _until(check: Callable[[], T | None], timeout_s: float, what: str) -> T:
    deadline = time.monotonic() + timeout_s
    while True:
        with contextlib.suppress(redis.ConnectionError, redis.TimeoutError):
            if result := check():
                return result
        if time.monotonic() >= deadline:
            raise SentinelClusterError(f"{what} within {timeout_s:g} s")
        time.sleep(0.05)


def _free_ports(count: int) -> list[int]:
    """`count` distinct free ports (all bound at once, so none is handed out twice)."""
    with contextlib.ExitStack() as stack:
        sockets = [stack.enter_context(socket.socket()) for _ in range(count)]
        for sock in sockets:
            sock.bind(("127.0.0.1", 0))
        return [int(sock.getsockname()[1]) for sock in sockets]


def _stop(process: subprocess.Popen[bytes]) -> None:
    if process.poll() is None:
        process.terminate()
        try:
            process.wait(timeout=5)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()
