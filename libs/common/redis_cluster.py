"""Run a throwaway Redis Cluster of `redis-server` children on free local ports.

For tests and benchmarks, like `libs.common.redis_server` (whose `start_redis_server` starts
each node: free port, temp dir, no persistence, PING-checked start, stopped by its pid):

    with start_redis_cluster() as rig:          # 3 primaries, 1 replica each
        client = redis_from_url(rig.url)        # redis+cluster://127.0.0.1:<p1>,...
        ...
        rig.kill_primary_for("orders:1")        # SIGKILL, as a crashed host
        rig.wait_for_failover("orders:1")       # its replica now serves the slot

Each node runs with `--cluster-enabled yes` and `--cluster-node-timeout 1000`, so a primary
that stops answering is failed over in about 2 s; its cluster bus listens on a port of its own
(`--cluster-port`, free like the node's). `redis-cli --cluster create` assigns the slots and
the replicas, and `start_redis_cluster` returns once every node says `cluster_state:ok`, all
16384 slots are served, and every replica is attached to its primary and in sync. The
cluster keeps Redis' default `cluster-require-full-coverage yes`: while a dead primary's
slots wait for its replica, every slot refuses commands (CLUSTERDOWN), not only its own.
Every failure is a `RedisServerError` saying what was waited for (and what redis-cli said).
"""

from __future__ import annotations

import re
import shutil
import subprocess
import time
from collections.abc import Callable
from dataclasses import dataclass
from types import TracebackType
from typing import Any, TypeVar

import redis

from libs.common.redis_server import (
    RedisServer,
    RedisServerError,
    free_port,
    redis_server_binary,
    start_redis_server,
)

__all__ = [
    "CLUSTER_NODE_TIMEOUT_MS",
    "CLUSTER_SLOTS",
    "RedisClusterRig",
    "start_redis_cluster",
]

T = TypeVar("T")

CLUSTER_SLOTS = 16384
CLUSTER_NODE_TIMEOUT_MS = 1000
"""How long a node may not answer before the others fail it over."""
_COLOUR = re.compile(r"\x1b\[[0-9;]*m")
_START_ATTEMPTS = 3
"""A node's port and its bus port are each free when picked, not reserved: a clash (another
node's, or another process's) is retried on new ports."""


@dataclass(frozen=True)
class _Node:
    """One line of CLUSTER NODES."""

    node_id: str
    port: int
    flags: frozenset[str]
    primary_id: str | None
    connected: bool
    slots: tuple[tuple[int, int], ...]

    @property
    def is_primary(self) -> bool:
        return "master" in self.flags

    @property
    def failing(self) -> bool:
        return bool(self.flags & {"fail", "fail?", "handshake", "noaddr"})

    def serves(self, slot: int) -> bool:
        return any(first <= slot <= last for first, last in self.slots)


