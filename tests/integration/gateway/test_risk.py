"""The risk routes of the gateway against real Redis: freeze, unfreeze, limits, edge."""

from __future__ import annotations

import time
from decimal import Decimal
from typing import Any

import httpx
import pytest
import redis.asyncio as aioredis

from libs.common import topology
from libs.common.domain.enums import Side
from libs.common.domain.ids import DEFAULT_ACCOUNT, ExecId, Symbol
from libs.common.domain.positions import Fill
from libs.common.domain.risk_checks import TradingState
from libs.common.messages import (
    FreezeTrading,
    ReportEdge,
    SetRiskLimits,
    TradingStateChanged,
    UnfreezeTrading,
)
from libs.common.stores import RedisPositionStore, RedisRiskStateStore
from libs.common.stores.marks import Mark, RedisMarkStore
from tests.integration.gateway.conftest import COOLDOWN_S, messages

pytestmark = pytest.mark.integration

BTC = Symbol("BTCUSDT")
OPERATOR = {"X-MMX-Actor": "alice"}


async def test_freeze_sets_the_freeze_key_and_broadcasts_on_control(
    client: httpx.AsyncClient, redis: aioredis.Redis
) -> None:
    response = await client.post(
        "/v1/risk/freeze", json={"reason": "exchange issues"}, headers=OPERATOR
    )

    assert response.status_code == 200, response.text
    assert response.json() == {"state": "FROZEN", "epoch": 1, "changed": True}
    status = await RedisRiskStateStore(redis).trading_state()
    assert (status.state, status.actor) == (TradingState.FROZEN, "alice")
    assert "exchange issues" in status.reason
    (broadcast,) = await messages(redis, topology.CONTROL.desk)
    assert isinstance(broadcast, TradingStateChanged)
    assert (broadcast.state, broadcast.epoch) == (TradingState.FROZEN, 1)
    (audit,) = await messages(redis, topology.AUDIT)
    assert audit == FreezeTrading(reason="exchange issues", actor="alice")


async def test_freeze_twice_broadcasts_once(
    client: httpx.AsyncClient, redis: aioredis.Redis
) -> None:
    await client.post("/v1/risk/freeze", json={"reason": "one"})
    again = await client.post("/v1/risk/freeze", json={"reason": "two"})

    assert again.json() == {"state": "FROZEN", "epoch": 1, "changed": False}
    assert len(await messages(redis, topology.CONTROL.desk)) == 1


async def test_freeze_counts_the_manual_freeze_metric(client: httpx.AsyncClient) -> None:
    await client.post("/v1/risk/freeze", json={"reason": "drill"})

    metrics = (await client.get("/metrics")).text

    assert 'freeze_triggered_total{reason="manual"} 1.0' in metrics


async def test_freeze_without_reason_is_422(client: httpx.AsyncClient) -> None:
    response = await client.post("/v1/risk/freeze", json={"reason": ""})

    assert response.status_code == 422
    assert "reason" in response.json()["error"]


async def test_unfreeze_within_the_cooldown_is_409_and_stays_frozen(
    client: httpx.AsyncClient, redis: aioredis.Redis
) -> None:
    await client.post("/v1/risk/freeze", json={"reason": "drill"})

    response = await client.post("/v1/risk/unfreeze", json={"reason": "fixed"})

    assert response.status_code == 409
    error = response.json()["error"]
    assert error.startswith("cooldown: frozen 0s ago, cooldown 60s")
    assert "pass force=true to override" in error
    assert COOLDOWN_S == 60
    assert (await RedisRiskStateStore(redis).trading_state()).state is TradingState.FROZEN
    assert len(await messages(redis, topology.CONTROL.desk)) == 1


async def test_unfreeze_with_force_resumes_and_broadcasts(
    client: httpx.AsyncClient, redis: aioredis.Redis
) -> None:
    await client.post("/v1/risk/freeze", json={"reason": "drill"})

    response = await client.post(
        "/v1/risk/unfreeze", json={"reason": "fixed", "force": True}, headers=OPERATOR
    )

    assert response.status_code == 200, response.text
    assert response.json() == {"state": "ACTIVE", "epoch": 2, "changed": True, "venueCircuits": []}
    assert (await RedisRiskStateStore(redis).trading_state()).state is TradingState.ACTIVE
    resumed = (await messages(redis, topology.CONTROL.desk))[-1]
    assert isinstance(resumed, TradingStateChanged) and resumed.state is TradingState.ACTIVE
    audit = (await messages(redis, topology.AUDIT))[-1]
    assert audit == UnfreezeTrading(reason="fixed", actor="alice", force=True)


