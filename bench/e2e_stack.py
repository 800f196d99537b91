"""The benchmark's stack: its own redis-server (or, with `cluster`, a 3-primary/3-replica
Redis Cluster), the simulator and the four services, on free ports, under the load profile;
every process known by its pid and stopped by it.

With `accounts` > 1 the desk has that many accounts (`account_ids`: `default`, `alpha`,
`beta`, ...), each with its own simulator key pair (its own simulated account) passed to the
router and positions as `MMX_API_KEY_{ACCOUNT}` / `MMX_API_SECRET_{ACCOUNT}`. An account's
keys and streams share one hash slot (`mmx:{account}:...`), so on a cluster each account's
order flow lands on one shard; `BenchStack.shards` says which node serves which slots.

The simulator always runs from this checkout (it records the receipt times the benchmark
reads); the engine services (risk, router, positions, gateway) run from `engine_repo`, which
is this checkout unless `--repo` names another (cwd and PYTHONPATH point at it).
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import tempfile
import time
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path

import redis
from redis.crc import key_slot

from libs.common.accounts import MAX_ACCOUNTS
from libs.common.domain.ids import DEFAULT_ACCOUNT, AccountId, parse_account_id
from libs.common.redis_cluster import RedisClusterRig, start_redis_cluster
from libs.common.redis_server import RedisServer, free_port, start_redis_server
from libs.common.topology import RATE_LIMIT_GROUPS, keys_of
from libs.common.venue.credentials import env_suffix
from services.stack import http_probe
from services.venue_sim.settings import DEV_KEY, DEV_SECRET

REPO_ROOT = Path(__file__).resolve().parents[1]
SYMBOLS = ("BTCUSDT", "ETHUSDT", "SOLUSDT", "XRPUSDT")
"""The symbols of the throughput and latency rows (the first four of the simulator's
catalogue, services/venue_sim/engine/catalog.py)."""
ENGINE = ("risk", "router", "positions", "gateway")
HIGH = 100_000
"""Requests per second for every raised rate limit: far above what the stack can do."""
START_TIMEOUT_S = 60.0
STOP_GRACE_S = 5.0
CLUSTER_PRIMARIES = 3
"""Primaries (shards) of the `--cluster` stack, each with one replica."""
ACCOUNT_NAMES = (
    "alpha", "beta", "gamma", "delta", "epsilon", "zeta", "eta", "theta", "iota", "kappa",
    "lambda", "mu", "nu", "xi", "omicron", "pi", "rho", "sigma", "tau", "upsilon", "phi",
    "chi", "psi", "omega",
)  # fmt: skip
"""The accounts after `default` (then `acct{n}`). On a cluster of 3 primaries with the even
slot split of `redis-cli --cluster create`, `default`, `alpha` and `beta` hash to three
different shards (and so do the first six): the shard of each account is noted per run."""
_LIVE: list[BenchStack] = []
"""Stacks started and not yet stopped: `stop_all` ends them whatever happened."""


@dataclass(frozen=True)
class LoadProfile:
    """Every limit the benchmark raises, and where."""

    symbols: tuple[str, ...] = SYMBOLS
    """Listed by the simulator and traded by every service."""
    routers: int = 1
    """Router instances (router, router-2, ...), one process each."""
    durable_redis: bool = False
    """Redis with an AOF fsynced before every write is acknowledged (as `mmx up` and the
    compose file run it); False: no persistence."""
    cluster: bool = False
    """A Redis Cluster of CLUSTER_PRIMARIES primaries with a replica each (no persistence)
    instead of one redis-server."""
    accounts: int = 1
    """Accounts of the desk (`account_ids`), each its own simulator key pair."""
    sim_max_active_orders: int = 2_000
    """Open orders per (category, symbol) at the venue (Bybit: 500); 5,000 resting on 4
    symbols need 1,250 on each."""
    risk_limits: Mapping[str, str] = field(
        default_factory=lambda: {
            "maxOpenOrdersPerSymbol": "10000",
            "maxOrdersPerSecond": "100000",
            "maxOrderNotional": "1000000",
            "maxInventoryUsd": "1000000000",
            "maxTotalNotional": "1000000000",
            "dailyLossLimit": "1000000000",
            "edgeFreezeThresholdBps": "-10000",
        }
    )
    """PUT /v1/risk/limits; the price band stays at its default (500 bps)."""

    def __post_init__(self) -> None:
        if not 1 <= self.accounts <= MAX_ACCOUNTS:
            raise ValueError(f"accounts={self.accounts}: expected 1 to {MAX_ACCOUNTS}")
        if self.cluster and self.durable_redis:
            raise ValueError("the cluster runs without persistence: not with durable_redis")

    @property
    def account_ids(self) -> tuple[AccountId, ...]:
        """`default`, then ACCOUNT_NAMES, then `acct{n}`: `accounts` of them."""
        names = [DEFAULT_ACCOUNT, *ACCOUNT_NAMES]
        names += [f"acct{n}" for n in range(len(names) + 1, self.accounts + 1)]
        return tuple(parse_account_id(name) for name in names[: self.accounts])

    def credentials(self, account: AccountId) -> tuple[str, str]:
        """The simulator key pair of `account` (the dev pair for `default`)."""
        if account == DEFAULT_ACCOUNT:
            return DEV_KEY, DEV_SECRET
        return f"mmx-bench-key-{account}", f"mmx-bench-secret-{account}"

    def engine_env(self) -> dict[str, str]:
        """What every engine service gets for the accounts: `MMX_ACCOUNTS`, and each other
        account's venue key pair (the router and positions sign with them)."""
        env = {"MMX_ACCOUNTS": ",".join(self.account_ids)}
        for account in self.account_ids[1:]:
            key, secret = self.credentials(account)
            suffix = env_suffix(account)
            env[f"MMX_API_KEY{suffix}"] = key
            env[f"MMX_API_SECRET{suffix}"] = secret
        return env

    def sim_env(self) -> dict[str, str]:
        """The simulator's environment: a key pair (an account) for each of the desk's
        accounts, every listed symbol, a frozen market, raised limits."""
        pairs = (self.credentials(account) for account in self.account_ids)
        return {
            "MMX_SIM_KEYS": ",".join(f"{key}:{secret}" for key, secret in pairs),
            "MMX_SIM_SYMBOLS": ",".join(self.symbols),
            "MMX_SIM_MARKET_FROZEN": "true",
            "MMX_SIM_TRADE_PER_SECOND": str(HIGH),
            "MMX_SIM_SPOT_TRADE_PER_SECOND": str(HIGH),
            "MMX_SIM_QUERY_PER_SECOND": str(HIGH),
            "MMX_SIM_DCP_PER_SECOND": str(HIGH),
            "MMX_SIM_IP_PER_5S": str(HIGH * 100),
            "MMX_SIM_MAX_ACTIVE_ORDERS": str(self.sim_max_active_orders),
            "MMX_SIM_LOG_LEVEL": "WARNING",
        }

    def service_env(self, service: str) -> dict[str, str]:
        """What one engine service gets on top of Redis, venue URL and keys."""
        symbols = ",".join(self.symbols)
        if service == "router":
            return {
                "MMX_ROUTER_RATE_LIMIT_PER_S": str(HIGH),
                "MMX_ROUTER_RATE_LIMITS": json.dumps(dict.fromkeys(RATE_LIMIT_GROUPS, HIGH)),
                "MMX_ROUTER_SYMBOLS": symbols,
            }
        if service == "positions":
            return {"MMX_POSITIONS_SYMBOLS": symbols}
        if service == "gateway":
            return {"MMX_GATEWAY_AUTH": "disabled"}
        return {}

    def lines(self) -> list[str]:
        """The profile as printed above the table."""
        sim = {k: v for k, v in self.sim_env().items() if k not in ("MMX_SIM_KEYS",)}
        out = ["simulator (env): " + ", ".join(f"{k}={v}" for k, v in sim.items())]
        if self.cluster:
            out.append(
                f"redis: a Redis Cluster of {CLUSTER_PRIMARIES} primaries with 1 replica each "
                "(libs.common.redis_cluster), no persistence; REDIS_URL=redis+cluster://..."
            )
        else:
            fsync = "AOF, appendfsync always" if self.durable_redis else "no persistence"
            out.append(f"redis-server: {fsync}")
        if self.accounts > 1:
            out.append(
                f"accounts: {', '.join(self.account_ids)} (MMX_ACCOUNTS for every service; "
                "each its own simulator key pair, MMX_API_KEY_<ACCOUNT> for the router and "
                "positions)"
            )
        for service in ENGINE:
            env = self.service_env(service)
            if env:
                out.append(f"{service} (env): " + ", ".join(f"{k}={v}" for k, v in env.items()))
        limits = ", ".join(f"{k}={v}" for k, v in self.risk_limits.items())
        out.append(f"risk limits (PUT /v1/risk/limits): {limits}; priceBandBps default (500)")
        return out