@dataclass
class RedisClusterRig:
    """The running nodes; a context manager that `stop()`s them on exit."""

    servers: list[RedisServer]
    """Every node, in the order `redis-cli --cluster create` was given them (the primaries
    first, as it assigned them; a failover changes which is which)."""

    @property
    def url(self) -> str:
        """The `redis+cluster://` URL listing every node as a startup node."""
        return "redis+cluster://" + ",".join(f"127.0.0.1:{s.port}" for s in self.servers)

    def keyslot(self, key: str | bytes) -> int:
        """The slot of `key`, as the cluster computes it (CLUSTER KEYSLOT)."""
        return int(self._ask(lambda client: _raw(client, "CLUSTER", "KEYSLOT", key)))

    def primary_for(self, key: str | bytes) -> RedisServer:
        """The node a live node names as the primary of `key`'s slot now."""
        slot = self.keyslot(key)
        nodes = self._ask(_cluster_nodes)
        for node in nodes:
            if node.is_primary and node.serves(slot):
                return self._server(node.port)
        raise RedisServerError(f"no node serves slot {slot} (of key {key!r})")

    def replicas_for(self, key: str | bytes) -> list[RedisServer]:
        """The nodes a live node names as replicas of the primary of `key`'s slot now."""
        slot = self.keyslot(key)
        nodes = self._ask(_cluster_nodes)
        primaries = {n.node_id for n in nodes if n.is_primary and n.serves(slot)}
        return [self._server(n.port) for n in nodes if n.primary_id in primaries]

    def kill_primary_for(self, key: str | bytes) -> RedisServer:
        """SIGKILL the primary of `key`'s slot (by its pid: no shutdown, no save); returned."""
        primary = self.primary_for(key)
        primary.kill()
        return primary

    def wait_for_failover(self, key: str | bytes, timeout_s: float = 10.0) -> RedisServer:
        """Wait until every live node names the same live node, a primary by its own ROLE, as
        the primary of `key`'s slot, and says `cluster_state:ok`; that node is returned."""
        slot = self.keyslot(key)

        def promoted() -> RedisServer | str:
            owners = set()
            for server in self._live():
                state = _cluster_info(server.port).get("cluster_state")
                if state != "ok":
                    return f"port {server.port} says cluster_state:{state}"
                with _client(server.port) as client:
                    nodes = _cluster_nodes(client)
                owners |= {n.port for n in nodes if n.is_primary and n.serves(slot)}
            if len(owners) != 1:
                return f"the live nodes name {sorted(owners)} as the slot's primary"
            owner = self._server(owners.pop())
            if owner.process.poll() is not None:
                return f"the slot's primary is still the dead node on port {owner.port}"
            role = _role(owner.port)
            return owner if role == b"master" else f"port {owner.port} has the role {role!r}"

        return _until(promoted, timeout_s, f"no live primary took over slot {slot} (of {key!r})")

    def flush(self) -> None:
        """FLUSHALL on every live primary (the replicas follow)."""
        for server in self._live():
            if _role(server.port) == b"master":
                with _client(server.port) as client:
                    client.flushall()

    def stop(self) -> None:
        """Stop every node this rig started (by pid) and remove their temp dirs."""
        for server in self.servers:  # SIGTERM them all first: they shut down side by side
            if server.process.poll() is None:
                server.process.terminate()
        for server in self.servers:
            server.stop()

    def __enter__(self) -> RedisClusterRig:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.stop()

    def _live(self) -> list[RedisServer]:
        return [server for server in self.servers if server.process.poll() is None]

    def _server(self, port: int) -> RedisServer:
        for server in self.servers:
            if server.port == port:
                return server
        raise RedisServerError(f"the cluster names a node on port {port} this rig did not start")

    def _ask(self, question: Callable[[redis.Redis], T]) -> T:
        """`question` answered by the first live node that answers."""
        errors = []
        for server in self._live():
            try:
                with _client(server.port) as client:
                    return question(client)
            except (redis.ConnectionError, redis.TimeoutError) as error:
                errors.append(f"port {server.port}: {error}")
        raise RedisServerError(f"no node of the cluster answered: {'; '.join(errors) or 'none'}")


def start_redis_cluster(
    primaries: int = 3, replicas_per_primary: int = 1, timeout_s: float = 30.0
) -> RedisClusterRig:
    """Start `primaries * (1 + replicas_per_primary)` nodes on free ports of 127.0.0.1, make
    them a cluster with `redis-cli --cluster create`, and wait (`timeout_s` in all) until it
    serves every slot with every replica in sync; see the module docstring."""
    if primaries < 3:
        raise ValueError(f"primaries={primaries}: a Redis Cluster needs at least 3 primaries")
    if replicas_per_primary < 0:
        raise ValueError(f"replicas_per_primary={replicas_per_primary} is below 0")
    deadline = time.monotonic() + timeout_s
    server_binary = redis_server_binary()
    cli = shutil.which("redis-cli")
    if cli is None:
        raise RedisServerError("redis-cli was not found on PATH (it creates the cluster)")
    rig = RedisClusterRig([])
    try:
        for _ in range(primaries * (1 + replicas_per_primary)):
            rig.servers.append(_start_node(server_binary, deadline))
        _create(cli, rig, replicas_per_primary, deadline)
        _until(
            lambda: _formed(rig, primaries, replicas_per_primary) or True,
            max(deadline - time.monotonic(), 0.0),
            "the cluster did not form (every slot served, every replica in sync)",
        )
    except BaseException:
        rig.stop()
        raise
    return rig


def _start_node(binary: str, deadline: float) -> RedisServer:
    errors: list[str] = []
    for _ in range(_START_ATTEMPTS):
        try:
            return start_redis_server(
                binary=binary,
                timeout_s=max(deadline - time.monotonic(), 1.0),
                extra_args=[
                    "--cluster-enabled", "yes",
                    "--cluster-config-file", "nodes.conf",  # in the node's temp dir
                    "--cluster-node-timeout", str(CLUSTER_NODE_TIMEOUT_MS),
                    "--cluster-port", str(free_port()),  # not port + 10000, maybe > 65535
                    "--repl-diskless-sync-delay", "0",  # no 5 s wait for more replicas
                ],
            )  # fmt: skip
        except RedisServerError as error:
            errors.append(str(error))
    raise RedisServerError(
        f"a cluster node did not start in {_START_ATTEMPTS} attempts:\n" + "\n".join(errors)
    )