async def test_unfreeze_when_active_changes_nothing(
    client: httpx.AsyncClient, redis: aioredis.Redis
) -> None:
    response = await client.post("/v1/risk/unfreeze", json={"reason": "just in case"})

    assert response.json() == {
        "state": "ACTIVE",
        "epoch": 0,
        "changed": False,
        "venueCircuits": [],  # no router wrote its circuit
    }
    assert await messages(redis, topology.CONTROL.desk) == []


async def test_get_risk_shows_state_limits_and_freeze_history(client: httpx.AsyncClient) -> None:
    await client.post("/v1/risk/freeze", json={"reason": "drill"}, headers=OPERATOR)

    risk = (await client.get("/v1/risk")).json()

    assert risk["trading"]["state"] == "FROZEN"
    assert (risk["trading"]["epoch"], risk["trading"]["actor"]) == (1, "alice")
    assert risk["limits"]["maxInventoryUsd"] == "10000"
    (change,) = risk["freezeHistory"]
    assert (change["previous"], change["state"], change["actor"]) == ("ACTIVE", "FROZEN", "alice")


async def put_mark(redis: aioredis.Redis, price: int) -> None:
    now = time.time_ns()
    await RedisMarkStore(redis).put_many([Mark(symbol=BTC, mark=Decimal(price), ts_ns=now,
                                               seen_ns=now)])  # fmt: skip


async def test_get_risk_shows_utilisation_of_marked_positions(
    client: httpx.AsyncClient, redis: aioredis.Redis
) -> None:
    fill = Fill(exec_id=ExecId("e1"), symbol=BTC, side=Side.BUY, qty=Decimal("0.1"),
                price=Decimal(50_000), ts_ns=1)  # fmt: skip
    await RedisPositionStore(redis).apply_fill(fill)
    await put_mark(redis, 60_000)

    risk = (await client.get("/v1/risk")).json()

    rows = {f"{r['limit']}/{r['symbol']}": r for r in risk["utilisation"]}
    inventory = rows["max_inventory_usd/BTCUSDT"]
    assert (inventory["limitValue"], inventory["ratio"]) == ("10000", "0.6000")
    assert rows["max_total_notional/ALL"]["ratio"] == "0.1200"
    assert rows["daily_loss_limit/ALL"]["ratio"] == "0.0000"
    assert risk["netPnl"] == "1000.00000000"


async def test_put_limits_changes_the_given_fields_and_audits(
    client: httpx.AsyncClient, redis: aioredis.Redis
) -> None:
    response = await client.put(
        "/v1/risk/limits", json={"maxInventoryUsd": "20000", "maxOpenOrdersPerSymbol": 5}
    )

    assert response.status_code == 200, response.text
    assert response.json()["maxInventoryUsd"] == "20000"
    assert response.json()["maxTotalNotional"] == "50000"  # untouched
    limits = await RedisRiskStateStore(redis).get_limits()
    assert (limits.max_inventory_usd, limits.max_open_orders_per_symbol) == (Decimal(20_000), 5)
    (audit,) = await messages(redis, topology.AUDIT)
    assert isinstance(audit, SetRiskLimits) and audit.limits == limits


@pytest.mark.parametrize(
    ("body", "mentions"),
    [
        ({"maxInventoryUsd": "-1"}, "maxInventoryUsd"),
        ({"max_inventory_usd": "1"}, "unknown field"),
        ({"maxOpenOrdersPerSymbol": "many"}, "maxOpenOrdersPerSymbol"),
        ({"maxInventoryUsd": "1E-25"}, "maxInventoryUsd: Decimal input should have no more than 6"),
        ({"maxTotalNotional": "1e12"}, "maxTotalNotional: Input should be less than or equal to"),
        ({"maxPositionsLagS": "0"}, "maxPositionsLagS: Input should be greater than or equal to"),
        (
            {"dailyLossSoftLimit": "1000"},
            "dailyLossSoftLimit: the soft daily loss limit 1000 must be below the daily loss "
            "limit 1000",
        ),
        ({"dailyLossLimit": "300", "dailyLossSoftLimit": "400"}, "dailyLossSoftLimit"),
        ({"dailyLossSoftLimit": "0"}, "dailyLossSoftLimit: Input should be greater than 0"),
    ],
)
async def test_put_bad_limits_is_422_and_changes_nothing(
    client: httpx.AsyncClient, redis: aioredis.Redis, body: dict[str, Any], mentions: str
) -> None:
    response = await client.put("/v1/risk/limits", json=body)

    assert response.status_code == 422
    assert mentions in response.json()["error"]
    assert not await redis.exists(topology.RISK_LIMITS_KEY)


