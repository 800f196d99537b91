"""The Redis Sentinel and Redis Cluster forms of `REDIS_URL`, parsed without connecting anywhere.

    redis+sentinel://[user:password@]host[:port][,host[:port]...]/service[/db][?option=value&...]

for example `redis+sentinel://127.0.0.1:26379,127.0.0.1:26380/mymaster/0`:

- the hosts are the **sentinels** (not the Redis servers), each with its port (26379 when left
  out; an IPv6 address in brackets, `[::1]:26379`);
- `service` is the name the sentinels monitor the primary under (`sentinel monitor <service>
  ...`), `db` the logical database (0 when left out);
- `user` and `password` (percent-encoded) authenticate to the primary, not to the sentinels;
- the options are `sentinel_username` and `sentinel_password` (for sentinels that need
  their own AUTH), and `socket_timeout` and `socket_connect_timeout` (seconds, above 0; for
  the primary's connections and the sentinels' alike).

TLS is not supported in this form (the sentinels and the primary are reached in the clear).

    redis+cluster://[user:password@]host[:port][,host[:port]...][/0][?option=value&...]
    rediss+cluster://...                                              (the same, over TLS)

for example `redis+cluster://10.0.0.1:7000,10.0.0.2:7000`:

- the hosts are **startup nodes** of the cluster (any of its nodes, primaries or replicas),
  each with its port (6379 when left out; an IPv6 address in brackets, `[::1]:7000`): the
  client asks the first one that answers for the rest of the cluster and its slot map;
- the path is empty or `/0`: a cluster has only database 0, so any other db is refused;
- `user` and `password` (percent-encoded) authenticate to every node;
- the options are `socket_timeout` and `socket_connect_timeout` (seconds, above 0).

A `/`, `?`, `#` or `@` inside the user or the password must be percent-encoded (`%2F`, `%3F`,
`%23`, `%40`). Every error is a `ValueError` naming what is wrong and the expected form; it
never repeats the password. `libs.common.redis_connect.redis_from_url` builds the client from
the result.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import NamedTuple, NoReturn
from urllib.parse import parse_qsl, unquote, urlsplit

__all__ = [
    "CLUSTER_SCHEME",
    "CLUSTER_TLS_SCHEME",
    "CLUSTER_URL_FORM",
    "DEFAULT_CLUSTER_PORT",
    "DEFAULT_SENTINEL_PORT",
    "SENTINEL_SCHEME",
    "SENTINEL_URL_FORM",
    "ClusterUrl",
    "SentinelUrl",
    "is_cluster_url",
    "is_sentinel_url",
    "parse_cluster_url",
    "parse_sentinel_url",
]

SENTINEL_SCHEME = "redis+sentinel"
SENTINEL_URL_FORM = (
    "redis+sentinel://[user:password@]host[:port][,host[:port]...]/service[/db]"
    "[?sentinel_username=..&sentinel_password=..&socket_timeout=..&socket_connect_timeout=..]"
)
"""The expected form, as every error message shows it."""
DEFAULT_SENTINEL_PORT = 26379

CLUSTER_SCHEME = "redis+cluster"
CLUSTER_TLS_SCHEME = "rediss+cluster"
"""The cluster form over TLS (`ClusterUrl.ssl`)."""
CLUSTER_URL_FORM = (
    "redis[s]+cluster://[user:password@]host[:port][,host[:port]...][/0]"
    "[?socket_timeout=..&socket_connect_timeout=..]"
)
"""The expected form, as every error message shows it."""
DEFAULT_CLUSTER_PORT = 6379

_TEXT_OPTIONS = ("sentinel_username", "sentinel_password")
_SECONDS_OPTIONS = ("socket_timeout", "socket_connect_timeout")


@dataclass(frozen=True)
class SentinelUrl:
    """A parsed `redis+sentinel://` URL: where the sentinels are and what to ask them for."""

    sentinels: tuple[tuple[str, int], ...]
    """(host, port) of each sentinel, in the URL's order."""
    service: str
    """The name the sentinels monitor the primary under."""
    db: int = 0
    username: str | None = None
    """The primary's ACL user; None for the default user."""
    password: str | None = field(default=None, repr=False)
    """The primary's password."""
    sentinel_username: str | None = None
    sentinel_password: str | None = field(default=None, repr=False)
    socket_timeout: float | None = None
    socket_connect_timeout: float | None = None


