"""The scaling rule: windows open on their UTC days and times, factors only tighten, volatility
is estimated from mids and moves its factor in steps without flapping."""

from __future__ import annotations

import datetime as dt
from decimal import Decimal as D
from typing import Any

import pytest
from pydantic import ValidationError

from libs.common.domain.ids import Symbol
from libs.common.domain.limit_scaling import (
    Scale,
    ScalingRule,
    VolatilityRule,
    Window,
    next_volatility_factor,
    observe,
    scaled,
    volatility_factor,
)
from libs.common.domain.risk_checks import RiskLimits

BTC = Symbol("BTCUSDT")
S = 10**9


def utc(*parts: int) -> dt.datetime:
    return dt.datetime(*parts, tzinfo=dt.UTC)  # type: ignore[misc]


def ns(moment: dt.datetime) -> int:
    return int(moment.timestamp()) * S


def window(**fields: Any) -> Window:
    base = {"name": "w", "start": "08:00", "end": "09:00", "factor": "0.5"}
    return Window.model_validate(base | {"limits": ["max_inventory_usd"]} | fields)


# 2026-12-04 is a Friday.
@pytest.mark.parametrize(
    ("fields", "moment", "open_"),
    [
        ({}, utc(2026, 12, 4, 7, 59), False),
        ({}, utc(2026, 12, 4, 8, 0), True),
        ({}, utc(2026, 12, 4, 8, 59), True),
        ({}, utc(2026, 12, 4, 9, 0), False),
        ({"start": "23:45", "end": "00:15"}, utc(2026, 12, 4, 23, 50), True),
        ({"start": "23:45", "end": "00:15"}, utc(2026, 12, 5, 0, 14), True),
        ({"start": "23:45", "end": "00:15"}, utc(2026, 12, 5, 0, 15), False),
        (
            {"start": "00:00", "end": "24:00", "days": ["sat", "sun"]},
            utc(2026, 12, 4, 23, 59),
            False,
        ),
        ({"start": "00:00", "end": "24:00", "days": ["Sat", "sun"]}, utc(2026, 12, 5, 0, 0), True),
        (
            {"start": "00:00", "end": "24:00", "days": ["sat", "sun"]},
            utc(2026, 12, 6, 23, 59),
            True,
        ),
        ({"start": "00:00", "end": "24:00", "days": ["sat", "sun"]}, utc(2026, 12, 7, 0, 0), False),
        ({"start": "22:00", "end": "02:00", "days": ["fri"]}, utc(2026, 12, 5, 1, 0), True),
        ({"start": "22:00", "end": "02:00", "days": ["fri"]}, utc(2026, 12, 4, 1, 0), False),
    ],
)
def test_a_window_is_open_on_its_utc_days_from_start_to_end(
    fields: dict[str, Any], moment: dt.datetime, open_: bool
) -> None:
    assert window(**fields).is_open(moment) is open_


def test_the_schedule_applies_from_the_first_nanosecond_of_the_window() -> None:
    rule = ScalingRule(schedule=(window(),))
    limits = RiskLimits(max_inventory_usd=D(10_000))
    boundary = ns(utc(2026, 12, 4, 8, 0))

    before = Scale.at(rule, boundary - 1, {}).apply(limits, BTC)
    at = Scale.at(rule, boundary, {}).apply(limits, BTC)

    assert (before.max_inventory_usd, at.max_inventory_usd) == (D(10_000), D(5_000))


def test_factors_multiply_and_volatility_scales_only_the_symbol_it_was_measured_on() -> None:
    rule = ScalingRule(
        volatility=VolatilityRule(limits=("max_inventory_usd",), reference_bps=D(20)),
        schedule=(
            window(name="funding", factor="0.5"),
            window(name="desk", factor="0.8", limits=["max_inventory_usd", "max_total_notional"]),
        ),
    )
    scale = Scale.at(rule, ns(utc(2026, 12, 4, 8, 30)), {BTC: D("0.5")})

    assert scale.factors(BTC) == {"max_inventory_usd": D("0.2"), "max_total_notional": D("0.8")}
    assert scale.factors(Symbol("ETHUSDT"))["max_inventory_usd"] == D("0.4")
    assert scale.factors(None) == {"max_inventory_usd": D("0.4"), "max_total_notional": D("0.8")}
    assert scale.reasons(BTC) == ["window funding x0.5", "window desk x0.8", "volatility x0.5"]


def test_without_a_volatility_section_the_stored_factors_are_ignored() -> None:
    scale = Scale.at(ScalingRule(), 0, {BTC: D("0.25")})

    assert scale.factors(BTC) == {}
    assert Scale.at(None, 0, {BTC: D("0.25")}).apply(RiskLimits(), BTC) == RiskLimits()


def test_scaled_limits_round_down_keep_their_kind_and_carry_the_soft_loss_along() -> None:
    limits = RiskLimits(
        max_open_orders_per_symbol=3,
        max_orders_per_second=1,
        max_inventory_usd=D("1000.05"),
        daily_loss_limit=D(1000),
        daily_loss_soft_limit=D(600),
    )
    factors = {
        "max_open_orders_per_symbol": D("0.5"),
        "max_orders_per_second": D("0.1"),
        "max_inventory_usd": D("0.333"),
        "daily_loss_limit": D("0.25"),
    }

    out = scaled(limits, factors)

    assert (out.max_open_orders_per_symbol, out.max_orders_per_second) == (1, 1)
    assert str(out.max_inventory_usd) == "333.01"  # 333.01665, down to the cent
    assert (str(out.daily_loss_limit), str(out.daily_loss_soft_limit)) == ("250", "150")


