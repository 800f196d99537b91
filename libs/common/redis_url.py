"""The Redis Sentinel form of `REDIS_URL`, parsed without connecting anywhere.

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
Every error is a `ValueError` naming what is wrong and the expected form; it never repeats the
password. `libs.common.redis_connect.redis_from_url` builds the client from the result.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import NoReturn
from urllib.parse import parse_qsl, unquote, urlsplit

__all__ = [
    "DEFAULT_SENTINEL_PORT",
    "SENTINEL_SCHEME",
    "SENTINEL_URL_FORM",
    "SentinelUrl",
    "is_sentinel_url",
    "parse_sentinel_url",
]

SENTINEL_SCHEME = "redis+sentinel"
SENTINEL_URL_FORM = (
    "redis+sentinel://[user:password@]host[:port][,host[:port]...]/service[/db]"
    "[?sentinel_username=..&sentinel_password=..&socket_timeout=..&socket_connect_timeout=..]"
)
"""The expected form, as every error message shows it."""
DEFAULT_SENTINEL_PORT = 26379

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


def is_sentinel_url(url: str) -> bool:
    """Whether `url` asks for Sentinel (a scheme ending in `+sentinel`, which
    `parse_sentinel_url` accepts only as `redis+sentinel`)."""
    scheme, _, _ = url.partition("://")
    return scheme.lower().endswith("+sentinel")


def parse_sentinel_url(url: str) -> SentinelUrl:
    """Read a `redis+sentinel://` URL (see the module docstring); `ValueError` when malformed."""
    scheme, separator, _ = url.partition("://")
    if not separator or scheme.lower() != SENTINEL_SCHEME:
        shown = f"{scheme}://" if separator else "no scheme"
        tls = " (TLS to Sentinel is not supported)" if scheme.lower() == "rediss+sentinel" else ""
        _fail(f"the scheme is {shown}{tls}: expected {SENTINEL_SCHEME}://")
    try:
        parts = urlsplit(url)
    except ValueError as error:  # e.g. an unclosed IPv6 bracket
        _fail(f"it cannot be split into its parts ({error})")
    if parts.fragment:
        _fail("it has a #fragment, which means nothing here")
    userinfo, at, hosts = parts.netloc.rpartition("@")
    username, password = _credentials(userinfo) if at else (None, None)
    service, db = _service_and_db(parts.path)
    options = _options(parts.query)
    return SentinelUrl(
        sentinels=_sentinels(hosts),
        service=service,
        db=db,
        username=username,
        password=password,
        sentinel_username=_text(options, "sentinel_username"),
        sentinel_password=_text(options, "sentinel_password"),
        socket_timeout=_seconds(options, "socket_timeout"),
        socket_connect_timeout=_seconds(options, "socket_connect_timeout"),
    )


def _fail(what: str) -> NoReturn:
    raise ValueError(f"bad Redis Sentinel URL: {what}; expected {SENTINEL_URL_FORM}")


def _credentials(userinfo: str) -> tuple[str | None, str | None]:
    user, colon, password = userinfo.partition(":")
    return unquote(user) or None, (unquote(password) or None) if colon else None


def _sentinels(hosts: str) -> tuple[tuple[str, int], ...]:
    if not hosts:
        _fail("it names no sentinel host")
    return tuple(_sentinel(address) for address in hosts.split(","))


def _sentinel(address: str) -> tuple[str, int]:
    if address.startswith("["):  # [v6]:port
        close = address.find("]")
        host, rest = address[1:close], address[close + 1 :]
        if close < 0 or (rest and not rest.startswith(":")):
            _fail(f"the sentinel address {address!r} is not [IPv6]:port")
        port_text = rest[1:] if rest else ""
    else:
        host, colon, port_text = address.partition(":")
        if colon and not port_text:
            port_text = "missing"
    if not host:
        _fail(f"the sentinel address {address!r} has no host (an empty item in the host list?)")
    if not port_text:
        return unquote(host), DEFAULT_SENTINEL_PORT
    if not port_text.isdigit() or not 1 <= int(port_text) <= 65535:
        _fail(f"the sentinel address {address!r} has no valid port (1 to 65535)")
    return unquote(host), int(port_text)


def _service_and_db(path: str) -> tuple[str, int]:
    segments = path.split("/")[1:] if path else []
    if segments and segments[-1] == "" and len(segments) > 1:
        segments.pop()  # one trailing slash: /mymaster/ or /mymaster/0/
    if not segments or not segments[0]:
        _fail("it names no service (the name the sentinels monitor the primary under)")
    if len(segments) > 2:
        _fail(f"its path {path!r} has more than /service/db")
    service = unquote(segments[0])
    if len(segments) == 1:
        return service, 0
    db_text = segments[1]
    if not db_text.isdigit():
        _fail(f"the database {db_text!r} is not a number from 0 up")
    return service, int(db_text)


def _options(query: str) -> dict[str, str]:
    options: dict[str, str] = {}
    known = (*_TEXT_OPTIONS, *_SECONDS_OPTIONS)
    for key, value in parse_qsl(query, keep_blank_values=True):
        if key not in known:
            _fail(f"the option {key!r} is not one of {', '.join(known)}")
        if key in options:
            _fail(f"the option {key!r} is given twice")
        options[key] = value
    return options


def _text(options: dict[str, str], key: str) -> str | None:
    return options.get(key) or None


def _seconds(options: dict[str, str], key: str) -> float | None:
    text = options.get(key)
    if text is None:
        return None
    try:
        seconds = float(text)
    except ValueError:
        seconds = math.nan
    if not (math.isfinite(seconds) and seconds > 0):
        _fail(f"the option {key}={text!r} is not a number of seconds above 0")
    return seconds
