"""`SecretsClient` without AWS: mock mode, the TTL cache, the audit log, settings, defaults."""

from __future__ import annotations

import logging
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import boto3
import pytest

from libs.common.secrets import (
    AUDIT_LOGGER,
    InvalidSecretId,
    SecretNotFound,
    SecretsClient,
    SecretsConfigError,
    SecretsSettings,
    clear_cache,
    get_api_credentials,
    get_secret,
    set_default_client,
)
from libs.common.secrets import default as default_module
from libs.common.secrets._aws import make_client, silence_wire_logs

KEY = "devKEYq7Lm2Np9Rt4Vw"
SECRET = "devSECRETz8Yy7Xx6Ww5Vv4Uu3Tt2Ss1Rr0Qq9"


@dataclass
class FakeClock:
    now: float = 50.0

    def __call__(self) -> float:
        return self.now


@pytest.fixture
def clock() -> FakeClock:
    return FakeClock()


@pytest.fixture
def environ() -> dict[str, str]:
    return {"BYBIT_API_KEY": KEY, "BYBIT_API_SECRET": SECRET}


@pytest.fixture
def client(clock: FakeClock, environ: dict[str, str]) -> Iterator[SecretsClient]:
    settings = SecretsSettings(mock_mode=True, principal="router", ttl_s=300)
    with SecretsClient(settings, clock=clock, environ=environ) as made:
        yield made


def audits(caplog: pytest.LogCaptureFixture) -> list[dict[str, Any]]:
    return [vars(r)["audit"] for r in caplog.records if r.name == AUDIT_LOGGER]


def test_mock_mode_reads_exchange_key_and_secret_from_the_environment(
    client: SecretsClient,
) -> None:
    creds = client.get_api_credentials("dev", "bybit")

    assert creds.api_key == KEY
    assert creds.api_secret.get_secret_value() == SECRET
    assert (creds.secret_id, creds.source, creds.version_id) == ("dev/bybit/api", "env", None)


def test_mock_mode_other_exchange_reads_its_own_variables(
    client: SecretsClient, environ: dict[str, str]
) -> None:
    environ.update({"BYBIT_DEMO_API_KEY": "demo-key-0123456789", "BYBIT_DEMO_API_SECRET": "s" * 20})

    creds = client.get_api_credentials("staging", "bybit-demo")

    assert creds.api_key == "demo-key-0123456789"


def test_mock_mode_generic_id_reads_secrets_mock_variable(
    client: SecretsClient, environ: dict[str, str]
) -> None:
    environ["SECRETS_MOCK_DEV_DB_PASSWORD"] = "hunter2"
    environ["SECRETS_MOCK_DEV_REDIS_ACL"] = '{"user": "mmx", "password": "p"}'

    assert client.get_secret("dev/db/password") == "hunter2"
    assert client.get_secret("dev/redis/acl") == {"user": "mmx", "password": "p"}


def test_mock_mode_missing_variable_raises_not_found_naming_it(
    client: SecretsClient, environ: dict[str, str]
) -> None:
    del environ["BYBIT_API_SECRET"]

    with pytest.raises(SecretNotFound, match="expected BYBIT_API_SECRET set in the environment"):
        client.get_api_credentials("dev", "bybit")


def test_mock_mode_refuses_prod_ids(client: SecretsClient) -> None:
    with pytest.raises(SecretsConfigError, match="mock mode refuses secret 'prod/bybit/api'"):
        client.get_api_credentials("prod", "bybit")


def test_cache_serves_the_same_value_until_the_ttl_then_reads_again(
    client: SecretsClient, clock: FakeClock, environ: dict[str, str]
) -> None:
    first = client.get_api_credentials("dev", "bybit")
    environ["BYBIT_API_KEY"] = "rotatedKEY0123456789"

    clock.now += 299.9
    cached = client.get_api_credentials("dev", "bybit")
    clock.now += 0.1
    expired = client.get_api_credentials("dev", "bybit")

    assert cached is not first and cached == first
    assert expired.api_key == "rotatedKEY0123456789"


def test_zero_ttl_reads_the_source_every_time(clock: FakeClock, environ: dict[str, str]) -> None:
    settings = SecretsSettings(mock_mode=True, principal="router", ttl_s=0)
    with SecretsClient(settings, clock=clock, environ=environ) as client:
        client.get_api_credentials("dev", "bybit")
        environ["BYBIT_API_KEY"] = "rotatedKEY0123456789"

        assert client.get_api_credentials("dev", "bybit").api_key == "rotatedKEY0123456789"


def test_clear_cache_and_refresh_both_read_the_source_again(
    client: SecretsClient, environ: dict[str, str]
) -> None:
    client.get_api_credentials("dev", "bybit")
    environ["BYBIT_API_KEY"] = "secondKEY0123456789"
    assert client.refresh_api_credentials("dev", "bybit").api_key == "secondKEY0123456789"

    environ["BYBIT_API_KEY"] = "thirdKEY0123456789"
    client.clear_cache()

    assert client.get_api_credentials("dev", "bybit").api_key == "thirdKEY0123456789"


