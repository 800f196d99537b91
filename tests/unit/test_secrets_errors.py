"""The exception tree, and botocore errors mapped onto it (pure functions, no I/O)."""

from __future__ import annotations

from typing import Any

import pytest
from botocore.exceptions import (
    BotoCoreError,
    ClientError,
    ConnectTimeoutError,
    EndpointConnectionError,
    NoCredentialsError,
    NoRegionError,
    ReadTimeoutError,
)

from libs.common.secrets import (
    InvalidSecret,
    InvalidSecretId,
    SecretAccessDenied,
    SecretNotFound,
    SecretsConfigError,
    SecretsError,
    SecretsSettings,
    SecretsUnavailable,
)
from libs.common.secrets._aws import map_botocore_error, map_client_error

SECRET_ID = "prod/bybit/api"


def client_error(code: str, status: int, message: str = "message") -> ClientError:
    response: Any = {
        "Error": {"Code": code, "Message": message},
        "ResponseMetadata": {"HTTPStatusCode": status},
    }
    return ClientError(response, "GetSecretValue")


def test_every_error_derives_from_secrets_error_with_its_outcome() -> None:
    outcomes = {
        SecretsConfigError: "config_error",
        InvalidSecretId: "invalid_id",
        SecretNotFound: "not_found",
        SecretAccessDenied: "access_denied",
        SecretsUnavailable: "unavailable",
        InvalidSecret: "invalid_secret",
    }
    for cls, outcome in outcomes.items():
        assert issubclass(cls, SecretsError)
        assert cls.outcome == outcome
    assert issubclass(InvalidSecretId, SecretsConfigError)
    assert issubclass(InvalidSecretId, ValueError)


@pytest.mark.parametrize(
    ("code", "status", "expected"),
    [
        ("ResourceNotFoundException", 400, SecretNotFound),
        ("InvalidRequestException", 400, SecretNotFound),
        ("AccessDeniedException", 400, SecretAccessDenied),
        ("DecryptionFailure", 400, SecretAccessDenied),
        ("ExpiredTokenException", 400, SecretAccessDenied),
        ("UnrecognizedClientException", 400, SecretAccessDenied),
        ("403", 403, SecretAccessDenied),
        ("ThrottlingException", 400, SecretsUnavailable),
        ("InternalServiceError", 500, SecretsUnavailable),
        ("503", 503, SecretsUnavailable),
        ("InvalidParameterException", 400, SecretsError),
    ],
)
def test_map_client_error_classifies_by_code_then_status(
    code: str, status: int, expected: type[SecretsError]
) -> None:
    error = map_client_error(client_error(code, status), SECRET_ID, "a value")

    assert type(error) is expected
    assert error.secret_id == SECRET_ID
    assert code in str(error)


def test_map_client_error_not_found_says_what_was_expected() -> None:
    error = map_client_error(
        client_error("ResourceNotFoundException", 400), SECRET_ID, '{"api_key": "<key>"}'
    )

    assert str(error) == (
        "secret 'prod/bybit/api' was not found in Secrets Manager "
        '(ResourceNotFoundException: message); expected it to exist holding {"api_key": "<key>"}'
    )


def test_map_client_error_xml_message_is_reduced_to_its_text() -> None:
    xml = (
        "<ErrorResponse><Error><Code>AccessDenied</Code>"
        "<Message>User: x is not\n authorized</Message></Error></ErrorResponse>"
    )

    error = map_client_error(client_error("403", 403, xml), SECRET_ID, "a value")

    assert "(403: User: x is not authorized)" in str(error)


@pytest.mark.parametrize(
    ("exc", "expected"),
    [
        (ConnectTimeoutError(endpoint_url="https://sm"), SecretsUnavailable),
        (ReadTimeoutError(endpoint_url="https://sm"), SecretsUnavailable),
        (EndpointConnectionError(endpoint_url="https://sm"), SecretsUnavailable),
        (NoCredentialsError(), SecretAccessDenied),
        (NoRegionError(), SecretsConfigError),
    ],
)
def test_map_botocore_error_classifies_failures_before_any_answer(
    exc: BotoCoreError, expected: type[SecretsError]
) -> None:
    settings = SecretsSettings(principal="test")

    error = map_botocore_error(exc, SECRET_ID, settings)

    assert type(error) is expected
    assert error.secret_id == SECRET_ID