async def test_put_a_soft_daily_loss_limit_is_checked_against_the_live_limit_and_unset_by_null(
    client: httpx.AsyncClient, redis: aioredis.Redis
) -> None:
    raised = await client.put(
        "/v1/risk/limits", json={"dailyLossLimit": "2000", "dailyLossSoftLimit": "1500"}
    )
    above_new = await client.put("/v1/risk/limits", json={"dailyLossLimit": "1200"})
    stored = await RedisRiskStateStore(redis).get_limits()
    unset = await client.put("/v1/risk/limits", json={"dailyLossSoftLimit": None})

    assert raised.status_code == 200, raised.text
    assert raised.json()["dailyLossSoftLimit"] == "1500"
    assert above_new.status_code == 422
    assert (
        "dailyLossSoftLimit: the soft daily loss limit 1500 must be below"
        in (above_new.json()["error"])
    )
    assert (stored.daily_loss_limit, stored.daily_loss_soft_limit) == (Decimal(2000), Decimal(1500))
    assert unset.status_code == 200, unset.text
    assert unset.json()["dailyLossSoftLimit"] is None
    assert (await RedisRiskStateStore(redis).get_limits()).daily_loss_soft_limit is None


WEEKEND = {
    "name": "weekend",
    "start": "00:00",
    "end": "24:00",
    "days": ["sat", "sun"],
    "factor": "0.5",
    "limits": ["maxTotalNotional", "max_inventory_usd"],
}
EVERY_DAY = WEEKEND | {"name": "always", "days": ["mon", "tue", "wed", "thu", "fri", "sat", "sun"]}


async def test_put_a_scaling_rule_stores_it_with_the_limits_audits_it_and_keeps_it_unless_named(
    client: httpx.AsyncClient, redis: aioredis.Redis
) -> None:
    rule = {"volatility": {"limits": ["max_order_notional"], "referenceBps": "25"}}

    set_ = await client.put("/v1/risk/limits", json={"maxOrderNotional": "900", "scaling": rule})
    kept = await client.put("/v1/risk/limits", json={"maxOrderNotional": "800"})
    stored = await RedisRiskStateStore(redis).get_scaling()
    removed = await client.put("/v1/risk/limits", json={"scaling": None})

    assert set_.status_code == 200, set_.text
    assert set_.json()["scaling"]["volatility"] == {
        "limits": ["max_order_notional"],
        "referenceBps": "25",
        "symbolReferenceBps": {},
        "floor": "0.25",
        "halfLifeS": 300,
    }
    assert kept.json()["scaling"] == set_.json()["scaling"]
    assert stored is not None and stored.volatility is not None
    assert stored.volatility.reference_bps == 25
    assert removed.json()["scaling"] is None
    assert await RedisRiskStateStore(redis).get_scaling() is None
    first, *_ = await messages(redis, topology.AUDIT)
    assert isinstance(first, SetRiskLimits) and first.scaling == stored
    assert first.reason == "max_order_notional, scaling"


@pytest.mark.parametrize(
    ("rule", "mentions"),
    [
        ({"volatility": {"limits": ["maxTotalNotional"], "referenceBps": "25"}}, "desk-wide"),
        ({"schedule": [WEEKEND | {"start": "7:00"}]}, "is not HH:MM"),
        ({"schedule": [WEEKEND | {"factor": "2"}]}, "less than or equal to 1"),
        ({"schedule": [WEEKEND | {"limits": ["edgeFreezeThresholdBps"]}]}, "cannot scale"),
        ({"volatility": {"limits": ["max_order_notional"], "reference_bps": "25"}}, "referenceBps"),
    ],
)
async def test_put_a_bad_scaling_rule_is_422_and_changes_nothing(
    client: httpx.AsyncClient, redis: aioredis.Redis, rule: dict[str, Any], mentions: str
) -> None:
    response = await client.put("/v1/risk/limits", json={"scaling": rule})

    assert response.status_code == 422
    assert mentions in response.json()["error"], response.json()["error"]
    assert not await redis.exists(topology.RISK_LIMITS_KEY, topology.RISK_SCALING_KEY)


