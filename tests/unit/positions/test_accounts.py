"""Positions per account: each account's venue signs with its own pair, read at start (a
missing pair stops the start), and the drift gauges sum over the accounts."""

from __future__ import annotations

from decimal import Decimal

import pytest
from prometheus_client import CollectorRegistry

from libs.common.domain.ids import AccountId, Symbol, VenueId
from libs.common.metrics import EngineMetrics
from libs.common.venue import BinanceConfig, VenueConfig
from services.positions.reconcile import DriftGauges, drift_key
from services.positions.settings import PositionsSettings
from services.positions.venues import MissingCredentials, account_venue, account_venues

D = Decimal
DEFAULT, ALPHA = AccountId("default"), AccountId("alpha")
BTC, ETH = Symbol("BTCUSDT"), Symbol("ETHUSDT")
BYBIT, BINANCE = VenueId("bybit"), VenueId("binance-usdm")
KEY_A, SECRET_A = "alpha-key-0123456789", "alpha-secret-0123456789abcdef"


@pytest.fixture(autouse=True)
def _clean_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    for name in (
        "MMX_API_KEY_ALPHA",
        "MMX_API_SECRET_ALPHA",
        "MMX_BINANCE_API_KEY_ALPHA",
        "MMX_BINANCE_API_SECRET_ALPHA",
        "MMX_SECRETS_ENV",
        "MMX_POSITIONS_SECRETS_ENV",
        "BYBIT_API_KEY_ALPHA",
        "BYBIT_API_SECRET_ALPHA",
        "SECRETS_PRINCIPAL",
    ):
        monkeypatch.delenv(name, raising=False)


def settings(**fields: object) -> PositionsSettings:
    venue = VenueConfig(venue="sim", api_key="default-key-0123456789", api_secret="d" * 24)
    return PositionsSettings(venue=venue, accounts=("default", "alpha"), **fields)  # type: ignore[arg-type]


async def test_each_account_signs_with_its_own_pair(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("MMX_API_KEY_ALPHA", KEY_A)
    monkeypatch.setenv("MMX_API_SECRET_ALPHA", SECRET_A)

    venues = await account_venues(settings())

    assert list(venues) == [(DEFAULT, BYBIT), (ALPHA, BYBIT)]
    default, alpha = venues[DEFAULT, BYBIT], venues[ALPHA, BYBIT]
    assert isinstance(default, VenueConfig) and isinstance(alpha, VenueConfig)
    assert default.key == "default-key-0123456789"
    assert (alpha.key, alpha.secret) == (KEY_A, SECRET_A)
    assert alpha.rest_base == default.rest_base


async def test_each_account_signs_at_binance_with_its_binance_pair(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv("MMX_API_KEY_ALPHA", KEY_A)
    monkeypatch.setenv("MMX_API_SECRET_ALPHA", SECRET_A)
    monkeypatch.setenv("MMX_BINANCE_API_KEY_ALPHA", "alpha-binance-key-0123")
    monkeypatch.setenv("MMX_BINANCE_API_SECRET_ALPHA", "alpha-binance-secret-0123")

    venues = await account_venues(settings(venues="bybit,binance-usdm"))

    assert list(venues) == [(DEFAULT, BYBIT), (DEFAULT, BINANCE), (ALPHA, BYBIT), (ALPHA, BINANCE)]
    assert venues[ALPHA, BINANCE].key == "alpha-binance-key-0123"
    assert venues[DEFAULT, BINANCE].key == "mmx-dev-key"  # the simulator's pair
    assert isinstance(venues[ALPHA, BINANCE], BinanceConfig)


async def test_a_missing_binance_pair_names_the_binance_variables(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv("MMX_API_KEY_ALPHA", KEY_A)
    monkeypatch.setenv("MMX_API_SECRET_ALPHA", SECRET_A)

    with pytest.raises(MissingCredentials, match="MMX_BINANCE_API_KEY_ALPHA"):
        await account_venues(settings(venues="bybit,binance-usdm"))


async def test_a_missing_pair_names_the_account_and_the_variables_expected() -> None:
    with pytest.raises(MissingCredentials) as raised:
        await account_venues(settings())

    message = str(raised.value)
    assert "account 'alpha' (MMX_ACCOUNTS)" in message
    assert "expected MMX_API_KEY_ALPHA and MMX_API_SECRET_ALPHA" in message


async def test_the_default_account_without_a_pair_off_the_simulator_stops_too() -> None:
    bare = PositionsSettings(venue=VenueConfig(venue="bybit-testnet"))

    with pytest.raises(MissingCredentials, match="expected MMX_API_KEY and MMX_API_SECRET"):
        await account_venue(bare, DEFAULT)


async def test_a_secrets_env_reads_each_accounts_secret(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("SECRETS_MOCK_MODE", "1")
    monkeypatch.setenv("BYBIT_API_KEY", "secret-default-key-0123")
    monkeypatch.setenv("BYBIT_API_SECRET", "secret-default-secret-0123")
    monkeypatch.setenv("MMX_SECRETS_ENV", "staging")

    with pytest.raises(MissingCredentials, match="staging/bybit/api-alpha"):
        await account_venues(settings())
    monkeypatch.setenv("BYBIT_API_KEY_ALPHA", KEY_A)
    monkeypatch.setenv("BYBIT_API_SECRET_ALPHA", SECRET_A)
    venues = await account_venues(settings())

    assert venues[DEFAULT, BYBIT].key == "secret-default-key-0123"  # the secret's
    assert venues[ALPHA, BYBIT].key == KEY_A


def test_the_default_account_keeps_its_drift_key_and_another_has_its_own() -> None:
    assert drift_key(DEFAULT) == "mmx:positions:drift"
    assert drift_key(ALPHA) == "mmx:positions:drift:alpha"
    assert drift_key(ALPHA, BINANCE) == "mmx:positions:drift:alpha:binance-usdm"


def _gauge(
    registry: CollectorRegistry, account: str, symbol: Symbol, venue: str = BYBIT
) -> float | None:
    labels = {"account": account, "venue": venue, "kind": "position_qty", "symbol": symbol}
    return registry.get_sample_value("reconciliation_drift", labels)


def test_drift_gauges_are_per_account_and_a_lost_accounts_series_leave() -> None:
    registry = CollectorRegistry()
    gauges = DriftGauges(EngineMetrics(registry))

    gauges.report(DEFAULT, {BTC: D("0.25")})
    gauges.report(ALPHA, {BTC: D("0.5"), ETH: D(2)})
    first = (_gauge(registry, DEFAULT, BTC), _gauge(registry, ALPHA, BTC))
    gauges.report(ALPHA, {BTC: D(0)})  # alpha's next pass: BTC agrees, ETH is gone
    again = (_gauge(registry, ALPHA, BTC), _gauge(registry, ALPHA, ETH))
    gauges.clear(DEFAULT)  # default's lease lost

    assert first == (0.25, 0.5)
    assert again == (0.0, None)
    assert _gauge(registry, DEFAULT, BTC) is None
    assert _gauge(registry, ALPHA, BTC) == 0.0