@dataclass(frozen=True)
class ClusterUrl:
    """A parsed `redis+cluster://` (or `rediss+cluster://`) URL: where to start discovering
    the cluster and how to authenticate to its nodes."""

    nodes: tuple[tuple[str, int], ...]
    """(host, port) of each startup node, in the URL's order."""
    username: str | None = None
    """The nodes' ACL user; None for the default user."""
    password: str | None = field(default=None, repr=False)
    """The nodes' password."""
    ssl: bool = False
    """TLS to every node (`rediss+cluster://`)."""
    socket_timeout: float | None = None
    socket_connect_timeout: float | None = None


def is_sentinel_url(url: str) -> bool:
    """Whether `url` asks for Sentinel (a scheme ending in `+sentinel`, which
    `parse_sentinel_url` accepts only as `redis+sentinel`)."""
    scheme, _, _ = url.partition("://")
    return scheme.lower().endswith("+sentinel")


def is_cluster_url(url: str) -> bool:
    """Whether `url` asks for Redis Cluster (a scheme ending in `+cluster`, which
    `parse_cluster_url` accepts only as `redis+cluster` or `rediss+cluster`)."""
    scheme, _, _ = url.partition("://")
    return scheme.lower().endswith("+cluster")


def parse_sentinel_url(url: str) -> SentinelUrl:
    """Read a `redis+sentinel://` URL (see the module docstring); `ValueError` when malformed."""
    scheme, separator, _ = url.partition("://")
    if not separator or scheme.lower() != SENTINEL_SCHEME:
        shown = f"{scheme}://" if separator else "no scheme"
        tls = " (TLS to Sentinel is not supported)" if scheme.lower() == "rediss+sentinel" else ""
        _SENTINEL.fail(f"the scheme is {shown}{tls}: expected {SENTINEL_SCHEME}://")
    parts = _split(url, _SENTINEL)
    service, db = _service_and_db(parts.path)
    return SentinelUrl(
        sentinels=parts.hosts,
        service=service,
        db=db,
        username=parts.username,
        password=parts.password,
        sentinel_username=_text(parts.options, "sentinel_username"),
        sentinel_password=_text(parts.options, "sentinel_password"),
        socket_timeout=_seconds(parts.options, "socket_timeout", _SENTINEL),
        socket_connect_timeout=_seconds(parts.options, "socket_connect_timeout", _SENTINEL),
    )


def parse_cluster_url(url: str) -> ClusterUrl:
    """Read a `redis+cluster://` or `rediss+cluster://` URL (see the module docstring);
    `ValueError` when malformed."""
    scheme, separator, _ = url.partition("://")
    if not separator or scheme.lower() not in (CLUSTER_SCHEME, CLUSTER_TLS_SCHEME):
        shown = f"{scheme}://" if separator else "no scheme"
        _CLUSTER.fail(
            f"the scheme is {shown}: expected {CLUSTER_SCHEME}:// or {CLUSTER_TLS_SCHEME}://"
        )
    parts = _split(url, _CLUSTER)
    _cluster_db(parts.path)
    return ClusterUrl(
        nodes=parts.hosts,
        username=parts.username,
        password=parts.password,
        ssl=scheme.lower() == CLUSTER_TLS_SCHEME,
        socket_timeout=_seconds(parts.options, "socket_timeout", _CLUSTER),
        socket_connect_timeout=_seconds(parts.options, "socket_connect_timeout", _CLUSTER),
    )


@dataclass(frozen=True)
class _Form:
    """What the shared helpers need to know of one URL form: how to refuse a URL, what its
    hosts are called, their default port and the options it knows."""

    name: str
    """As errors begin: "bad {name} URL: ..."."""
    expected: str
    """As errors end: "...; expected {expected}"."""
    host_role: str
    """What each host of the list is, as errors name it."""
    default_port: int
    options: tuple[str, ...]

    def fail(self, what: str) -> NoReturn:
        raise ValueError(f"bad {self.name} URL: {what}; expected {self.expected}")


_SENTINEL = _Form(
    "Redis Sentinel",
    SENTINEL_URL_FORM,
    "sentinel",
    DEFAULT_SENTINEL_PORT,
    (*_TEXT_OPTIONS, *_SECONDS_OPTIONS),
)
_CLUSTER = _Form("Redis Cluster", CLUSTER_URL_FORM, "node", DEFAULT_CLUSTER_PORT, _SECONDS_OPTIONS)


