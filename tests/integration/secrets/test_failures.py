"""Every failure of the store maps to one exception of the tree, with no value in it.

Access denied is produced by moto itself: with `/moto-api/reset-auth 0` it checks each
request's signature against its IAM users and evaluates their identity policies. moto
answers that check with an XML error body and HTTP 403 (real Secrets Manager sends JSON
`AccessDeniedException`), so botocore reports code "403"; both shapes map to
`SecretAccessDenied`. moto does not evaluate secret resource policies, so a deny in a
resource policy cannot be exercised here.
"""

from __future__ import annotations

import json
import socket
import time
from collections.abc import Iterator
from typing import Any

import boto3
import pytest

from libs.common.secrets import (
    InvalidSecret,
    SecretAccessDenied,
    SecretNotFound,
    SecretsUnavailable,
)
from tests.integration.secrets.conftest import REGION, ClientFactory, MotoServer, SilentServer

pytestmark = pytest.mark.integration

SECRET_ID = "prod/bybit/api"
SECRET = "SeCrEtZz8Yy7Xx6Ww5Vv4Uu3Tt2Ss1Rr0Qq9Pp"
VALUE = json.dumps({"api_key": "AKEYxq7Lm2Np9Rt4Vw", "api_secret": SECRET})


def assert_no_value(exc: BaseException) -> None:
    """Neither the error nor anything chained to it mentions the secret."""
    seen: BaseException | None = exc
    while seen is not None:
        assert SECRET not in str(seen) and SECRET not in repr(seen.args)
        seen = seen.__cause__ or seen.__context__


def test_missing_secret_raises_secret_not_found_naming_id_and_schema(
    make_client: ClientFactory,
) -> None:
    with pytest.raises(SecretNotFound) as caught:
        make_client().get_api_credentials("prod", "bybit")

    assert caught.value.secret_id == SECRET_ID
    assert "'prod/bybit/api'" in str(caught.value)
    assert '{"api_key": "<key>", "api_secret": "<secret>"}' in str(caught.value)


def test_secret_scheduled_for_deletion_raises_secret_not_found(
    admin: Any, make_client: ClientFactory
) -> None:
    admin.create_secret(Name=SECRET_ID, SecretString=VALUE)
    admin.delete_secret(SecretId=SECRET_ID, RecoveryWindowInDays=7)

    with pytest.raises(SecretNotFound, match="InvalidRequestException"):
        make_client().get_api_credentials("prod", "bybit")


@pytest.mark.parametrize(
    ("stored", "expected"),
    [
        ('{"api_key": "AKEYxq7Lm2Np9Rt4Vw", "api_secret": "' + SECRET, "not valid JSON"),
        (json.dumps({"api_key": "AKEYxq7Lm2Np9Rt4Vw"}), "no non-empty string field 'api_secret'"),
        (json.dumps({"api_key": "AKEYxq7Lm2Np9Rt4Vw", "api_secret": SECRET + "\n"}), "whitespace"),
        (SECRET, "plain text"),
    ],
    ids=["truncated-json", "missing-field", "padded-field", "plain-text"],
)
def test_malformed_secret_raises_invalid_secret_without_the_value(
    admin: Any, make_client: ClientFactory, stored: str, expected: str
) -> None:
    admin.create_secret(Name=SECRET_ID, SecretString=stored)

    with pytest.raises(InvalidSecret, match=expected) as caught:
        make_client().get_api_credentials("prod", "bybit")

    assert_no_value(caught.value)


def test_binary_secret_raises_invalid_secret(admin: Any, make_client: ClientFactory) -> None:
    admin.create_secret(Name=SECRET_ID, SecretBinary=VALUE.encode())

    with pytest.raises(InvalidSecret, match="SecretBinary"):
        make_client().get_api_credentials("prod", "bybit")