def _create(cli: str, rig: RedisClusterRig, replicas_per_primary: int, deadline: float) -> None:
    argv = [
        cli, "--cluster", "create",
        *(f"127.0.0.1:{server.port}" for server in rig.servers),
        "--cluster-replicas", str(replicas_per_primary),
        "--cluster-yes",
    ]  # fmt: skip
    try:
        done = subprocess.run(
            argv,
            capture_output=True,
            text=True,
            timeout=max(deadline - time.monotonic(), 1.0),
            check=False,
        )
    except subprocess.TimeoutExpired as timeout:
        said = _text(timeout.stdout) + _text(timeout.stderr)
        raise RedisServerError(f"`{' '.join(argv)}` did not finish in time:\n{said}") from None
    said = _text(done.stdout) + _text(done.stderr)
    if done.returncode != 0 or f"All {CLUSTER_SLOTS} slots covered" not in said:
        raise RedisServerError(
            f"`{' '.join(argv)}` failed (exit code {done.returncode}):\n{said[-4000:]}"
        )


def _formed(rig: RedisClusterRig, primaries: int, replicas_per_primary: int) -> str | None:
    """None when the cluster is whole, else what is not yet (for the timeout's message)."""
    total = primaries * (1 + replicas_per_primary)
    for server in rig.servers:
        info = _cluster_info(server.port)
        for key, want in (
            ("cluster_state", "ok"),
            ("cluster_slots_ok", str(CLUSTER_SLOTS)),
            ("cluster_known_nodes", str(total)),
        ):
            if info.get(key) != want:
                return f"port {server.port} says {key}:{info.get(key)}"
        with _client(server.port) as client:
            nodes = _cluster_nodes(client)
        if any(node.failing or not node.connected for node in nodes):
            return f"port {server.port} sees a node failing or disconnected"
        serving = {node.node_id for node in nodes if node.is_primary and node.slots}
        replicas = [node for node in nodes if not node.is_primary]
        if len(serving) != primaries or len(replicas) != primaries * replicas_per_primary:
            return f"port {server.port} sees {len(serving)} primaries, {len(replicas)} replicas"
        if any(replica.primary_id not in serving for replica in replicas):
            return f"port {server.port} sees a replica of no serving primary"
        if _role(server.port) == b"slave" and not _in_sync(server.port):
            return f"the replica on port {server.port} is not in sync"
    return None


def _raw(client: redis.Redis, *args: str | bytes) -> Any:
    """The reply as the server sent it: redis-py has no reply callback for a command given as
    separate words ("CLUSTER", "NODES"), only for "CLUSTER NODES"."""
    return client.execute_command(*args)  # type: ignore[no-untyped-call]


def _client(port: int) -> redis.Redis:
    return redis.Redis(host="127.0.0.1", port=port, socket_timeout=1, socket_connect_timeout=1)


def _cluster_info(port: int) -> dict[str, str]:
    with _client(port) as client:
        text: bytes = _raw(client, "CLUSTER", "INFO")
    pairs = (line.partition(":") for line in text.decode().splitlines())
    return {key: value for key, _, value in pairs}


def _cluster_nodes(client: redis.Redis) -> list[_Node]:
    text: bytes = _raw(client, "CLUSTER", "NODES")
    return [_node(line) for line in text.decode().splitlines() if line.strip()]


def _node(line: str) -> _Node:
    # <id> <ip:port@cport[,hostname]> <flags> <primary> <ping> <pong> <epoch> <link> <slot>...
    fields = line.split()
    address = fields[1].partition("@")[0]
    slots = []
    for item in fields[8:]:
        if item.startswith("["):  # a slot being imported or migrated
            continue
        first, _, last = item.partition("-")
        slots.append((int(first), int(last or first)))
    return _Node(
        node_id=fields[0],
        port=int(address.rpartition(":")[2]),
        flags=frozenset(fields[2].split(",")),
        primary_id=None if fields[3] == "-" else fields[3],
        connected=fields[7] == "connected",
        slots=tuple(slots),
    )


def _role(port: int) -> bytes | None:
    try:
        with _client(port) as client:
            role: bytes = client.role()[0]
            return role
    except (redis.ConnectionError, redis.TimeoutError):
        return None


def _in_sync(port: int) -> bool:
    with _client(port) as client:
        info: dict[str, object] = client.info("replication")
    return info.get("master_link_status") == "up" and info.get("master_sync_in_progress") == 0


def _text(output: str | bytes | None) -> str:
    """redis-cli's output, without its colours."""
    if isinstance(output, bytes):
        output = output.decode(errors="replace")
    return _COLOUR.sub("", output or "")


def _until(check: Callable[[], T | str], timeout_s: float, what: str) -> T:
    """`check()`'s first result that is not a `str` (a `str` says what is not yet as it
    should be; so does a node that does not answer), tried every 50 ms; RedisServerError
    after `timeout_s`, with the last thing that was not yet."""
    deadline = time.monotonic() + timeout_s
    while True:
        try:
            result = check()
        except (redis.ConnectionError, redis.TimeoutError) as error:
            result = f"{type(error).__name__}: {error}"
        if not isinstance(result, str):
            return result
        if time.monotonic() >= deadline:
            raise RedisServerError(f"{what} within {timeout_s:g} s (last: {result})")
        time.sleep(0.05)
