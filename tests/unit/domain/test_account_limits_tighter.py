"""`tighter`: an account's limits within the desk's, limit by limit."""

from __future__ import annotations

from decimal import Decimal

from libs.common.domain.risk_checks import RiskLimits, tighter

D = Decimal


def test_each_limit_takes_the_stricter_value_whichever_side_sets_it() -> None:
    desk = RiskLimits(max_inventory_usd=D(10_000), max_order_notional=D(1_000))
    account = RiskLimits(max_inventory_usd=D(500), max_order_notional=D(5_000))

    both = tighter(desk, account)

    assert (both.max_inventory_usd, both.max_order_notional) == (D(500), D(1_000))
    assert tighter(account, desk) == both


def test_a_higher_edge_threshold_is_the_stricter_one() -> None:
    desk = RiskLimits(edge_freeze_threshold_bps=D(-5))
    account = RiskLimits(edge_freeze_threshold_bps=D(10))
    assert tighter(desk, account).edge_freeze_threshold_bps == D(10)


def test_a_soft_loss_limit_set_on_one_side_is_kept_below_the_stricter_hard_one() -> None:
    desk = RiskLimits(daily_loss_limit=D(1_000), daily_loss_soft_limit=D(800))
    account = RiskLimits(daily_loss_limit=D(500))

    both = tighter(desk, account)

    assert (both.daily_loss_limit, both.daily_loss_soft_limit) == (D(500), None)
    softer = RiskLimits(daily_loss_limit=D(2_000), daily_loss_soft_limit=D(300))
    assert tighter(desk, softer).daily_loss_soft_limit == D(300)
