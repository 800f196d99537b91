"""The router's quota groups are the venue's, and its rate-limit settings are validated."""

from __future__ import annotations

import pytest
from pydantic import ValidationError

from services.router.gate import group_for, group_of
from services.router.settings import RouterSettings


@pytest.mark.parametrize(
    ("path", "group"),
    [
        ("/v5/order/create", "trade"),
        ("/v5/order/amend", "trade"),
        ("/v5/order/cancel", "trade"),
        ("/v5/order/create-batch", "batch"),
        ("/v5/order/cancel-batch", "batch"),
        ("/v5/order/cancel-all", "cancel_all"),
        ("/v5/order/realtime", "query"),
    ],
)
def test_each_venue_path_is_charged_to_the_quota_group_the_venue_counts_it_in(
    path: str, group: str
) -> None:
    assert group_of(path) == group


def test_one_order_is_a_trade_call_and_more_are_a_batch() -> None:
    assert (group_for(1), group_for(2)) == ("trade", "batch")


def test_limits_default_to_the_venue_quota_with_a_margin_on_the_window() -> None:
    settings = RouterSettings(rate_limits={"query": 50, "batch": 20})
    assert settings.rate_limit("trade").limit == 10
    assert settings.rate_limit("batch").limit == 20
    assert settings.rate_limit("query").window_s == 1.05


@pytest.mark.parametrize(
    ("limits", "says"),
    [({"create": 10}, "unknown endpoint group 'create'"), ({"trade": 0}, "within 1..1000000")],
)
def test_unknown_group_or_out_of_range_limit_fails_at_start(
    limits: dict[str, int], says: str
) -> None:
    with pytest.raises(ValidationError, match=says):
        RouterSettings(rate_limits=limits)


def test_window_shorter_than_the_venue_second_is_refused() -> None:
    with pytest.raises(ValidationError, match="greater than or equal to 1"):
        RouterSettings(rate_limit_window_s=0.5)