class _Parts(NamedTuple):
    hosts: tuple[tuple[str, int], ...]
    username: str | None
    password: str | None
    path: str
    options: dict[str, str]


def _split(url: str, form: _Form) -> _Parts:
    """The parts every form shares: credentials, host list, path (unread) and options."""
    try:
        parts = urlsplit(url)
    except ValueError:  # its message may show the netloc, password included
        form.fail("it cannot be split into its parts (an unclosed '[' of an IPv6 address?)")
    query_keys = [key for key, _ in parse_qsl(parts.query, keep_blank_values=True)]
    if "@" in parts.path or "@" in parts.fragment or any("@" in key for key in query_keys):
        # "user:pa/ss@host": the password ran on past the host list, so the host list, the
        # path or the query holds part of it: none of them may be shown
        form.fail("a '/', '?' or '#' in the user or password must be percent-encoded")
    if parts.fragment:
        form.fail("it has a #fragment, which means nothing here")
    userinfo, at, hosts = parts.netloc.rpartition("@")
    username, password = _credentials(userinfo) if at else (None, None)
    return _Parts(_hosts(hosts, form), username, password, parts.path, _options(parts.query, form))


def _credentials(userinfo: str) -> tuple[str | None, str | None]:
    user, colon, password = userinfo.partition(":")
    return unquote(user) or None, (unquote(password) or None) if colon else None


def _hosts(hosts: str, form: _Form) -> tuple[tuple[str, int], ...]:
    if not hosts:
        form.fail(f"it names no {form.host_role} host")
    return tuple(_host(address, form) for address in hosts.split(","))


def _host(address: str, form: _Form) -> tuple[str, int]:
    role = form.host_role
    if address.startswith("["):  # [v6]:port
        close = address.find("]")
        host, rest = address[1:close], address[close + 1 :]
        if close < 0 or (rest and not rest.startswith(":")):
            form.fail(f"the {role} address {address!r} is not [IPv6]:port")
        port_text = rest[1:] if rest else ""
    else:
        host, colon, port_text = address.partition(":")
        if colon and not port_text:
            port_text = "missing"
    if not host:
        form.fail(f"the {role} address {address!r} has no host (an empty item in the host list?)")
    if not port_text:
        return unquote(host), form.default_port
    if not port_text.isdigit() or not 1 <= int(port_text) <= 65535:
        form.fail(f"the {role} address {address!r} has no valid port (1 to 65535)")
    return unquote(host), int(port_text)


def _service_and_db(path: str) -> tuple[str, int]:
    segments = path.split("/")[1:] if path else []
    if segments and segments[-1] == "" and len(segments) > 1:
        segments.pop()  # one trailing slash: /mymaster/ or /mymaster/0/
    if not segments or not segments[0]:
        _SENTINEL.fail("it names no service (the name the sentinels monitor the primary under)")
    if len(segments) > 2:
        _SENTINEL.fail(f"its path {path!r} has more than /service/db")
    service = unquote(segments[0])
    if len(segments) == 1:
        return service, 0
    db_text = segments[1]
    if not db_text.isdigit():
        _SENTINEL.fail(f"the database {db_text!r} is not a number from 0 up")
    return service, int(db_text)


def _cluster_db(path: str) -> None:
    if path in ("", "/"):
        return
    db_text = path[1:].removesuffix("/")  # /0 or /0/
    if db_text.isdigit() and int(db_text) == 0:
        return
    if db_text.isdigit():
        _CLUSTER.fail(f"it names database {db_text}: a Redis Cluster has only database 0")
    _CLUSTER.fail(f"its path {path!r} is not empty or /0 (a Redis Cluster has only database 0)")


def _options(query: str, form: _Form) -> dict[str, str]:
    options: dict[str, str] = {}
    for key, value in parse_qsl(query, keep_blank_values=True):
        if key not in form.options:
            form.fail(f"the option {key!r} is not one of {', '.join(form.options)}")
        if key in options:
            form.fail(f"the option {key!r} is given twice")
        options[key] = value
    return options


def _text(options: dict[str, str], key: str) -> str | None:
    return options.get(key) or None


def _seconds(options: dict[str, str], key: str, form: _Form) -> float | None:
    text = options.get(key)
    if text is None:
        return None
    try:
        seconds = float(text)
    except ValueError:
        seconds = math.nan
    if not (math.isfinite(seconds) and seconds > 0):
        form.fail(f"the option {key}={text!r} is not a number of seconds above 0")
    return seconds
