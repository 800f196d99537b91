"""`SecretsClient`: AWS Secrets Manager (or the environment in mock mode), cached and audited."""

from __future__ import annotations

import asyncio
import logging
import os
import threading
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from types import TracebackType
from typing import Any, TypeVar

from libs.common.secrets import _aws, _mock
from libs.common.secrets.errors import SecretsError
from libs.common.secrets.models import (
    API_SCHEMA,
    ApiCredentials,
    api_secret_id,
    credentials_from,
    decode_secret,
    parse_secret_id,
    shown_id,
)
from libs.common.secrets.settings import SecretsSettings

AUDIT_LOGGER = "mmx.audit.secrets"

T = TypeVar("T")
_audit_log = logging.getLogger(AUDIT_LOGGER)


@dataclass(frozen=True, slots=True)
class _Entry:
    secret_string: str
    version_id: str | None
    retrieved_at_ns: int
    expires_at: float


class SecretsClient:
    """Read secrets by id `{env}/{service}/{type}`, keep them in memory for `ttl_s`, audit each.

    Every access, hit or miss, success or failure, writes one line to the `mmx.audit.secrets`
    logger: who (`settings.principal`), which id, when, hit or miss, outcome, never the value.
    The boto3 client is built on first use; construction does no I/O. Thread-safe; the
    `a*` methods run the blocking call in a worker thread, for use from an event loop.

    Parameters
    ----------
    settings
        Region, endpoint, timeouts, TTL, mock mode, principal.
    session
        The boto3 `Session` to build the client from (tests pass one with their own keys);
        a fresh default-chain session when None.
    clock
        Monotonic seconds for the TTL; `time.monotonic` unless a test drives time.
    environ
        Where mock mode reads its variables; `os.environ` when None.
    """

    def __init__(
        self,
        settings: SecretsSettings,
        *,
        session: Any = None,
        clock: Callable[[], float] = time.monotonic,
        environ: Mapping[str, str] | None = None,
    ) -> None:
        self.settings = settings
        self._session = session
        self._clock = clock
        self._environ = os.environ if environ is None else environ
        self._source = "env" if settings.mock_mode else "aws"
        self._lock = threading.Lock()
        self._cache: dict[str, _Entry] = {}
        self._boto: Any = None
        _aws.silence_wire_logs()

    # -- READS --------------------------------------------------------------------------

    def get_secret(self, secret_id: str) -> dict[str, Any] | str:
        """Return the secret `secret_id`: a dict if it holds a JSON object, else the string.

        Raises
        ------
        InvalidSecretId, SecretNotFound, SecretAccessDenied, SecretsUnavailable, InvalidSecret
            See `libs.common.secrets.errors`.
        """
        return self._access(
            secret_id,
            "get_secret",
            refresh=False,
            expected="a value",
            decode=lambda entry: decode_secret(secret_id, entry.secret_string),
        )

    def get_api_credentials(
        self, env: str, exchange: str, account: str | None = None
    ) -> ApiCredentials:
        """Return the API key and secret of `exchange` in `env`, from `{env}/{exchange}/api`
        (an `account`'s: `{env}/{exchange}/api-{account}`).

        Call it at startup: a missing or unreadable secret must stop the service there.

        Raises
        ------
        InvalidSecretId, SecretNotFound, SecretAccessDenied, SecretsUnavailable, InvalidSecret
            See `libs.common.secrets.errors`.
        """
        return self._credentials(env, exchange, account, "get_api_credentials", refresh=False)

    def refresh_api_credentials(
        self, env: str, exchange: str, account: str | None = None
    ) -> ApiCredentials:
        """Re-read `{env}/{exchange}/api` (or `api-{account}`) from the store, bypassing and
        replacing the cache.

        Contract with the order router: on a venue authentication error (Bybit retCode
        10003 / 10004) it calls this exactly once, rebuilds its signer with the result and
        retries once. If the venue still refuses, or this raises, the router freezes with
        reason `auth` and waits for an operator; it never loops on refresh. The cached entry
        is dropped first, so a failed refresh never leaves the refused key being served.

        Raises
        ------
        InvalidSecretId, SecretNotFound, SecretAccessDenied, SecretsUnavailable, InvalidSecret
            See `libs.common.secrets.errors`.
        """
        return self._credentials(env, exchange, account, "refresh_api_credentials", refresh=True)

    async def aget_api_credentials(
        self, env: str, exchange: str, account: str | None = None
    ) -> ApiCredentials:
        """`get_api_credentials` in a worker thread: it can block for the timeouts."""
        return await asyncio.to_thread(self.get_api_credentials, env, exchange, account)

    async def arefresh_api_credentials(
        self, env: str, exchange: str, account: str | None = None
    ) -> ApiCredentials:
        """`refresh_api_credentials` in a worker thread."""
        return await asyncio.to_thread(self.refresh_api_credentials, env, exchange, account)

    # -- LIFECYCLE ----------------------------------------------------------------------

    def clear_cache(self) -> None:
        """Forget every cached value: the next read of each id goes to the store."""
        with self._lock:
            self._cache.clear()

    def close(self) -> None:
        """Clear the cache and close the boto3 client; a later read builds a new one."""
        with self._lock:
            self._cache.clear()
            boto, self._boto = self._boto, None
        if boto is not None:
            boto.close()

    def __enter__(self) -> SecretsClient:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.close()

    # -- INTERNALS ----------------------------------------------------------------------

    def _credentials(
        self, env: str, exchange: str, account: str | None, op: str, *, refresh: bool
    ) -> ApiCredentials:
        try:
            secret_id = api_secret_id(env, exchange, account)
        except SecretsError as exc:
            self._audit(op, exc.secret_id, "none", exc.outcome, None, self._clock())
            raise

        def decode(entry: _Entry) -> ApiCredentials:
            return credentials_from(
                secret_id,
                entry.secret_string,
                version_id=entry.version_id,
                source=self._source,
                retrieved_at_ns=entry.retrieved_at_ns,
            )

        return self._access(secret_id, op, refresh=refresh, expected=API_SCHEMA, decode=decode)

    def _access(
        self,
        secret_id: str,
        op: str,
        *,
        refresh: bool,
        expected: str,
        decode: Callable[[_Entry], T],
    ) -> T:
        started = self._clock()
        cache = "none"
        entry: _Entry | None = None
        try:
            parse_secret_id(secret_id)
            cache = "bypass" if refresh else "miss"
            entry = self._take(secret_id, started, refresh=refresh)
            if entry is not None:
                cache = "hit"
            else:
                entry = self._load(secret_id, expected)
            value = decode(entry)
        except SecretsError as exc:
            version = entry.version_id if entry is not None else None
            self._audit(op, _logged(secret_id), cache, exc.outcome, version, started)
            raise
        if cache != "hit":
            with self._lock:
                self._cache[secret_id] = entry
        self._audit(op, secret_id, cache, "ok", entry.version_id, started)
        return value

    def _take(self, secret_id: str, now: float, *, refresh: bool) -> _Entry | None:
        with self._lock:
            if refresh:
                self._cache.pop(secret_id, None)
                return None
            entry = self._cache.get(secret_id)
            if entry is None or now >= entry.expires_at:
                return None
            return entry

    def _load(self, secret_id: str, expected: str) -> _Entry:
        if self.settings.mock_mode:
            secret_string = _mock.read(
                parse_secret_id(secret_id),
                self._environ,
                self.settings.mock_forbidden_envs,
                api=expected == API_SCHEMA,
            )
            version_id = None
        else:
            fetched = _aws.fetch(self._client(secret_id), secret_id, self.settings, expected)
            secret_string, version_id = fetched.secret_string, fetched.version_id
        return _Entry(
            secret_string=secret_string,
            version_id=version_id,
            retrieved_at_ns=time.time_ns(),
            expires_at=self._clock() + self.settings.ttl_s,
        )

    def _client(self, secret_id: str) -> Any:
        with self._lock:
            if self._boto is None:
                self._boto = _aws.make_client(self.settings, self._session, secret_id)
            return self._boto

    def _audit(
        self,
        op: str,
        secret_id: str,
        cache: str,
        outcome: str,
        version_id: str | None,
        started: float,
    ) -> None:
        fields = {
            "principal": self.settings.principal,
            "secret_id": secret_id,
            "op": op,
            "source": self._source,
            "cache": cache,
            "outcome": outcome,
            "version_id": version_id,
            "ts_ns": time.time_ns(),
            "elapsed_ms": round((self._clock() - started) * 1000, 1),
        }
        level = logging.INFO if outcome == "ok" else logging.WARNING
        line = " ".join(f"{key}={value}" for key, value in fields.items())
        _audit_log.log(level, "secret_access %s", line, extra={"audit": fields})


def _logged(secret_id: str) -> str:
    try:
        return str(parse_secret_id(secret_id))
    except SecretsError:
        return shown_id(secret_id)
