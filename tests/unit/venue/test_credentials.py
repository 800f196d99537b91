"""Where an account's venue credentials come from (libs.common.venue.credentials): the
environment (`MMX_API_KEY[_{ACCOUNT}]`) or, with a secrets env, the secret
`{env}/bybit/api[-{account}]` (mock mode here: `BYBIT_API_KEY[_{ACCOUNT}]`)."""

from __future__ import annotations

from dataclasses import dataclass

import pytest
from pydantic import SecretStr

from libs.common.domain.ids import AccountId
from libs.common.secrets import SecretNotFound
from libs.common.venue import AuthenticationFailed, VenueConfig
from libs.common.venue.credentials import (
    Credentials,
    EnvSource,
    SecretSource,
    credential_source,
    env_suffix,
    with_credentials,
)
from services.router import credentials as router_credentials

ALPHA = AccountId("alpha")
KEY_A, SECRET_A = "alpha-key-0123456789", "alpha-secret-0123456789abcdef"


@dataclass(frozen=True)
class Where:
    secrets_env: str | None


@pytest.fixture(autouse=True)
def _no_credentials_in_the_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    for name in ("MMX_API_KEY", "MMX_API_SECRET", "MMX_VENUE", "SECRETS_PRINCIPAL"):
        monkeypatch.delenv(name, raising=False)
    for name in ("MMX_API_KEY_ALPHA", "MMX_API_SECRET_ALPHA"):
        monkeypatch.delenv(name, raising=False)


def test_another_accounts_variables_are_suffixed_in_upper_case_with_underscores() -> None:
    assert env_suffix(AccountId("default")) == ""
    assert env_suffix(ALPHA) == "_ALPHA"
    assert env_suffix(AccountId("desk-2")) == "_DESK_2"


async def test_the_environment_gives_another_account_its_own_pair(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv("MMX_API_KEY", "default-key-0123456789")
    monkeypatch.setenv("MMX_API_SECRET", "default-secret-0123456789")
    monkeypatch.setenv("MMX_API_KEY_ALPHA", KEY_A)
    monkeypatch.setenv("MMX_API_SECRET_ALPHA", SECRET_A)

    source = credential_source(Where(None), "positions:test", ALPHA)
    creds = await source.read()

    assert isinstance(source, EnvSource)
    assert (creds.api_key, creds.api_secret.get_secret_value()) == (KEY_A, SECRET_A)
    assert creds.origin == "MMX_API_KEY_ALPHA"


async def test_a_missing_pair_of_another_account_names_the_variables_expected(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv("MMX_API_KEY_ALPHA", KEY_A)  # the secret alone is missing

    with pytest.raises(
        AuthenticationFailed, match="expected MMX_API_KEY_ALPHA and MMX_API_SECRET_ALPHA"
    ):
        await EnvSource(ALPHA).read()


async def test_a_secrets_env_reads_the_accounts_own_secret(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv("SECRETS_MOCK_MODE", "1")
    monkeypatch.setenv("BYBIT_API_KEY_ALPHA", KEY_A)
    monkeypatch.setenv("BYBIT_API_SECRET_ALPHA", SECRET_A)

    source = credential_source(Where("staging"), "positions:test", ALPHA)
    try:
        creds = await source.read()
    finally:
        source.close()

    assert isinstance(source, SecretSource)
    assert (creds.api_key, creds.api_secret.get_secret_value()) == (KEY_A, SECRET_A)
    assert creds.origin == "staging/bybit/api-alpha version mock"


async def test_a_missing_secret_names_it(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("SECRETS_MOCK_MODE", "1")
    monkeypatch.delenv("BYBIT_API_KEY_ALPHA", raising=False)
    monkeypatch.delenv("BYBIT_API_SECRET_ALPHA", raising=False)

    source = credential_source(Where("staging"), "positions:test", ALPHA)
    try:
        with pytest.raises(SecretNotFound, match="staging/bybit/api-alpha"):
            await source.read()
    finally:
        source.close()


def test_with_credentials_signs_with_the_pair_and_keeps_the_rest() -> None:
    config = VenueConfig(venue="sim", venue_url="http://127.0.0.1:1", recv_window=7000)
    creds = Credentials(KEY_A, SecretStr(SECRET_A), "MMX_API_KEY_ALPHA")

    signed = with_credentials(config, creds)

    assert (signed.key, signed.secret) == (KEY_A, SECRET_A)
    assert (signed.rest_base, signed.recv_window) == ("http://127.0.0.1:1", 7000)
    assert SECRET_A not in repr(creds) and KEY_A not in repr(creds)


def test_the_router_module_still_offers_the_same_sources() -> None:
    assert router_credentials.credential_source is credential_source
    assert router_credentials.EnvSource is EnvSource
    assert router_credentials.Credentials is Credentials
