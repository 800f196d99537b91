"""The account limit store contract, against the fake and Redis."""

from __future__ import annotations

from decimal import Decimal

import pytest

from libs.common.domain.ids import AccountId, Symbol
from libs.common.domain.risk_checks import RiskLimits
from libs.common.stores.account_limits import (
    AccountLimits,
    AccountLimitStore,
    InMemoryAccountLimitStore,
    RedisAccountLimitStore,
)
from tests.contract.conftest import Clients

BTC, ETH = Symbol("BTCUSDT"), Symbol("ETHUSDT")
DESK = RiskLimits()


@pytest.fixture
def store(clients: Clients | None) -> AccountLimitStore:
    if clients is None:
        return InMemoryAccountLimitStore()
    return RedisAccountLimitStore(clients[0], AccountId("alpha"))


async def test_nothing_set_reads_empty(store: AccountLimitStore) -> None:
    assert await store.get() == AccountLimits()


async def test_a_set_replaces_every_override_of_the_account(store: AccountLimitStore) -> None:
    await store.set(
        DESK, {"max_inventory_usd": Decimal(500)}, {BTC: {"max_open_orders_per_symbol": 5}}
    )
    await store.set(
        DESK, {"max_order_notional": Decimal(200)}, {ETH: {"max_inventory_usd": Decimal(100)}}
    )

    assert await store.get() == AccountLimits(
        limits={"max_order_notional": "200"}, symbols={ETH: {"max_inventory_usd": "100"}}
    )


async def test_an_invalid_override_is_refused_and_nothing_changes(
    store: AccountLimitStore,
) -> None:
    await store.set(DESK, {"max_inventory_usd": Decimal(500)}, {})
    with pytest.raises(ValueError, match="soft daily loss limit"):
        await store.set(DESK, {"daily_loss_soft_limit": Decimal(5_000)}, {})
    with pytest.raises(ValueError, match="unknown risk limit"):
        await store.set(DESK, {}, {BTC: {"max_bananas": 1}})
    assert await store.get() == AccountLimits(limits={"max_inventory_usd": "500"})
