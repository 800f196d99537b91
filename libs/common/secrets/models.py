"""Secret ids, masking, and the decoding of stored values into `ApiCredentials`. No I/O."""

from __future__ import annotations

import json
import re
from dataclasses import dataclass, field
from typing import Any, NoReturn, cast

from pydantic import SecretStr

from libs.common.secrets.errors import InvalidSecret, InvalidSecretId

API_FIELDS = ("api_key", "api_secret")
API_SCHEMA = '{"api_key": "<key>", "api_secret": "<secret>"}'

_SEGMENT = r"[a-z0-9](?:[a-z0-9_-]{0,62}[a-z0-9])?"
_ID = re.compile(rf"({_SEGMENT})/({_SEGMENT})/({_SEGMENT})")
# Ids that look like ids are echoed in errors; anything else might be a secret pasted
# into the wrong argument, so it is masked.
_ECHOABLE = re.compile(r"[A-Za-z0-9/_.-]{1,100}")


def mask(value: str | SecretStr | None, visible: int = 4) -> str:
    """Show at most the first `visible` characters of `value`, and never a SecretStr.

    Short values show less (a quarter of their length at most) so the prefix cannot
    reveal most of them: `mask("abcdefghijklmnopqr") == "abcd…"`, `mask("abc") == "***"`.
    """
    if value is None:
        return "<unset>"
    if isinstance(value, SecretStr):
        return "***"
    shown = min(visible, len(value) // 4)
    return value[:shown] + "…" if shown > 0 else "***"


def shown_id(secret_id: str) -> str:
    """The id as it may appear in an error or a log line."""
    if "/" in secret_id and _ECHOABLE.fullmatch(secret_id):
        return repr(secret_id)
    return f"{mask(secret_id)!r} ({len(secret_id)} chars)"


@dataclass(frozen=True, slots=True)
class SecretId:
    """A parsed `{env}/{service}/{type}` id, e.g. `prod/bybit/api`."""

    env: str
    service: str
    kind: str

    def __str__(self) -> str:
        return f"{self.env}/{self.service}/{self.kind}"


def parse_secret_id(secret_id: str) -> SecretId:
    """Split and check `{env}/{service}/{type}`.

    Raises
    ------
    InvalidSecretId
        If `secret_id` is not three `/`-separated segments of lowercase letters, digits,
        `-` or `_` (1 to 64 characters, starting and ending with a letter or digit).
    """
    match = _ID.fullmatch(secret_id)
    if match is None:
        raise InvalidSecretId(
            shown_id(secret_id),
            f"secret id {shown_id(secret_id)} is invalid: expected '{{env}}/{{service}}/{{type}}', "
            "three segments of lowercase letters, digits, '-' or '_', like 'prod/bybit/api'",
        )
    return SecretId(*match.groups())


def api_secret_id(env: str, exchange: str, account: str | None = None) -> str:
    """The id of an exchange's API credentials: `{env}/{exchange}/api`, or an account's
    `{env}/{exchange}/api-{account}`."""
    kind = "api" if account is None else f"api-{account}"
    return str(parse_secret_id(f"{env}/{exchange}/{kind}"))


def decode_secret(secret_id: str, secret_string: str) -> dict[str, Any] | str:
    """A JSON object becomes a dict; any other value is returned as the plain string.

    Raises
    ------
    InvalidSecret
        If the value starts like a JSON object (`{`) but is not valid JSON.
    """
    if not secret_string.lstrip().startswith("{"):
        return secret_string
    try:
        decoded = json.loads(secret_string)
    except json.JSONDecodeError as exc:
        where = f"line {exc.lineno} column {exc.colno}"
    else:
        where = ""
    # Raised outside the `except`: the decode error keeps the whole document in `exc.doc`,
    # and would otherwise travel along as `__context__`.
    if where:
        _invalid(secret_id, f"is not valid JSON ({where}): expected a JSON object")
    # Valid JSON that starts with "{" is an object.
    return cast(dict[str, Any], decoded)


@dataclass(frozen=True, slots=True, repr=False)
class ApiCredentials:
    """An exchange API key and secret, as read from the secret store.

    `repr` and `str` show the first 4 characters of the key and nothing of the secret.
    The object cannot be pickled: credentials never leave the process (no Redis, no
    multiprocessing queue). Use `api_secret.get_secret_value()` only where a request is
    signed.
    """

    api_key: str
    api_secret: SecretStr
    secret_id: str
    version_id: str | None
    """The store's version of the secret (AWS VersionId); None in mock mode."""
    source: str
    """`aws` or `env` (mock mode)."""
    retrieved_at_ns: int = field(compare=False)
    """When the value was read from the store (epoch ns); a cache hit keeps the original."""

    def __repr__(self) -> str:
        return (
            f"ApiCredentials(api_key={mask(self.api_key)!r}, api_secret='***', "
            f"secret_id={self.secret_id!r}, version_id={self.version_id!r}, "
            f"source={self.source!r})"
        )

    __str__ = __repr__

    def __reduce__(self) -> NoReturn:
        raise TypeError("ApiCredentials cannot be pickled: credentials never leave the process")

    def __copy__(self) -> ApiCredentials:
        return self

    def __deepcopy__(self, memo: dict[int, Any]) -> ApiCredentials:
        return self


def credentials_from(
    secret_id: str,
    secret_string: str,
    *,
    version_id: str | None,
    source: str,
    retrieved_at_ns: int,
) -> ApiCredentials:
    """Build `ApiCredentials` from a stored `{"api_key": …, "api_secret": …}` object.

    Raises
    ------
    InvalidSecret
        If the value is not a JSON object, or a field is missing, not a non-empty string,
        or has leading or trailing whitespace (a paste mistake the venue answers with 10003).
    """
    decoded = decode_secret(secret_id, secret_string)
    if not isinstance(decoded, dict):
        _invalid(secret_id, f"is plain text: expected a JSON object {API_SCHEMA}")
    values: dict[str, str] = {}
    for name in API_FIELDS:
        value = decoded.get(name)
        if not isinstance(value, str) or not value:
            _invalid(
                secret_id,
                f"has no non-empty string field {name!r}: expected {API_SCHEMA}",
            )
        if value != value.strip():
            _invalid(
                secret_id,
                f"field {name!r} has leading or trailing whitespace: "
                "expected the value exactly as the venue issued it",
            )
        values[name] = value
    return ApiCredentials(
        api_key=values["api_key"],
        api_secret=SecretStr(values["api_secret"]),
        secret_id=secret_id,
        version_id=version_id,
        source=source,
        retrieved_at_ns=retrieved_at_ns,
    )


def _invalid(secret_id: str, what: str) -> NoReturn:
    raise InvalidSecret(secret_id, f"secret {secret_id!r} {what}")
