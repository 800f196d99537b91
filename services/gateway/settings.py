"""Gateway settings: environment variables with the prefix `MMX_GATEWAY_` (and `REDIS_URL`)."""

from __future__ import annotations

from decimal import Decimal
from typing import Literal

from pydantic import AliasChoices, Field, ValidationInfo, field_validator
from pydantic_settings import SettingsConfigDict

from libs.common.service import ServiceSettings


class GatewaySettings(ServiceSettings):
    """Everything the gateway can be configured with."""

    model_config = SettingsConfigDict(
        env_prefix="MMX_GATEWAY_", extra="ignore", frozen=True, populate_by_name=True
    )

    port: int = 8080
    unfreeze_cooldown_s: float = Field(default=300.0, ge=0)
    """An unfreeze within this long of the freeze is refused unless forced (0: no cooldown)."""
    wait_default_ms: int = Field(default=2_000, ge=1)
    """How long `?wait=true` waits for an order's first outcome when `waitMs` is not given."""
    wait_max_ms: int = Field(default=10_000, ge=1)
    """The largest `waitMs` a client may ask for."""
    batch_max_orders: int = Field(default=20, ge=1, le=500)
    """Orders per `POST /v1/orders/batch`."""
    max_body_bytes: int = Field(default=256 * 1024, ge=1024, le=16 * 1024 * 1024)
    """A request body larger than this is refused with 413 before it is parsed."""
    max_inflight_orders: int = Field(default=256, ge=1, le=100_000)
    """Orders (a batch counts each of its orders) being placed or amended at once by this
    instance, `?wait=true` waits included. One more is refused at once with 429 and a
    `Retry-After`, before anything is written. Cancels and cancel-all are never refused.
    The default is 4 orders per connection of the default Redis pool (64): an order holds a
    connection for about one round trip, so a full gate queues a few round trips at the
    pool, far inside `redis_pool_timeout_s`. At least `batch_max_orders`."""
    shed_retry_after_s: int = Field(default=1, ge=1, le=60)
    """The `Retry-After` (seconds) of a 429 from the in-flight bound or the backlog."""
    max_engine_backlog: int = Field(default=2_000, ge=0, le=1_000_000)
    """Above this many orders waiting for risk or the router (`orders.requests` and
    `orders.approved`, lag plus pending), places and amends are refused with 429 before
    anything is written: a queue the engine cannot drain only makes every order late. 0
    never refuses for the backlog."""
    backlog_poll_s: float = Field(default=0.1, gt=0, le=10)
    """How often that backlog is read."""
    client_order_id_prefix: str = Field(default="gw", pattern=r"^[A-Za-z0-9_]{1,23}$")
    """Prefix of the clientOrderIds the gateway generates for orders sent without one."""
    stream_queue_size: int = Field(default=1_000, ge=1)
    """Messages queued per WebSocket client; a client that falls this far behind is closed."""
    mark_max_age_s: float = Field(default=30.0, ge=0)
    """A mark not confirmed current for this long is no mark for `/v1/risk/simulate` (0: any);
    keep it equal to MMX_RISK_MARK_MAX_AGE_S so that a simulation answers as risk would."""
    freeze_history_limit: int = Field(default=50, ge=1, le=10_000)
    """Freeze history entries shown by `GET /v1/risk`."""
    auth: Literal["required", "disabled"] = "required"
    """`required`: every `/v1` call needs an API key with the route's role. `disabled` admits
    every caller as an operator, named by the unverified X-MMX-Actor header: development only."""
    secrets_env: str | None = Field(
        default=None, validation_alias=AliasChoices("MMX_SECRETS_ENV", "MMX_GATEWAY_SECRETS_ENV")
    )
    """When set, the keys listed in the secret `{env}/gateway/api-keys` are accepted too
    (read through libs.common.secrets; `SECRETS_MOCK_MODE=1` reads the environment)."""
    api_keys_refresh_s: float = Field(default=60.0, gt=0)
    """How often the secret's key list is re-read."""
    route_max_book_age_ms: int = Field(default=2_000, ge=1, le=60_000)
    """The smart order router (`venue: "auto"`) spares a venue whose book top is older."""
    route_min_rate_headroom: Decimal = Field(default=Decimal("0.1"), ge=0, le=1)
    """... a venue with less than this fraction of its order rate budget left."""
    route_latency_penalty_bps_per_ms: Decimal = Field(default=Decimal("0.01"), ge=0, le=10)
    """Each ms of a venue's recent latency costs this many bps in the ranking."""
    route_max_latency_ms: Decimal | None = Field(default=None, gt=0)
    """... and a venue slower than this is spared (unset: no cap)."""

    @field_validator("max_inflight_orders")
    @classmethod
    def _admits_a_full_batch(cls, value: int, info: ValidationInfo) -> int:
        batch = info.data.get("batch_max_orders")
        if batch is not None and value < batch:
            raise ValueError(
                f"{cls.env_name('max_inflight_orders')}={value} is below "
                f"{cls.env_name('batch_max_orders')}={batch}: a full batch could never be "
                f"admitted; expected at least {batch}"
            )
        return value