def _user(iam: Any, name: str, statements: list[dict[str, Any]]) -> Any:
    """An IAM user with one inline policy, and a boto3 session holding its access key."""
    iam.create_user(UserName=name)
    policy = {"Version": "2012-10-17", "Statement": statements}
    iam.put_user_policy(UserName=name, PolicyName="inline", PolicyDocument=json.dumps(policy))
    key = iam.create_access_key(UserName=name)["AccessKey"]
    return boto3.session.Session(
        aws_access_key_id=key["AccessKeyId"],
        aws_secret_access_key=key["SecretAccessKey"],
        region_name=REGION,
    )


@pytest.fixture
def enforced_iam(moto: MotoServer, admin: Any, iam: Any) -> Iterator[dict[str, Any]]:
    """A reader allowed GetSecretValue, an intruder denied it; moto then enforces IAM."""
    admin.create_secret(Name=SECRET_ID, SecretString=VALUE)
    any_secret = {"Action": "secretsmanager:GetSecretValue", "Resource": "*"}
    sessions = {
        "reader": _user(iam, "router", [{"Effect": "Allow", **any_secret}]),
        "intruder": _user(
            iam,
            "intruder",
            [
                {"Effect": "Allow", "Action": "secretsmanager:*", "Resource": "*"},
                {"Effect": "Deny", **any_secret},
            ],
        ),
        "stranger": boto3.session.Session(
            aws_access_key_id="AKIAUNKNOWN000000000",
            aws_secret_access_key="not-a-key-moto-knows",
            region_name=REGION,
        ),
    }
    moto.enforce_iam(True)
    try:
        yield sessions
    finally:
        moto.enforce_iam(False)


def test_identity_denied_by_iam_policy_raises_access_denied(
    enforced_iam: dict[str, Any], make_client: ClientFactory
) -> None:
    # The reader proves IAM is enforced and allows what its policy allows.
    allowed = make_client(session=enforced_iam["reader"]).get_api_credentials("prod", "bybit")
    assert allowed.api_secret.get_secret_value() == SECRET

    with pytest.raises(SecretAccessDenied, match="not authorized") as caught:
        make_client(session=enforced_iam["intruder"]).get_api_credentials("prod", "bybit")

    assert caught.value.secret_id == SECRET_ID
    assert "secretsmanager:GetSecretValue" in str(caught.value)
    assert_no_value(caught.value)


def test_unknown_access_key_raises_access_denied(
    enforced_iam: dict[str, Any], make_client: ClientFactory
) -> None:
    with pytest.raises(SecretAccessDenied, match="security token included in the request"):
        make_client(session=enforced_iam["stranger"]).get_api_credentials("prod", "bybit")


def test_no_aws_credentials_raises_access_denied(
    make_client: ClientFactory, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv("AWS_ACCESS_KEY_ID")
    monkeypatch.delenv("AWS_SECRET_ACCESS_KEY")

    with pytest.raises(SecretAccessDenied, match="NoCredentialsError"):
        make_client().get_api_credentials("prod", "bybit")


def test_endpoint_that_never_answers_raises_unavailable_within_the_timeouts(
    silent_server: SilentServer, make_client: ClientFactory
) -> None:
    client = make_client(
        endpoint_url=silent_server.url,
        connect_timeout_s=0.2,
        read_timeout_s=0.3,
        max_attempts=2,
    )
    started = time.monotonic()

    with pytest.raises(SecretsUnavailable, match="Read timeout"):
        client.get_api_credentials("prod", "bybit")

    elapsed = time.monotonic() - started
    # Two attempts of 0.3 s each plus one adaptive-mode backoff (at most 1 s).
    assert 0.6 <= elapsed < 3.0
    assert silent_server.accepted == 2


def test_unreachable_endpoint_raises_unavailable(make_client: ClientFactory) -> None:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    # Nothing listens on `port` any more: every connect is refused.
    client = make_client(endpoint_url=f"http://127.0.0.1:{port}", max_attempts=2)

    with pytest.raises(SecretsUnavailable, match="Could not connect"):
        client.get_api_credentials("prod", "bybit")