@dataclass
class Proc:
    """One child process, by name and pid."""

    name: str
    proc: subprocess.Popen[bytes]
    port: int

    @property
    def pid(self) -> int:
        return self.proc.pid

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"


@dataclass(frozen=True)
class Shard:
    """One primary of the cluster, its slots and its replicas; numbered from 1 by its
    lowest slot. Its nodes are `redis-{number}` (the primary) and `redis-{number}r` (each
    replica; `r2`, `r3`, ... for more) in `BenchStack.pids`."""

    number: int
    primary: RedisServer
    replicas: tuple[RedisServer, ...]
    slots: tuple[tuple[int, int], ...]

    @property
    def name(self) -> str:
        return f"redis-{self.number}"

    def replica_name(self, index: int) -> str:
        return f"{self.name}r" + (str(index + 1) if index else "")

    def serves(self, slot: int) -> bool:
        return any(first <= slot <= last for first, last in self.slots)


@dataclass
class BenchStack:
    """Redis, simulator, risk, router, positions, gateway; `stop()` ends every one by pid."""

    log_dir: Path
    engine_repo: Path = REPO_ROOT
    profile: LoadProfile = field(default_factory=LoadProfile)
    redis: RedisServer | None = None
    cluster: RedisClusterRig | None = None
    shards: list[Shard] = field(default_factory=list)
    """The cluster's primaries by their slots (empty without `cluster`)."""
    procs: dict[str, Proc] = field(default_factory=dict)

    @property
    def redis_url(self) -> str:
        if self.cluster is not None:
            return self.cluster.url
        assert self.redis is not None
        return self.redis.url

    def shard_of(self, account: AccountId) -> Shard | None:
        """The shard that serves `account`'s keys and streams (None without a cluster)."""
        slot = key_slot(keys_of(account).prefix.encode())
        return next((shard for shard in self.shards if shard.serves(slot)), None)

    @property
    def sim_url(self) -> str:
        return self.procs["venue-sim"].url

    @property
    def gateway_url(self) -> str:
        return self.procs["gateway"].url

    def pids(self) -> dict[str, int]:
        """Every process of the stack by name: the redis-server, or each cluster node
        (`redis-1`, `redis-2`, ... the shards' primaries, then `redis-1r`, ... their
        replicas), then the simulator and the engine services."""
        found = {"redis-server": self.redis.process.pid} if self.redis else {}
        for shard in self.shards:
            found[shard.name] = shard.primary.process.pid
        for shard in self.shards:
            for index, replica in enumerate(shard.replicas):
                found[shard.replica_name(index)] = replica.process.pid
        return found | {name: p.pid for name, p in self.procs.items()}

    def start(self) -> BenchStack:
        """Start everything and wait until each answers (raises StackDown on failure)."""
        self.log_dir.mkdir(parents=True, exist_ok=True)
        _LIVE.append(self)
        if self.profile.cluster:
            self.cluster = start_redis_cluster(CLUSTER_PRIMARIES, replicas_per_primary=1)
            self.shards = _shards(self.cluster)
        else:
            self.redis = start_redis_server(durable=self.profile.durable_redis)
        sim = self._spawn("venue-sim", "services.venue_sim", REPO_ROOT, self.profile.sim_env())
        self._wait({"venue-sim": f"{sim.url}/sim/health"})
        common = {
            "REDIS_URL": self.redis_url,
            "MMX_VENUE": "sim",
            "MMX_VENUE_URL": sim.url,
            "MMX_API_KEY": DEV_KEY,
            "MMX_API_SECRET": DEV_SECRET,
            **self.profile.engine_env(),
        }
        for name in self.engine_names:
            service = name.split("-")[0]
            env = common | self.profile.service_env(service)
            self._spawn(name, f"services.{service}", self.engine_repo, env)
        self._wait({s: f"{self.procs[s].url}/ready" for s in self.engine_names})
        return self

    @property
    def engine_names(self) -> list[str]:
        """The engine's processes: each service once, and the extra routers."""
        extra = [f"router-{i}" for i in range(2, self.profile.routers + 1)]
        return [*ENGINE, *extra]

    def _spawn(self, name: str, module: str, repo: Path, env: Mapping[str, str]) -> Proc:
        port = free_port()
        log_path = self.log_dir / f"{name}.log"
        with log_path.open("ab") as log:
            proc = subprocess.Popen(
                [sys.executable, "-m", module, "--port", str(port)],
                cwd=repo,
                env={**os.environ, "PYTHONUNBUFFERED": "1", "PYTHONPATH": str(repo), **env},
                stdin=subprocess.DEVNULL,
                stdout=log,
                stderr=subprocess.STDOUT,
            )
        found = self.procs[name] = Proc(name, proc, port)
        return found

    def _wait(self, urls: Mapping[str, str]) -> None:
        deadline = time.monotonic() + START_TIMEOUT_S
        waiting = dict(urls)
        while waiting:
            for name, url in list(waiting.items()):
                if self.procs[name].proc.poll() is not None:
                    raise StackDown(f"{name} exited during start-up; see {self.log_dir}")
                if http_probe(url).check():
                    del waiting[name]
            if waiting and time.monotonic() > deadline:
                raise StackDown(f"{', '.join(waiting)} not ready in {START_TIMEOUT_S:.0f} s")
            time.sleep(0.1)

    def dead(self) -> list[str]:
        """Names of the processes that have exited."""
        return [name for name, p in self.procs.items() if p.proc.poll() is not None]

    def stop(self) -> list[str]:
        """SIGTERM the engine services, then the simulator, SIGKILL whichever has not exited
        STOP_GRACE_S on; then the redis-server or the cluster's nodes. Only ever our own
        children, by pid. Returns the names of those that had to be killed."""
        killed: list[str] = []
        for names in ([n for n in self.engine_names if n in self.procs], ["venue-sim"]):
            found = [self.procs.pop(n) for n in names if n in self.procs]
            for child in found:
                if child.proc.poll() is None:
                    child.proc.send_signal(signal.SIGTERM)
            for child in found:
                try:
                    child.proc.wait(timeout=STOP_GRACE_S)
                except subprocess.TimeoutExpired:
                    killed.append(child.name)
                    child.proc.kill()
                    child.proc.wait()
        if self.redis is not None:
            self.redis.stop()
            self.redis = None
        if self.cluster is not None:
            self.cluster.stop()
            self.cluster = None
            self.shards = []
        if self in _LIVE:
            _LIVE.remove(self)
        return killed


