"""Secret ids, masking, `ApiCredentials` and the decoding of stored values. No I/O."""

from __future__ import annotations

import copy
import json
import pickle

import pytest
from pydantic import SecretStr

from libs.common.secrets import (
    ApiCredentials,
    InvalidSecret,
    InvalidSecretId,
    SecretId,
    api_secret_id,
    mask,
    parse_secret_id,
)
from libs.common.secrets.models import credentials_from, decode_secret

KEY = "AKEYxq7Lm2Np9Rt4Vw"
SECRET = "SeCrEtZz8Yy7Xx6Ww5Vv4Uu3Tt2Ss1Rr0Qq9Pp"


def creds(**overrides: object) -> ApiCredentials:
    value = json.dumps({"api_key": KEY, "api_secret": SECRET, **overrides})
    return credentials_from(
        "prod/bybit/api", value, version_id="v1", source="aws", retrieved_at_ns=1
    )


@pytest.mark.parametrize(
    ("secret_id", "parsed"),
    [
        ("prod/bybit/api", SecretId("prod", "bybit", "api")),
        ("staging/bybit-demo/api", SecretId("staging", "bybit-demo", "api")),
        ("dev/db/read_only_password", SecretId("dev", "db", "read_only_password")),
    ],
)
def test_parse_secret_id_valid_id_splits_segments(secret_id: str, parsed: SecretId) -> None:
    assert parse_secret_id(secret_id) == parsed
    assert str(parsed) == secret_id


@pytest.mark.parametrize(
    "secret_id",
    [
        "prod/bybit",
        "prod/bybit/api/extra",
        "Prod/bybit/api",
        "prod//api",
        "prod/bybit/api/",
        "prod/by bit/api",
        "prod/-bybit/api",
        "prod/bybit/" + "a" * 65,
        "",
    ],
)
def test_parse_secret_id_invalid_id_raises_with_the_expected_format(secret_id: str) -> None:
    with pytest.raises(InvalidSecretId, match=r"expected '\{env\}/\{service\}/\{type\}'"):
        parse_secret_id(secret_id)


def test_parse_secret_id_invalid_id_is_a_value_error_naming_the_id() -> None:
    with pytest.raises(ValueError, match="secret id 'prod/bybit' is invalid"):
        parse_secret_id("prod/bybit")


def test_parse_secret_id_value_without_slash_is_masked_in_the_error() -> None:
    # A secret passed where an id belongs must not come back in the error.
    with pytest.raises(InvalidSecretId) as caught:
        parse_secret_id(SECRET)

    assert SECRET not in str(caught.value)
    assert SECRET not in caught.value.secret_id
    assert "'SeCr…' (38 chars)" in str(caught.value)


def test_api_secret_id_builds_and_checks_the_id() -> None:
    assert api_secret_id("prod", "bybit") == "prod/bybit/api"
    with pytest.raises(InvalidSecretId):
        api_secret_id("prod", "By Bit")


@pytest.mark.parametrize(
    ("value", "masked"),
    [
        (KEY, "AKEY…"),
        ("abcdefgh", "ab…"),
        ("abc", "***"),
        ("", "***"),
        (None, "<unset>"),
        (SecretStr(SECRET), "***"),
    ],
)
def test_mask_shows_at_most_four_leading_characters(
    value: str | SecretStr | None, masked: str
) -> None:
    assert mask(value) == masked


def test_api_credentials_repr_and_str_mask_key_and_hide_secret() -> None:
    credentials = creds()

    text = repr(credentials)

    assert text == (
        "ApiCredentials(api_key='AKEY…', api_secret='***', secret_id='prod/bybit/api', "
        "version_id='v1', source='aws')"
    )
    assert str(credentials) == f"{credentials}" == text
    assert f"{credentials!r} {[credentials]} {credentials.api_secret}".count(SECRET) == 0
    assert KEY not in text


def test_api_credentials_refuse_pickling() -> None:
    with pytest.raises(TypeError, match="never leave the process"):
        pickle.dumps(creds())


def test_api_credentials_copy_is_the_same_object() -> None:
    credentials = creds()

    assert copy.copy(credentials) is credentials
    assert copy.deepcopy(credentials) is credentials


def test_credentials_from_ignores_extra_fields() -> None:
    credentials = creds(note="rotated 2025-01-01")

    assert credentials.api_key == KEY
    assert credentials.api_secret.get_secret_value() == SECRET


@pytest.mark.parametrize(
    ("value", "message"),
    [
        ({"api_key": KEY}, "no non-empty string field 'api_secret'"),
        ({"api_secret": SECRET}, "no non-empty string field 'api_key'"),
        ({"api_key": KEY, "api_secret": ""}, "no non-empty string field 'api_secret'"),
        ({"api_key": 12345, "api_secret": SECRET}, "no non-empty string field 'api_key'"),
        ({"api_key": KEY, "api_secret": f" {SECRET}"}, "'api_secret' has leading or trailing"),
    ],
)
def test_credentials_from_bad_fields_raise_invalid_secret_without_values(
    value: dict[str, object], message: str
) -> None:
    with pytest.raises(InvalidSecret, match=message) as caught:
        credentials_from(
            "prod/bybit/api", json.dumps(value), version_id=None, source="aws", retrieved_at_ns=0
        )

    assert SECRET not in str(caught.value)
    assert KEY not in str(caught.value)


def test_credentials_from_plain_text_raises_invalid_secret() -> None:
    with pytest.raises(InvalidSecret, match="is plain text: expected a JSON object"):
        credentials_from("prod/bybit/api", SECRET, version_id=None, source="aws", retrieved_at_ns=0)


def test_decode_secret_malformed_json_keeps_no_reference_to_the_document() -> None:
    broken = '{"api_key": "' + KEY + '", "api_secret": "' + SECRET

    with pytest.raises(InvalidSecret, match=r"not valid JSON \(line 1 column") as caught:
        decode_secret("prod/bybit/api", broken)

    # JSONDecodeError.doc is the whole input: it must not ride along as cause or context.
    assert caught.value.__cause__ is None
    assert caught.value.__context__ is None
    assert SECRET not in str(caught.value)


@pytest.mark.parametrize(
    ("stored", "decoded"),
    [
        ('{"user": "mmx", "password": "p"}', {"user": "mmx", "password": "p"}),
        ('  {"a": 1}', {"a": 1}),
        ("plain-password", "plain-password"),
        ("[1, 2]", "[1, 2]"),
    ],
)
def test_decode_secret_json_object_is_a_dict_anything_else_the_string(
    stored: str, decoded: object
) -> None:
    assert decode_secret("dev/db/password", stored) == decoded