def test_failed_refresh_drops_the_cached_entry(
    client: SecretsClient, environ: dict[str, str]
) -> None:
    client.get_api_credentials("dev", "bybit")
    del environ["BYBIT_API_KEY"]

    with pytest.raises(SecretNotFound):
        client.refresh_api_credentials("dev", "bybit")
    # The refused key is not served from the cache afterwards.
    with pytest.raises(SecretNotFound):
        client.get_api_credentials("dev", "bybit")


def test_audit_line_per_access_with_who_what_when_cache_and_outcome(
    client: SecretsClient, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.DEBUG)

    client.get_api_credentials("dev", "bybit")
    client.get_api_credentials("dev", "bybit")
    with pytest.raises(SecretsConfigError):
        client.get_api_credentials("prod", "bybit")

    lines = audits(caplog)
    assert [(a["op"], a["secret_id"], a["cache"], a["outcome"]) for a in lines] == [
        ("get_api_credentials", "dev/bybit/api", "miss", "ok"),
        ("get_api_credentials", "dev/bybit/api", "hit", "ok"),
        ("get_api_credentials", "prod/bybit/api", "miss", "config_error"),
    ]
    assert {(a["principal"], a["source"]) for a in lines} == {("router", "env")}
    assert all(a["ts_ns"] > 1_600_000_000 * 10**9 for a in lines)
    assert [r.levelname for r in caplog.records if r.name == AUDIT_LOGGER] == [
        "INFO",
        "INFO",
        "WARNING",
    ]
    message = caplog.records[0].getMessage()
    assert message.startswith("secret_access principal=router secret_id=dev/bybit/api")
    for record in caplog.records:
        assert SECRET not in record.getMessage() + repr(vars(record))
        assert KEY not in record.getMessage() + repr(vars(record))


def test_audit_of_an_invalid_id_masks_what_might_be_a_secret(
    client: SecretsClient, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.INFO, logger=AUDIT_LOGGER)

    with pytest.raises(InvalidSecretId):
        client.get_secret(SECRET)

    (line,) = audits(caplog)
    assert (line["cache"], line["outcome"]) == ("none", "invalid_id")
    assert SECRET not in line["secret_id"]


async def test_async_variants_run_the_read_off_the_event_loop(client: SecretsClient) -> None:
    creds = await client.aget_api_credentials("dev", "bybit")
    refreshed = await client.arefresh_api_credentials("dev", "bybit")

    assert creds == refreshed


def test_settings_defaults_match_the_policy(monkeypatch: pytest.MonkeyPatch) -> None:
    for name in ("SECRETS_TTL_S", "SECRETS_MOCK_MODE", "SECRETS_MAX_ATTEMPTS"):
        monkeypatch.delenv(name, raising=False)

    settings = SecretsSettings()

    assert settings.ttl_s == 300
    assert (settings.connect_timeout_s, settings.read_timeout_s) == (5, 10)
    assert settings.max_attempts == 3
    assert settings.mock_mode is False
    assert settings.principal


def test_settings_read_the_secrets_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("SECRETS_MOCK_MODE", "1")
    monkeypatch.setenv("SECRETS_PRINCIPAL", "gateway")
    monkeypatch.setenv("SECRETS_TTL_S", "60")

    settings = SecretsSettings()

    assert (settings.mock_mode, settings.principal, settings.ttl_s) == (True, "gateway", 60)


def _session() -> Any:
    return boto3.session.Session(aws_access_key_id="testing", aws_secret_access_key="testing")


def test_boto_client_has_explicit_timeouts_and_adaptive_retries() -> None:
    settings = SecretsSettings(region="eu-west-1", principal="test")

    boto = make_client(settings, _session(), "prod/bybit/api")
    try:
        config = boto.meta.config
        assert (config.connect_timeout, config.read_timeout) == (5, 10)
        assert config.retries == {"mode": "adaptive", "total_max_attempts": 3}
    finally:
        boto.close()


def test_no_region_raises_config_error(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    for name in ("AWS_REGION", "AWS_DEFAULT_REGION", "AWS_PROFILE"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("AWS_CONFIG_FILE", str(tmp_path / "none"))
    settings = SecretsSettings(region=None, principal="test")

    with (
        SecretsClient(settings, session=_session()) as client,
        pytest.raises(SecretsConfigError, match="set SECRETS_REGION or AWS_DEFAULT_REGION"),
    ):
        client.get_secret("prod/bybit/api")


def test_silence_wire_logs_installs_one_filter() -> None:
    silence_wire_logs()
    silence_wire_logs()

    parsers = logging.getLogger("botocore.parsers")
    assert len([f for f in parsers.filters if type(f).__name__ == "_NoWireDebug"]) == 1
    assert not parsers.filter(parsers.makeRecord("x", logging.DEBUG, "f", 1, "body", (), None))


def test_module_functions_use_the_installed_default_client(client: SecretsClient) -> None:
    set_default_client(client)
    try:
        assert get_api_credentials("dev", "bybit").api_key == KEY
        assert get_secret("dev/bybit/api") == {"api_key": KEY, "api_secret": SECRET}
        clear_cache()
    finally:
        set_default_client(None)

    clear_cache()
    assert default_module._default is None
