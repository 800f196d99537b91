"""The AWS side: the boto3 client, one GetSecretValue, and botocore errors mapped to ours."""

from __future__ import annotations

import logging
import re
from dataclasses import dataclass
from typing import Any

import boto3
from botocore.config import Config
from botocore.exceptions import (
    BotoCoreError,
    ClientError,
    ConnectionError,
    CredentialRetrievalError,
    HTTPClientError,
    NoCredentialsError,
    NoRegionError,
    PartialCredentialsError,
    SSOError,
    TokenRetrievalError,
)

from libs.common.secrets.errors import (
    InvalidSecret,
    SecretAccessDenied,
    SecretNotFound,
    SecretsConfigError,
    SecretsError,
    SecretsUnavailable,
)
from libs.common.secrets.settings import SecretsSettings

NOT_FOUND_CODES = frozenset({"ResourceNotFoundException", "InvalidRequestException"})
"""InvalidRequestException: the secret is scheduled for deletion (or otherwise unreadable)."""
ACCESS_DENIED_CODES = frozenset(
    {
        "AccessDeniedException",
        "AccessDenied",
        "DecryptionFailure",
        "ExpiredToken",
        "ExpiredTokenException",
        "IncompleteSignature",
        "InvalidClientTokenId",
        "InvalidSignatureException",
        "MissingAuthenticationToken",
        "SignatureDoesNotMatch",
        "UnrecognizedClientException",
    }
)
UNAVAILABLE_CODES = frozenset(
    {
        "InternalFailure",
        "InternalServiceError",
        "RequestTimeout",
        "ServiceUnavailable",
        "Throttling",
        "ThrottlingException",
        "TooManyRequestsException",
    }
)
_NO_IDENTITY = (
    NoCredentialsError,
    PartialCredentialsError,
    CredentialRetrievalError,
    TokenRetrievalError,
    SSOError,
)
_XML_MESSAGE = re.compile(r"<Message>(.*?)</Message>", re.DOTALL)


@dataclass(frozen=True, slots=True)
class Fetched:
    secret_string: str
    version_id: str | None


class _NoWireDebug(logging.Filter):
    """Drop `botocore.parsers` DEBUG records: they print raw response bodies, secrets included."""

    def filter(self, record: logging.LogRecord) -> bool:
        return record.levelno > logging.DEBUG


def silence_wire_logs() -> None:
    """Make sure no DEBUG logging configuration can print a GetSecretValue response body."""
    logger = logging.getLogger("botocore.parsers")
    if not any(isinstance(f, _NoWireDebug) for f in logger.filters):
        logger.addFilter(_NoWireDebug())


def make_client(settings: SecretsSettings, session: Any, secret_id: str) -> Any:
    """A Secrets Manager client with explicit timeouts and bounded adaptive retries."""
    config = Config(
        connect_timeout=settings.connect_timeout_s,
        read_timeout=settings.read_timeout_s,
        # botocore counts `max_attempts` as retries after the first attempt.
        retries={"mode": "adaptive", "max_attempts": settings.max_attempts - 1},
        user_agent_extra="mmx-secrets",
    )
    session = session if session is not None else boto3.session.Session()
    try:
        return session.client(
            "secretsmanager",
            region_name=settings.region,
            endpoint_url=settings.endpoint_url,
            config=config,
        )
    except NoRegionError:
        raise SecretsConfigError(
            secret_id, "no AWS region is configured: set SECRETS_REGION or AWS_DEFAULT_REGION"
        ) from None


def fetch(client: Any, secret_id: str, settings: SecretsSettings, expected: str) -> Fetched:
    """Read the current version of `secret_id`, raising only `SecretsError`s."""
    try:
        response = client.get_secret_value(SecretId=secret_id)
    except ClientError as exc:
        raise map_client_error(exc, secret_id, expected) from exc
    except BotoCoreError as exc:
        raise map_botocore_error(exc, secret_id, settings) from exc
    secret_string = response.get("SecretString")
    if not isinstance(secret_string, str):
        raise InvalidSecret(
            secret_id,
            f"secret {secret_id!r} is stored as SecretBinary: expected a SecretString",
        )
    return Fetched(secret_string, response.get("VersionId"))


def map_client_error(exc: ClientError, secret_id: str, expected: str) -> SecretsError:
    """The `SecretsError` for an error answer of the service (by code, then HTTP status)."""
    error = exc.response.get("Error", {})
    code = str(error.get("Code", "Unknown"))
    message = _short(str(error.get("Message", "")))
    status = int(exc.response.get("ResponseMetadata", {}).get("HTTPStatusCode", 0))
    said = f"{code}: {message}" if message else code
    if code in NOT_FOUND_CODES:
        return SecretNotFound(
            secret_id,
            f"secret {secret_id!r} was not found in Secrets Manager ({said}); "
            f"expected it to exist holding {expected}",
        )
    if code in ACCESS_DENIED_CODES or status in (401, 403):
        return SecretAccessDenied(
            secret_id,
            f"reading secret {secret_id!r} was denied ({said}); expected this process's "
            "AWS identity to be allowed secretsmanager:GetSecretValue on it and kms:Decrypt "
            "on its key (docs/SECURITY.md)",
        )
    if code in UNAVAILABLE_CODES or status >= 500 or status == 429:
        return SecretsUnavailable(
            secret_id,
            f"Secrets Manager failed to serve secret {secret_id!r} ({said}, HTTP {status}) "
            "after retries; retry later",
        )
    return SecretsError(
        secret_id, f"reading secret {secret_id!r} failed with {said} (HTTP {status})"
    )


def map_botocore_error(
    exc: BotoCoreError, secret_id: str, settings: SecretsSettings
) -> SecretsError:
    """The `SecretsError` for a failure before any answer: network, identity, region."""
    if isinstance(exc, ConnectionError | HTTPClientError):
        return SecretsUnavailable(
            secret_id,
            f"Secrets Manager did not answer for secret {secret_id!r} within "
            f"{settings.max_attempts} attempt(s) (connect timeout {settings.connect_timeout_s} s, "
            f"read timeout {settings.read_timeout_s} s): {exc}; retry later",
        )
    if isinstance(exc, _NO_IDENTITY):
        return SecretAccessDenied(
            secret_id,
            f"no usable AWS credentials to read secret {secret_id!r} ({type(exc).__name__}); "
            "expected an IAM role (instance profile, ECS/EKS, GitHub OIDC), or "
            "SECRETS_MOCK_MODE=1 in development",
        )
    if isinstance(exc, NoRegionError):
        return SecretsConfigError(
            secret_id, "no AWS region is configured: set SECRETS_REGION or AWS_DEFAULT_REGION"
        )
    return SecretsError(secret_id, f"reading secret {secret_id!r} failed: {type(exc).__name__}")


def _short(message: str) -> str:
    """The service's message on one line; moto's IAM check answers with an XML document."""
    found = _XML_MESSAGE.search(message)
    text = found.group(1) if found else message
    return " ".join(text.split())[:300]