async def test_get_risk_shows_the_limits_as_configured_and_in_force_with_why(
    client: httpx.AsyncClient, redis: aioredis.Redis
) -> None:
    await client.put("/v1/risk/limits", json={"scaling": {"schedule": [EVERY_DAY]}})
    await put_mark(redis, 60_000)

    risk = (await client.get("/v1/risk")).json()

    assert risk["limits"]["maxTotalNotional"] == "50000"
    assert risk["limits"]["scaling"]["schedule"][0]["name"] == "always"
    desk, btc = risk["effectiveLimits"]
    assert desk == {
        "symbol": "ALL",
        "limits": {"daily_loss_limit": "1000", "max_total_notional": "25000"},
        "factors": {"max_total_notional": "0.5", "max_inventory_usd": "0.5"},
        "reasons": ["window always x0.5"],
        "volatilityBps": None,
    }
    assert (btc["symbol"], btc["limits"]["max_inventory_usd"]) == ("BTCUSDT", "5000")
    rows = {f"{r['limit']}/{r['symbol']}": r for r in risk["utilisation"]}
    assert rows["max_inventory_usd/BTCUSDT"]["limitValue"] == "5000"  # checked in force


async def test_report_edge_publishes_report_edge(
    client: httpx.AsyncClient, redis: aioredis.Redis
) -> None:
    response = await client.post(
        "/v1/risk/edge", json={"symbol": "BTCUSDT", "edgeBps": "-12.5", "source": "mm-1"}
    )

    assert response.status_code == 202
    (report,) = await messages(redis, topology.ORDERS_REQUESTS.desk)
    assert report == ReportEdge(symbol=BTC, edge_bps=Decimal("-12.5"), source="mm-1")


async def test_simulate_answers_without_placing(
    client: httpx.AsyncClient, redis: aioredis.Redis
) -> None:
    await put_mark(redis, 60_000)
    order = {"symbol": "BTCUSDT", "side": "Buy", "orderType": "Limit", "qty": "1", "price": "60000"}

    small = (await client.post("/v1/risk/simulate", json=order | {"qty": "0.01"})).json()
    too_big = (await client.post("/v1/risk/simulate", json=order)).json()

    assert small == {"approved": True, "reason": None, "route": None}
    assert too_big["approved"] is False
    assert "order notional BTCUSDT 60000 USD is above the limit 5000 USD" in too_big["reason"]
    assert await redis.xlen(topology.ORDERS_REQUESTS.of(DEFAULT_ACCOUNT).name) == 0


async def test_simulate_without_a_mark_is_denied(client: httpx.AsyncClient) -> None:
    order = {"symbol": "BTCUSDT", "side": "Buy", "orderType": "Market", "qty": "0.01"}

    answer = (await client.post("/v1/risk/simulate", json=order)).json()

    assert answer == {
        "approved": False,
        "reason": "no mark price for BTCUSDT: cannot check the order",
        "route": None,
    }


async def test_simulate_when_frozen_is_denied(client: httpx.AsyncClient) -> None:
    await client.post("/v1/risk/freeze", json={"reason": "drill"})
    order = {"symbol": "BTCUSDT", "side": "Buy", "orderType": "Market", "qty": "0.01"}

    answer = (await client.post("/v1/risk/simulate", json=order)).json()

    assert answer == {
        "approved": False,
        "reason": "trading is FROZEN: no new orders",
        "route": None,
    }


async def test_get_positions_marks_them(client: httpx.AsyncClient, redis: aioredis.Redis) -> None:
    fill = Fill(exec_id=ExecId("e1"), symbol=BTC, side=Side.BUY, qty=Decimal("0.1"),
                price=Decimal(50_000), fee=Decimal(3), ts_ns=1)  # fmt: skip
    await RedisPositionStore(redis).apply_fill(fill)
    await put_mark(redis, 51_000)

    answer = (await client.get("/v1/positions")).json()

    (btc,) = answer["positions"]
    assert (btc["symbol"], btc["qty"]) == ("BTCUSDT", "0.10000000")
    assert (btc["avgEntryPrice"], btc["mark"]) == ("50000.00000000", "51000.00000000")
    assert (btc["unrealizedPnl"], btc["feesPaid"]) == ("100.00000000", "3.00000000")
    assert btc["netPnl"] == answer["netPnl"] == "97.00000000"
    assert btc["markTime"] > 0


async def test_get_risk_answers_with_defaults_for_stored_limits_that_are_no_longer_valid(
    client: httpx.AsyncClient, redis: aioredis.Redis
) -> None:
    await redis.hset(  # written by an older version, or by hand
        topology.RISK_LIMITS_KEY,
        mapping={"max_inventory_usd": "1E-25", "max_total_notional": "70000"},
    )

    response = await client.get("/v1/risk")

    assert response.status_code == 200, response.text
    limits = response.json()["limits"]
    assert (limits["maxInventoryUsd"], limits["maxTotalNotional"]) == ("10000", "70000")
