"""Reads, cache, expiry, rotation and audit against a moto Secrets Manager over HTTP."""

from __future__ import annotations

import json
import logging
from typing import Any

import pytest

from libs.common.secrets import (
    AUDIT_LOGGER,
    clear_cache,
    get_api_credentials,
    get_secret,
    refresh_api_credentials,
    set_default_client,
)
from tests.integration.secrets.conftest import PRINCIPAL, ClientFactory, FakeClock, MotoServer

pytestmark = pytest.mark.integration

SECRET_ID = "prod/bybit/api"
KEY = "AKEYxq7Lm2Np9Rt4Vw"
SECRET = "SeCrEtZz8Yy7Xx6Ww5Vv4Uu3Tt2Ss1Rr0Qq9Pp"
NEW_KEY = "BKEYnew1new2new3ne"
NEW_SECRET = "RoTaTeDd8Yy7Xx6Ww5Vv4Uu3Tt2Ss1Rr0Qq9Pp"


def store(admin: Any, key: str = KEY, secret: str = SECRET) -> str:
    """Create `prod/bybit/api` and return its VersionId."""
    value = json.dumps({"api_key": key, "api_secret": secret})
    return str(admin.create_secret(Name=SECRET_ID, SecretString=value)["VersionId"])


def rotate(admin: Any) -> str:
    value = json.dumps({"api_key": NEW_KEY, "api_secret": NEW_SECRET})
    return str(admin.put_secret_value(SecretId=SECRET_ID, SecretString=value)["VersionId"])


def audit_lines(caplog: pytest.LogCaptureFixture) -> list[dict[str, Any]]:
    return [vars(r)["audit"] for r in caplog.records if r.name == AUDIT_LOGGER]


def test_get_api_credentials_reads_the_secret_over_http(
    admin: Any, make_client: ClientFactory, moto: MotoServer
) -> None:
    version = store(admin)

    creds = make_client().get_api_credentials("prod", "bybit")

    assert creds.api_key == KEY
    assert creds.api_secret.get_secret_value() == SECRET
    assert (creds.secret_id, creds.version_id, creds.source) == (SECRET_ID, version, "aws")
    assert moto.requests("GetSecretValue", SECRET_ID) == 1


def test_get_secret_returns_a_dict_for_json_and_the_string_for_plain_text(
    admin: Any, make_client: ClientFactory
) -> None:
    store(admin)
    admin.create_secret(Name="prod/db/password", SecretString="hunter2-plain")
    client = make_client()

    assert client.get_secret(SECRET_ID) == {"api_key": KEY, "api_secret": SECRET}
    assert client.get_secret("prod/db/password") == "hunter2-plain"


def test_second_read_within_ttl_makes_no_http_call(
    admin: Any, make_client: ClientFactory, moto: MotoServer, clock: FakeClock
) -> None:
    store(admin)
    client = make_client()
    first = client.get_api_credentials("prod", "bybit")
    # Gone server-side: only the cache can still answer.
    admin.delete_secret(SecretId=SECRET_ID, ForceDeleteWithoutRecovery=True)
    clock.advance(299)

    second = client.get_api_credentials("prod", "bybit")

    assert second == first
    assert second.retrieved_at_ns == first.retrieved_at_ns
    assert moto.requests("GetSecretValue", SECRET_ID) == 1


def test_read_after_ttl_goes_to_the_store_again(
    admin: Any, make_client: ClientFactory, moto: MotoServer, clock: FakeClock
) -> None:
    store(admin)
    client = make_client(ttl_s=300)
    client.get_api_credentials("prod", "bybit")
    new_version = rotate(admin)
    clock.advance(300)

    creds = client.get_api_credentials("prod", "bybit")

    assert (creds.api_key, creds.version_id) == (NEW_KEY, new_version)
    assert moto.requests("GetSecretValue", SECRET_ID) == 2


