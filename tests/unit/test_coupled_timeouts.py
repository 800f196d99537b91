"""Timeouts of different services that must agree: a crash never turns into a rejection."""

from __future__ import annotations

from libs.common.timings import conflicts
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


def test_conflicts_are_none_until_both_risk_and_the_router_published() -> None:
    assert conflicts({"risk": {"claim_idle_s": 10.0}}) == []


def test_conflicts_name_both_settings_when_the_claims_outlast_the_max_age() -> None:
    published = {
        "risk": {"claim_idle_s": 10.0},
        "router": {"claim_idle_s": 20.0, "max_order_age_s": 30.0},
    }

    (problem,) = conflicts(published)

    assert "MMX_RISK_CLAIM_IDLE_MS 10000 + MMX_ROUTER_CLAIM_IDLE_S 20 = 30 s" in problem
    assert "must be below MMX_ROUTER_MAX_ORDER_AGE_S 30" in problem


def test_conflicts_pass_the_defaults_of_every_service() -> None:
    risk, router = RiskSettings(), RouterSettings()
    published = {
        "risk": {"claim_idle_s": risk.claim_idle_ms / 1000},
        "router": {"claim_idle_s": router.claim_idle_s, "max_order_age_s": router.max_order_age_s},
    }

    assert conflicts(published) == []
