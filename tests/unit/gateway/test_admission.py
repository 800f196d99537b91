"""The gateway's admission gate on its own: counting, refusing at once, freeing slots; and the
settings that size it."""

from __future__ import annotations

import pytest
from prometheus_client import CollectorRegistry
from pydantic import ValidationError

from libs.common.metrics import EngineMetrics
from services.gateway.admission import Admission, Overloaded, ShedRoute
from services.gateway.settings import GatewaySettings


def gate_of(limit: int, retry_after_s: int, registry: CollectorRegistry | None = None) -> Admission:
    """An `Admission` counting its refusals on `registry` (a fresh one by default)."""
    metrics = EngineMetrics(registry or CollectorRegistry())
    return Admission(limit, retry_after_s, metrics=metrics)


def shed_metric(registry: CollectorRegistry) -> dict[str, float | None]:
    """`gateway_requests_shed_total` per route, as /metrics exposes it."""
    return {
        route.value: registry.get_sample_value(
            "gateway_requests_shed_total", {"route": route.value}
        )
        for route in ShedRoute
    }


def test_a_batch_takes_one_slot_per_order_and_frees_them_on_exit() -> None:
    registry = CollectorRegistry()
    gate = gate_of(limit=5, retry_after_s=1, registry=registry)

    with gate.admit(3, ShedRoute.PLACE_BATCH):
        assert gate.inflight == 3
        with gate.admit(2, ShedRoute.PLACE):
            assert gate.inflight == 5

    assert gate.inflight == 0
    assert not gate.shed
    assert shed_metric(registry) == {"place": 0, "place_batch": 0, "amend": 0}  # exposed at 0


def test_when_full_a_request_is_refused_at_once_and_counted_per_route() -> None:
    registry = CollectorRegistry()
    gate = gate_of(limit=4, retry_after_s=2, registry=registry)

    with gate.admit(3, ShedRoute.PLACE_BATCH):
        with pytest.raises(Overloaded) as refused, gate.admit(2, ShedRoute.PLACE_BATCH):
            pytest.fail("admitted past the limit")
        with pytest.raises(Overloaded), gate.admit(2, ShedRoute.AMEND):
            pytest.fail("admitted past the limit")
        assert gate.inflight == 3  # a refused batch takes nothing, not even the slot that fit
        with gate.admit(1, ShedRoute.PLACE):  # what fits is still admitted
            assert gate.inflight == 4

    error = refused.value
    assert (error.status, error.retry_after_s) == (429, 2)
    assert "limit of 4 orders in flight (3 now, this request has 2)" in error.message
    assert "nothing was written" in error.message
    assert error.details == [
        {"reason": "max_inflight_orders", "inflight": 3, "limit": 4, "orders": 2, "retryAfterS": 2}
    ]
    assert gate.shed == {ShedRoute.PLACE_BATCH: 1, ShedRoute.AMEND: 1}
    # one per refused request (the batch of 2 counts once), none for what was admitted
    assert shed_metric(registry) == {"place": 0, "place_batch": 1, "amend": 1}


def test_slots_are_freed_when_the_work_fails() -> None:
    gate = gate_of(limit=1, retry_after_s=1)

    with pytest.raises(RuntimeError), gate.admit(1, ShedRoute.PLACE):
        raise RuntimeError("redis went away")

    assert gate.inflight == 0


@pytest.mark.parametrize(("limit", "retry_after_s"), [(0, 1), (1, 0)])
def test_a_gate_that_could_never_admit_or_says_retry_at_once_is_refused(
    limit: int, retry_after_s: int
) -> None:
    with pytest.raises(ValueError, match="expected at least 1"):
        gate_of(limit, retry_after_s)


def test_max_inflight_orders_below_a_full_batch_is_refused_at_start() -> None:
    with pytest.raises(ValidationError) as refused:
        GatewaySettings(batch_max_orders=20, max_inflight_orders=10)

    message = str(refused.value)
    assert "MMX_GATEWAY_MAX_INFLIGHT_ORDERS=10 is below MMX_GATEWAY_BATCH_MAX_ORDERS=20" in message
    assert "expected at least 20" in message


@pytest.mark.parametrize(
    "fields", [{"max_inflight_orders": 0}, {"shed_retry_after_s": 0}, {"shed_retry_after_s": 61}]
)
def test_gate_settings_out_of_range_are_refused(fields: dict[str, int]) -> None:
    with pytest.raises(ValidationError):
        GatewaySettings(**fields)  # type: ignore[arg-type]


def test_the_default_gate_is_four_orders_per_default_pool_connection() -> None:
    settings = GatewaySettings()

    assert settings.max_inflight_orders == 4 * settings.redis_pool_size == 256
    assert settings.max_inflight_orders >= settings.batch_max_orders
    assert settings.shed_retry_after_s == 1