def test_rotation_is_picked_up_after_clear_cache(
    admin: Any, make_client: ClientFactory, moto: MotoServer
) -> None:
    store(admin)
    client = make_client()
    old = client.get_api_credentials("prod", "bybit")
    new_version = rotate(admin)
    assert client.get_api_credentials("prod", "bybit") == old

    client.clear_cache()
    creds = client.get_api_credentials("prod", "bybit")

    assert creds.api_key == NEW_KEY
    assert creds.api_secret.get_secret_value() == NEW_SECRET
    assert creds.version_id == new_version != old.version_id
    assert moto.requests("GetSecretValue", SECRET_ID) == 2


def test_refresh_bypasses_the_cache_and_replaces_the_entry(
    admin: Any, make_client: ClientFactory, moto: MotoServer, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.INFO, logger=AUDIT_LOGGER)
    store(admin)
    client = make_client()
    client.get_api_credentials("prod", "bybit")
    new_version = rotate(admin)

    refreshed = client.refresh_api_credentials("prod", "bybit")
    again = client.get_api_credentials("prod", "bybit")

    assert refreshed.version_id == again.version_id == new_version
    assert moto.requests("GetSecretValue", SECRET_ID) == 2
    assert [(a["op"], a["cache"]) for a in audit_lines(caplog)] == [
        ("get_api_credentials", "miss"),
        ("refresh_api_credentials", "bypass"),
        ("get_api_credentials", "hit"),
    ]


def test_audit_records_every_access_and_no_log_line_holds_a_value(
    admin: Any, make_client: ClientFactory, caplog: pytest.LogCaptureFixture
) -> None:
    version = store(admin)
    client = make_client()
    # Everything at DEBUG, botocore included: its parser would print response bodies.
    # Set after arranging: the test's own CreateSecret request body holds the value.
    caplog.set_level(logging.DEBUG)

    client.get_api_credentials("prod", "bybit")
    client.get_secret(SECRET_ID)
    with pytest.raises(Exception, match="not found"):
        client.get_secret("prod/okx/api")

    audits = audit_lines(caplog)
    assert [(a["secret_id"], a["cache"], a["outcome"]) for a in audits] == [
        (SECRET_ID, "miss", "ok"),
        (SECRET_ID, "hit", "ok"),
        ("prod/okx/api", "miss", "not_found"),
    ]
    assert {a["principal"] for a in audits} == {PRINCIPAL}
    assert audits[0]["version_id"] == version
    assert all(isinstance(a["ts_ns"], int) and a["source"] == "aws" for a in audits)
    assert any(r.name.startswith("botocore") for r in caplog.records)
    for record in caplog.records:
        text = record.getMessage() + repr(vars(record))
        assert SECRET not in text
        assert KEY not in text


def test_mock_mode_reads_the_environment_and_never_calls_aws(
    admin: Any,
    make_client: ClientFactory,
    moto: MotoServer,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    store(admin)
    monkeypatch.setenv("BYBIT_API_KEY", "devkey-0123456789")
    monkeypatch.setenv("BYBIT_API_SECRET", "devsecret-0123456789")

    creds = make_client(mock_mode=True).get_api_credentials("dev", "bybit")

    assert creds.api_key == "devkey-0123456789"
    assert (creds.source, creds.version_id) == ("env", None)
    assert moto.requests("GetSecretValue") == 0


def test_module_functions_use_a_default_client_built_from_the_environment(
    admin: Any, moto: MotoServer, monkeypatch: pytest.MonkeyPatch
) -> None:
    store(admin)
    monkeypatch.setenv("SECRETS_ENDPOINT_URL", moto.url)
    monkeypatch.setenv("SECRETS_PRINCIPAL", "gateway")
    set_default_client(None)
    try:
        creds = get_api_credentials("prod", "bybit")
        assert get_secret(SECRET_ID) == {"api_key": KEY, "api_secret": SECRET}
        new_version = rotate(admin)
        clear_cache()
        assert get_api_credentials("prod", "bybit").version_id == new_version
        assert refresh_api_credentials("prod", "bybit").version_id == new_version
    finally:
        set_default_client(None)

    assert creds.api_key == KEY
    assert moto.requests("GetSecretValue", SECRET_ID) == 3
