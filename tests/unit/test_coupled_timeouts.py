"""Timeouts of different services that must agree: a crash never turns into a rejection."""

from __future__ import annotations

from services.risk.settings import RiskSettings
from services.router.settings import RouterSettings


def test_an_order_behind_a_dead_risk_and_a_dead_router_is_still_young_enough_to_send() -> None:
    risk, router = RiskSettings(), RouterSettings()
    waited_s = risk.claim_idle_ms / 1000 + router.claim_idle_s
    assert waited_s < router.max_order_age_s


def test_the_largest_risk_claim_idle_still_leaves_the_router_its_claim() -> None:
    largest = RiskSettings.model_fields["claim_idle_ms"].metadata
    ceiling_ms = next(m.le for m in largest if hasattr(m, "le"))
    router = RouterSettings()
    assert ceiling_ms / 1000 + router.claim_idle_s <= router.max_order_age_s
