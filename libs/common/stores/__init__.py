"""Stores: the shared state of mmx, as small Protocol ports with a fake and a Redis version.

Any instance of any service may handle any message, so every change that several
instances may race on is one atomic step in Redis (a Lua script or a single NX command),
and every repeated message is recognised by an idempotency key, never by order of arrival.

    port               fake                      Redis                  module
    OrderStore         InMemoryOrderStore        RedisOrderStore        orders, orders_redis
    PositionStore      InMemoryPositionStore     RedisPositionStore     positions, positions_redis
    RiskStateStore     InMemoryRiskStateStore    RedisRiskStateStore    risk_state, risk_state_*
    IdempotencyStore   InMemoryIdempotencyStore  RedisIdempotencyStore  idempotency
    LeaseStore         InMemoryLeaseStore        RedisLeaseStore        leases
    RateLimiter        InMemoryRateLimiter       RedisRateLimiter       rate_limit

`tests/contract/` runs one suite per port against both, so a fake cannot drift from Redis.
Redis versions take a `redis.asyncio.Redis` client, with or without decoded responses.
"""

from libs.common.stores.errors import (
    ConcurrentUpdateError,
    InvalidUpdate,
    OrderNotFound,
    StoreError,
    UnknownBucket,
)
from libs.common.stores.idempotency import (
    IdempotencyStore,
    InMemoryIdempotencyStore,
    RedisIdempotencyStore,
)
from libs.common.stores.leases import InMemoryLeaseStore, LeaseStore, RedisLeaseStore
from libs.common.stores.orders import InMemoryOrderStore, OrderStore, UpdateFn, UpdateResult
from libs.common.stores.orders_redis import RedisOrderStore
from libs.common.stores.positions import InMemoryPositionStore, PositionStore
from libs.common.stores.positions_redis import RedisPositionStore
from libs.common.stores.rate_limit import (
    InMemoryRateLimiter,
    RateLimit,
    RateLimiter,
    RedisRateLimiter,
    throttle,
)
from libs.common.stores.risk_state import (
    FreezeResult,
    RiskStateStore,
    StateChangeRecord,
    TradingStatus,
    UnfreezeOutcome,
    UnfreezeResult,
)
from libs.common.stores.risk_state_fake import InMemoryRiskStateStore
from libs.common.stores.risk_state_redis import RedisRiskStateStore

__all__ = [
    "ConcurrentUpdateError",
    "FreezeResult",
    "IdempotencyStore",
    "InMemoryIdempotencyStore",
    "InMemoryLeaseStore",
    "InMemoryOrderStore",
    "InMemoryPositionStore",
    "InMemoryRateLimiter",
    "InMemoryRiskStateStore",
    "InvalidUpdate",
    "LeaseStore",
    "OrderNotFound",
    "OrderStore",
    "PositionStore",
    "RateLimit",
    "RateLimiter",
    "RedisIdempotencyStore",
    "RedisLeaseStore",
    "RedisOrderStore",
    "RedisPositionStore",
    "RedisRateLimiter",
    "RedisRiskStateStore",
    "RiskStateStore",
    "StateChangeRecord",
    "StoreError",
    "TradingStatus",
    "UnfreezeOutcome",
    "UnfreezeResult",
    "UnknownBucket",
    "UpdateFn",
    "UpdateResult",
    "throttle",
]
