"""Reconciliation per account (MMX_ACCOUNTS=default,alpha) against the real simulator, which
models one venue account per key pair: each account's engine positions are compared with
that account's at the venue, signed with its own credentials, under its own lease; a
configured account without a key pair stops the start."""

from __future__ import annotations

import json
from collections.abc import Iterator
from decimal import Decimal
from typing import Any

import pytest
import redis.asyncio as aioredis
from pydantic import SecretStr

from libs.common import topology
from libs.common.domain.enums import Category, OrderType, Side
from libs.common.domain.ids import AccountId, ClientOrderId
from libs.common.stores import RedisLeaseStore
from libs.common.venue import BybitVenue, Execution, PlaceOrder, VenueConfig
from services.positions.app import RECONCILE_LEASE
from services.positions.venues import MissingCredentials
from tests.integration.bus.helpers import wait_until
from tests.integration.conftest import TEST_LIMITS
from tests.integration.positions.helpers import (
    BTC,
    filled,
    from_execution,
    parts,
    publish,
    running_positions,
    sim_venue,
)
from tests.simulator import TEST_API_KEY, TEST_API_SECRET, SimProcess

pytestmark = pytest.mark.integration
D = Decimal
DEFAULT, ALPHA = AccountId("default"), AccountId("alpha")
ALPHA_KEY, ALPHA_SECRET = "pos-alpha-key-0001", "pos-alpha-secret-5e2b7c19"
DEFAULT_UID, ALPHA_UID = "100100100", "100100101"
ALPHA_LEASE = f"{RECONCILE_LEASE}:alpha"
ALPHA_DRIFT_KEY = f"{topology.POSITION_DRIFT_KEY}:alpha"


@pytest.fixture(scope="module")
def two_account_sim() -> Iterator[SimProcess]:
    """A simulator with two venue accounts: the default test pair's and alpha's."""
    keys = f"{TEST_API_KEY}:{TEST_API_SECRET},{ALPHA_KEY}:{ALPHA_SECRET}"
    with SimProcess(env={"MMX_SIM_KEYS": keys}) as sim:
        yield sim


@pytest.fixture
async def sim(two_account_sim: SimProcess) -> SimProcess:
    await two_account_sim.control("reset", {"marketFrozen": True})
    await two_account_sim.control("limits", TEST_LIMITS)
    await two_account_sim.control("mid", {"symbol": "BTCUSDT", "price": "60000"})
    return two_account_sim


@pytest.fixture
def two_accounts(monkeypatch: pytest.MonkeyPatch) -> None:
    """MMX_ACCOUNTS=default,alpha with alpha's own pair in the environment."""
    monkeypatch.setenv("MMX_ACCOUNTS", "default,alpha")
    monkeypatch.setenv("MMX_API_KEY_ALPHA", ALPHA_KEY)
    monkeypatch.setenv("MMX_API_SECRET_ALPHA", ALPHA_SECRET)


async def market_buy(venue: VenueConfig, qty: str, cid: str) -> list[Execution]:
    """A market buy at the venue account `venue` signs for; its executions."""
    async with BybitVenue(venue) as client:
        order = PlaceOrder(
            category=Category.LINEAR,
            symbol=BTC,
            side=Side.BUY,
            order_type=OrderType.MARKET,
            qty=D(qty),
            client_order_id=ClientOrderId(cid),
        )
        await client.place(order)
        return await client.executions(Category.LINEAR, BTC)


async def venue_qty(sim: SimProcess, uid: str) -> Decimal:
    """The BTCUSDT position size of one simulator account."""
    listed = (await sim.control(f"positions?uid={uid}", method="GET"))["list"]
    return next(D(p["size"]) for p in listed if p["symbol"] == BTC)


async def drift_record(redis: aioredis.Redis, key: str) -> dict[str, Any] | None:
    value = await redis.hget(key, BTC)
    return None if value is None else dict(json.loads(value))


@pytest.mark.usefixtures("two_accounts")
async def test_each_account_is_compared_with_its_own_venue_account(
    redis: aioredis.Redis, redis_url: str, sim: SimProcess
) -> None:
    venue = sim_venue(sim)
    alpha_venue = venue.model_copy(
        update={"api_key": ALPHA_KEY, "api_secret": SecretStr(ALPHA_SECRET)}
    )
    default_fills = await market_buy(venue, "0.004", "d-1")
    alpha_fills = await market_buy(alpha_venue, "0.01", "a-1")
    at_venue = (await venue_qty(sim, DEFAULT_UID), await venue_qty(sim, ALPHA_UID))

    async with running_positions(redis_url, venue) as positions:
        for execution in default_fills:  # default booked every fill: in sync
            await publish(redis, from_execution(execution))
        # alpha booked 0.004 of its 0.01 (the same qty default holds: a reconciler signing
        # with default's key would find no drift for alpha)
        await publish(redis, filled("a-part", Side.BUY, "0.004", "60000", account=ALPHA))
        found = parts(positions)
        await wait_until(lambda: found.reconcilers[ALPHA, "bybit"].last.get(BTC) == D("0.006"))
        await wait_until(lambda: found.reconcilers[DEFAULT, "bybit"].last.get(BTC) == 0)
        gauge = positions.registry.get_sample_value(
            "reconciliation_drift",
            {"account": ALPHA, "venue": "bybit", "kind": "position_qty", "symbol": BTC},
        )
        leases = RedisLeaseStore(redis)
        holders = (await leases.holder(RECONCILE_LEASE), await leases.holder(ALPHA_LEASE))
        checks = set(positions.checks)
        default_record = await drift_record(redis, topology.POSITION_DRIFT_KEY)
        alpha_record = await drift_record(redis, ALPHA_DRIFT_KEY)

    assert len(default_fills) == 1 and len(alpha_fills) == 1  # one fill at each venue account
    assert at_venue == (D("0.004"), D("0.01"))
    assert list(found.reconcilers) == [(DEFAULT, "bybit"), (ALPHA, "bybit")]
    assert default_record is not None and alpha_record is not None
    quantities = ("engine_qty", "venue_qty", "drift")
    assert [D(default_record[q]) for q in quantities] == [D("0.004"), D("0.004"), D(0)]
    assert [D(alpha_record[q]) for q in quantities] == [D("0.004"), D("0.01"), D("0.006")]
    assert gauge == pytest.approx(0.006)  # alpha's own series
    assert holders[0] is not None and holders[1] is not None
    assert {f"lease {RECONCILE_LEASE}", f"lease {ALPHA_LEASE}"} <= checks


async def test_an_account_without_a_key_pair_stops_the_start(
    redis: aioredis.Redis, redis_url: str, sim: SimProcess, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("MMX_ACCOUNTS", "default,alpha")
    monkeypatch.delenv("MMX_API_KEY_ALPHA", raising=False)
    monkeypatch.delenv("MMX_API_SECRET_ALPHA", raising=False)

    with pytest.raises(MissingCredentials) as raised:
        async with running_positions(redis_url, sim_venue(sim)):
            pass  # never reached: the start stops

    assert str(raised.value) == (
        "positions cannot reconcile account 'alpha' (MMX_ACCOUNTS): no bybit API key: "
        "expected MMX_API_KEY_ALPHA and MMX_API_SECRET_ALPHA"
    )
    assert await RedisLeaseStore(redis).holder(RECONCILE_LEASE) is None  # nothing ran
