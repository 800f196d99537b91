"""Errors raised by `libs.common.secrets`.

    SecretsError                 base; alone, an AWS error no subclass covers (its code is named)
    ├── SecretsConfigError       the code or the settings are wrong: fix them, never retry
    │   └── InvalidSecretId      the id is not `{env}/{service}/{type}` (also a ValueError)
    ├── SecretNotFound           no such secret (or scheduled for deletion); in mock mode,
    │                            the environment variable is unset
    ├── SecretAccessDenied       IAM, KMS or the credentials refused: AccessDenied, an invalid,
    │                            expired or missing AWS identity
    ├── SecretsUnavailable       the endpoint timed out, was unreachable, throttled us or
    │                            failed with a 5xx, after the bounded retries: retry later
    └── InvalidSecret            the stored value has the wrong shape: not JSON, a missing,
                                 empty or padded field, or binary

No message, attribute or chained cause ever holds a secret value: each names the secret id,
what was wrong and what was expected. `outcome` is the short word the audit log records.
"""

from __future__ import annotations

from typing import ClassVar


class SecretsError(Exception):
    """Base of every error raised by `libs.common.secrets`."""

    outcome: ClassVar[str] = "error"

    def __init__(self, secret_id: str, message: str) -> None:
        self.secret_id = secret_id
        super().__init__(message)


class SecretsConfigError(SecretsError):
    """The settings or the call cannot work (no region, mock mode asked for a prod id)."""

    outcome = "config_error"


class InvalidSecretId(SecretsConfigError, ValueError):
    """The id does not follow `{env}/{service}/{type}`, e.g. `prod/bybit/api`."""

    outcome = "invalid_id"


class SecretNotFound(SecretsError):
    """The secret does not exist; at startup this is fatal, never a fallback."""

    outcome = "not_found"


class SecretAccessDenied(SecretsError):
    """The store refused this identity, or there is no usable AWS identity at all."""

    outcome = "access_denied"


class SecretsUnavailable(SecretsError):
    """The store could not answer in time; transient, the caller may retry later."""

    outcome = "unavailable"


class InvalidSecret(SecretsError):
    """The secret exists but its value is not what the caller expects."""

    outcome = "invalid_secret"
