"""A throwaway Redis Sentinel set-up on free local ports: a primary, one replica of it, and one
sentinel monitoring them, each a `redis-server` child process stopped by its pid.

    with start_sentinel_cluster() as cluster:
        client = redis_from_url(cluster.url)  # redis+sentinel://127.0.0.1:<port>/mymaster/0
        ...
        cluster.kill_primary()                # SIGKILL, as a crashed host
        promoted = cluster.wait_failover()    # the port the sentinel now names

Each is a `RedisServer` (`libs.common.redis_server`: free port, temp dir, PING-checked start,
stop by pid). The sentinel runs `redis-server <conf> --sentinel` with quorum 1,
`down-after-milliseconds` 1000 and `failover-timeout` 5000, so a failover takes about 2 to
4 s. Nothing is persisted; `stop()` removes every temp dir. For the integration and fault
tests, which take it as the `sentinel_cluster` fixture (this module is a pytest plugin of
`tests/conftest.py`).
"""

from __future__ import annotations

import contextlib
import tempfile
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from types import TracebackType
from typing import TypeVar

import pytest
import redis

from libs.common.redis_server import (
    LOG_NAME,
    RedisServer,
    free_port,
    launch,
    redis_server_binary,
    start_redis_server,
)

T = TypeVar("T")

SERVICE = "mymaster"
"""The name the sentinel monitors the primary under."""


class SentinelClusterError(RuntimeError):
    """The sentinel did not do what was waited for in time."""


@dataclass
class SentinelCluster:
    """The running servers; a context manager that `stop()`s them on exit."""

    servers: dict[int, RedisServer]
    """The primary and its replica, by port."""
    sentinel: RedisServer
    primary_port: int
    """The port of the primary as this helper last saw it: the first primary until
    `wait_failover` returns the promoted replica's."""
    replica_port: int
    service: str = SERVICE

    @property
    def sentinel_port(self) -> int:
        return self.sentinel.port

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
        """SIGKILL the primary (`primary_port`) by its pid: no shutdown, no save."""
        self.servers[self.primary_port].kill()

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
        """Stop every server this helper started (by pid) and remove their temp dirs."""
        for server in (self.sentinel, *self.servers.values()):
            server.stop()

    def __enter__(self) -> SentinelCluster:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.stop()


@pytest.fixture
def sentinel_cluster() -> Iterator[SentinelCluster]:
    """A set-up of this test's own (`start_sentinel_cluster`), stopped after it."""
    with start_sentinel_cluster() as cluster:
        yield cluster


def start_sentinel_cluster(timeout_s: float = 15.0) -> SentinelCluster:
    """Start the primary, its replica (in sync before this returns) and the sentinel (which
    knows the replica before this returns), each on a free port of 127.0.0.1; `timeout_s`
    for each of those two waits."""
    path = redis_server_binary()
    started: list[RedisServer] = []
    try:
        # no 5 s wait for more replicas before the first sync
        primary = start_redis_server(binary=path, extra_args=["--repl-diskless-sync-delay", "0"])
        started.append(primary)
        replica = start_redis_server(
            binary=path, extra_args=["--replicaof", "127.0.0.1", str(primary.port)]
        )
        started.append(replica)
        _until(lambda: _in_sync(replica.port), timeout_s, "the replica did not sync")
        sentinel = _start_sentinel(path, primary.port)
        started.append(sentinel)
        cluster = SentinelCluster(
            {s.port: s for s in (primary, replica)}, sentinel, primary.port, replica.port
        )
        _until(lambda: _knows_replica(cluster), timeout_s, "the sentinel did not see the replica")
    except BaseException:
        for server in started:
            server.stop()
        raise
    return cluster


def _start_sentinel(binary: str, primary_port: int) -> RedisServer:
    workdir = tempfile.TemporaryDirectory(prefix="mmx-sentinel-")
    root, port = Path(workdir.name), free_port()
    conf = root / "sentinel.conf"  # the sentinel rewrites it: a file of its own
    conf.write_text(
        f"port {port}\n"
        "bind 127.0.0.1\n"
        f"dir {root}\n"
        f"logfile {root / LOG_NAME}\n"
        f"sentinel monitor {SERVICE} 127.0.0.1 {primary_port} 1\n"
        f"sentinel down-after-milliseconds {SERVICE} 1000\n"
        f"sentinel failover-timeout {SERVICE} 5000\n"
    )
    return launch([binary, str(conf), "--sentinel"], port, workdir)


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
