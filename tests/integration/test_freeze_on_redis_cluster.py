"""A change of trading state on a Redis Cluster: it returns once the replica of its shard
holds it (WAIT on the write's own connection), so a failover right after cannot lose it; or,
when the replica has not acknowledged it within `REPLICATION_WAIT_MS` (a starved machine),
it says so in the log."""

from __future__ import annotations

import time

import pytest
import redis

from libs.common.domain.ids import AccountId
from libs.common.domain.risk_checks import TradingState
from libs.common.redis_cluster import RedisClusterRig
from libs.common.redis_connect import redis_from_url
from libs.common.stores import RedisRiskStateStore
from libs.common.topology import FREEZE_KEY, keys_of

pytestmark = pytest.mark.integration


def _on_replica(rig: RedisClusterRig, key: str) -> str | None:
    """The `state` field of `key` as the replica of its shard holds it now."""
    (replica,) = rig.replicas_for(key)
    with redis.Redis(port=replica.port) as client:
        client.execute_command("READONLY")
        state = client.hget(key, "state")
    return None if state is None else state.decode()


@pytest.mark.parametrize("account", [None, AccountId("alpha")], ids=["desk", "account"])
async def test_each_change_is_on_the_replica_when_it_returns(
    redis_cluster: RedisClusterRig,
    redis_cluster_url: str,
    account: AccountId | None,
    caplog: pytest.LogCaptureFixture,
) -> None:
    client = redis_from_url(redis_cluster_url)
    store = RedisRiskStateStore(client, account=account)
    key = FREEZE_KEY if account is None else keys_of(account).freeze
    try:
        for _ in range(5):
            now = time.time_ns()
            await store.freeze("drill", "ops", now)
            _replicated_or_said(redis_cluster, key, TradingState.FROZEN, caplog)
            await store.unfreeze("drill over", "ops", now + 1, 0, force=True)
            _replicated_or_said(redis_cluster, key, TradingState.ACTIVE, caplog)
    finally:
        await client.aclose()


def _replicated_or_said(
    rig: RedisClusterRig, key: str, state: TradingState, caplog: pytest.LogCaptureFixture
) -> None:
    if _on_replica(rig, key) != state.value:
        assert f"trading state {state.value} written; 0 of 1 replica(s)" in caplog.text