def _shards(rig: RedisClusterRig) -> list[Shard]:
    """The cluster's primaries with their slots (CLUSTER SLOTS) and replicas (each node's
    INFO replication), by their lowest slot."""
    by_port = {server.port: server for server in rig.servers}
    slots: dict[int, list[tuple[int, int]]] = {}
    replicas: dict[int, list[RedisServer]] = {}
    with _node_client(rig.servers[0].port) as client:
        reply = client.execute_command("CLUSTER", "SLOTS")
    for first, last, primary, *_ in reply:
        slots.setdefault(int(primary[1]), []).append((int(first), int(last)))
    for server in rig.servers:
        with _node_client(server.port) as client:
            info = client.info("replication")
        if info.get("role") == "slave":
            replicas.setdefault(int(info["master_port"]), []).append(server)
    primaries = sorted(slots, key=lambda port: min(slots[port]))
    return [
        Shard(n, by_port[port], tuple(replicas.get(port, ())), tuple(sorted(slots[port])))
        for n, port in enumerate(primaries, 1)
    ]


def _node_client(port: int) -> redis.Redis:
    """A plain (not cluster) client of one node."""
    return redis.Redis(host="127.0.0.1", port=port, socket_timeout=5, socket_connect_timeout=5)


def stop_all() -> None:
    """Stop every stack still running (after an interrupt or a cancelled start)."""
    for stack in list(_LIVE):
        stack.stop()


class StackDown(RuntimeError):
    """A process of the stack did not start or died."""


def new_log_dir() -> Path:
    """A fresh directory for this run's service logs (kept after the run)."""
    return Path(tempfile.mkdtemp(prefix="mmx-bench-e2e-"))


def cpu_seconds(pid: int) -> float:
    """utime + stime of `pid` (all its threads) so far, in seconds; 0 if it is gone."""
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return 0.0
    fields = stat[stat.rindex(")") + 2 :].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")