def one_window(**fields: Any) -> dict[str, Any]:
    base = {"name": "w", "start": "08:00", "end": "09:00", "factor": "0.5"}
    return {"schedule": [base | {"limits": ["max_inventory_usd"]} | fields]}


def vol(*limits: str, reference: str = "1") -> dict[str, Any]:
    return {"volatility": {"limits": list(limits), "reference_bps": reference}}


@pytest.mark.parametrize(
    ("rule", "message"),
    [
        (vol("max_total_notional"), "desk-wide"),
        (vol("edge_freeze_threshold_bps"), "cannot scale"),
        (vol("daily_loss_soft_limit"), "cannot scale"),
        (vol("nope"), "Input should be 'max_order_notional'"),
        (vol("max_inventory_usd", reference="0"), "greater than 0"),
        (vol(), "at least 1"),
        (one_window(start="8:00"), "is not HH:MM"),
        (one_window(end="08:00"), "is empty"),
        (one_window(factor="1.5"), "less than or equal to 1"),
        (one_window(factor="0"), "greater than 0"),
        (one_window(days=["fry"]), "days"),
        (one_window(limits=["max_inventory_usd", "maxInventoryUsd"]), "names a limit twice"),
        ({"schedule": one_window()["schedule"] * 2}, "names repeat"),
    ],
)
def test_a_bad_rule_is_refused_saying_what_is_wrong(rule: dict[str, Any], message: str) -> None:
    with pytest.raises(ValidationError, match=message):
        ScalingRule.model_validate(rule)


def test_a_limit_may_be_named_in_camel_case() -> None:
    rule = VolatilityRule.model_validate({"limits": ["maxOrderNotional"], "reference_bps": "5"})

    assert rule.limits == ("max_order_notional",)


def test_a_steady_mid_has_no_volatility_and_a_jump_shows_in_bps_per_minute() -> None:
    estimate = None
    for second in range(5):
        estimate = observe(estimate, D(100), second * S, half_life_s=60)
    assert estimate is not None and estimate.per_minute_bps == 0

    moved = observe(estimate, D(101), 5 * S, half_life_s=60)

    # ln(1.01)^2 per 1 s, weighted 1 - 2^(-1/60) into a variance of 0: 1.1372e-6 per second,
    # sqrt(60 x 1.1372e-6) = 0.008260 over a minute
    assert moved.returns == 5
    assert moved.per_minute_bps == D("82.60")


def test_the_first_return_sets_the_variance_and_older_mids_change_nothing() -> None:
    first = observe(None, D(100), 10 * S, half_life_s=60)
    second = observe(first, D(101), 14 * S, half_life_s=60)  # ln(1.01)^2 / 4 s

    assert second.variance == pytest.approx(0.0099503**2 / 4, rel=1e-4)
    assert observe(second, D(50), 13 * S, half_life_s=60) is second
    with pytest.raises(ValueError, match="mid 0 is invalid"):
        observe(second, D(0), 15 * S, half_life_s=60)


def test_the_factor_is_reference_over_realised_never_below_the_floor() -> None:
    rule = VolatilityRule(limits=("max_inventory_usd",), reference_bps=D(20), floor=D("0.25"))

    assert volatility_factor(D(20), rule, BTC) == 1
    assert volatility_factor(D(10), rule, BTC) == 2  # calmer: the factor may step back up
    assert volatility_factor(D(40), rule, BTC) == D("0.5")
    assert volatility_factor(D(1000), rule, BTC) == D("0.25")


def test_a_symbol_may_have_its_own_reference() -> None:
    rule = VolatilityRule.model_validate(
        {
            "limits": ["max_inventory_usd"],
            "reference_bps": "20",
            "symbol_reference_bps": {"DOGEUSDT": "80"},
        }
    )

    assert volatility_factor(D(80), rule, Symbol("DOGEUSDT")) == 1
    assert volatility_factor(D(80), rule, BTC) == D("0.25")
    with pytest.raises(ValidationError, match="symbol 'doge' is invalid"):
        VolatilityRule.model_validate(
            {
                "limits": ["max_inventory_usd"],
                "reference_bps": "20",
                "symbol_reference_bps": {"doge": "80"},
            }
        )


def test_the_factor_steps_down_at_once_and_up_only_a_whole_step_later() -> None:
    floor = D("0.25")

    assert next_volatility_factor(None, D("0.62"), floor) == D("0.60")
    assert next_volatility_factor(D("0.60"), D("0.59"), floor) == D("0.55")  # down at once
    assert next_volatility_factor(D("0.55"), D("0.61"), floor) == D("0.55")  # hovering: held
    assert next_volatility_factor(D("0.55"), D("0.64"), floor) == D("0.55")
    assert next_volatility_factor(D("0.55"), D("0.65"), floor) == D("0.60")  # a whole step on
    assert next_volatility_factor(D("0.95"), D(1), floor) == D("0.95")
    assert next_volatility_factor(D("0.95"), D("1.05"), floor) == 1
    assert next_volatility_factor(D("0.5"), D("0.1"), floor) == floor
