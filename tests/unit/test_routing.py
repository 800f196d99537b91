"""Smart order routing: eligibility with reasons, greedy allocation by price after fees, qty
steps and minimums, the plan's text and JSON.

The property tests hold every plan to the invariants of `libs.common.domain.routing`:
sum(child qty) + unfilled == qty exactly; every child a multiple of its step and at least its
minimums; nothing beyond the limit or the risk headroom; no child on an open circuit; the
same plan whatever the order of the quotes.
"""

from __future__ import annotations

import json
from dataclasses import replace
from decimal import Decimal
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from libs.common.domain.enums import Side
from libs.common.domain.errors import DomainError, RoutingError
from libs.common.domain.instruments import InstrumentRules
from libs.common.domain.routing import (
    RoutePlan,
    RoutePolicy,
    RouteRequest,
    VenueQuote,
    explain,
    route,
)
from libs.common.domain.routing_book import Lot, lots, walk, within_limit
from libs.common.domain.time import NS_PER_MS

D = Decimal
NOW = 1_700_000_000_000_000_000
POLICY = RoutePolicy(latency_penalty_bps_per_ms=D(0))
BYBIT, BINANCE = "bybit", "binance-usdm"


def rules(
    step: str = "0.001", min_qty: str = "0.001", min_notional: str = "5", **kw: Any
) -> InstrumentRules:
    return InstrumentRules(
        symbol="BTCUSDT",
        base_coin="BTC",
        tick_size=D(kw.pop("tick", "0.1")),
        min_price=D("0.1"),
        max_price=D("1999999.8"),
        qty_step=D(step),
        min_qty=D(min_qty),
        max_qty=D(kw.pop("max_qty", "1190")),
        max_mkt_qty=D(kw.pop("max_mkt_qty", "500")),
        min_notional=D(min_notional),
        **kw,
    )


def book(*levels: tuple[str, str]) -> tuple[tuple[Decimal, Decimal], ...]:
    return tuple((D(price), D(qty)) for price, qty in levels)


def quote(
    venue: str = BYBIT,
    asks: tuple[tuple[str, str], ...] | None = None,
    bids: tuple[tuple[str, str], ...] | None = None,
    fee: str = "0.00055",
    **kw: Any,
) -> VenueQuote:
    """A fresh, healthy quote; a book side not given is empty unless neither is given."""
    if asks is None and bids is None:
        asks, bids = (("60000", "1"),), (("59990", "1"),)
    return VenueQuote(
        venue=venue,
        rules=kw.pop("rules", rules()),
        taker_fee_rate=D(fee),
        book_ts_ns=kw.pop("book_ts_ns", NOW),
        asks=book(*(asks or ())),
        bids=book(*(bids or ())),
        **kw,
    )


def buy(qty: str = "1", limit: str | None = None) -> RouteRequest:
    return RouteRequest(Side.BUY, D(qty), None if limit is None else D(limit), NOW)


def sell(qty: str = "1", limit: str | None = None) -> RouteRequest:
    return RouteRequest(Side.SELL, D(qty), None if limit is None else D(limit), NOW)


def shares(plan: RoutePlan) -> dict[str, Decimal]:
    return {child.venue: child.qty for child in plan.children}


def reasons(plan: RoutePlan) -> dict[str, str]:
    return {v.venue: v.reason for v in plan.verdicts}


# -- Choosing the venue ----------------------------------------------------------------------


def test_route_single_venue_takes_all_at_its_book() -> None:
    plan = route(buy("0.5"), [quote(asks=(("60000", "0.2"), ("60010", "1")))], POLICY)

    (child,) = plan.children
    assert (child.venue, child.qty, plan.unfilled_qty) == (BYBIT, D("0.5"), D(0))
    assert child.notional == D("0.2") * 60000 + D("0.3") * 60010
    assert child.expected_avg_price == D("60006")
    assert child.expected_fee == child.notional * D("0.00055")
    assert child.effective_price == D("60006") * D("1.00055")
    assert (child.worst_price, child.levels_used) == (D("60010"), 2)
    assert reasons(plan)[BYBIT] == (
        "best effective price 60039.0 after 5.5 bps fee (avg 60006.0): takes all 0.5"
    )


def test_route_lower_fee_wins_though_its_raw_price_is_worse() -> None:
    # 60000 * 1.00055 = 60033 against 60010 * 1.0002 = 60022.002
    plan = route(
        buy("1"),
        [
            quote(BYBIT, asks=(("60000", "5"),)),
            quote(BINANCE, asks=(("60010", "5"),), fee="0.0002"),
        ],
        POLICY,
    )

    assert shares(plan) == {BINANCE: D("1")}
    assert plan.children[0].effective_price == D("60022.002")
    assert reasons(plan)[BYBIT] == "not needed: better effective prices filled the order"
    assert plan.summary.startswith("Buy 1 at market to binance-usdm 1 at 60010.0")


def test_route_better_raw_price_wins_when_the_fee_gap_is_smaller() -> None:
    plan = route(
        buy("1"),
        [
            quote(BYBIT, asks=(("60000", "5"),)),
            quote(BINANCE, asks=(("60030", "5"),), fee="0.0002"),
        ],
        POLICY,
    )

    assert shares(plan) == {BYBIT: D("1")}


def test_route_sell_takes_the_highest_bid_after_fees() -> None:
    # 60010 * (1 - 0.00055) = 59976.99 against 60000 * (1 - 0.0002) = 59988
    plan = route(
        sell("1"),
        [
            quote(BYBIT, bids=(("60010", "5"),)),
            quote(BINANCE, bids=(("60000", "5"),), fee="0.0002"),
        ],
        POLICY,
    )

    assert shares(plan) == {BINANCE: D("1")}
    assert plan.children[0].effective_price == D("59988")


def test_route_splits_when_the_best_book_runs_out_within_the_limit() -> None:
    plan = route(
        buy("1", limit="60100"),
        [
            quote(BYBIT, asks=(("60000", "0.3"), ("60200", "5"))),
            quote(BINANCE, asks=(("60040", "2"),)),
        ],
        POLICY,
    )

    assert shares(plan) == {BYBIT: D("0.3"), BINANCE: D("0.7")}
    assert [c.venue for c in plan.children] == [BYBIT, BINANCE]
    assert reasons(plan)[BYBIT] == (
        "best effective price 60033.0 after 5.5 bps fee (avg 60000.0): takes 0.3 of 1, "
        "depth within limit 60100 ran out at 60000.0"
    )
    assert reasons(plan)[BINANCE].startswith("effective price 60073.0 after 5.5 bps fee")
    assert "bybit has the best price after fees until depth within limit 60100 ran out" in (
        plan.summary
    )


def test_route_splits_when_the_next_level_ranks_worse_than_another_venue() -> None:
    plan = route(
        buy("1"),
        [
            quote(BYBIT, asks=(("60000", "0.3"), ("60050", "5"))),
            quote(BINANCE, asks=(("60020", "0.5"), ("60040", "2"))),
        ],
        POLICY,
    )

    assert shares(plan) == {BYBIT: D("0.3"), BINANCE: D("0.7")}
    assert reasons(plan)[BYBIT].endswith(
        "takes 0.3 of 1, its next level 60050.0 ranks worse after fees"
    )


def test_route_interleaves_levels_across_venues_by_effective_price() -> None:
    plan = route(
        buy("3"),
        [
            quote(BYBIT, asks=(("100", "1"), ("102", "1"), ("104", "5"))),
            quote(BINANCE, asks=(("101", "1"), ("103", "5"))),
        ],
        RoutePolicy(latency_penalty_bps_per_ms=D(0)),
    )

    # Same fee: 100 (bybit), 101 (binance), 102 (bybit).
    assert shares(plan) == {BYBIT: D("2"), BINANCE: D("1")}


def test_route_ties_go_to_the_first_venue_by_name() -> None:
    same = (("60000", "0.5"),)
    plan = route(buy("0.7"), [quote(BYBIT, asks=same), quote(BINANCE, asks=same)], POLICY)

    assert [(c.venue, c.qty) for c in plan.children] == [(BINANCE, D("0.5")), (BYBIT, D("0.2"))]


def test_route_latency_penalty_can_outweigh_a_better_price() -> None:
    quotes = [
        quote(BYBIT, asks=(("60000", "5"),), latency_ms=D(200)),
        quote(BINANCE, asks=(("60003", "5"),), latency_ms=D(5)),
    ]

    without = route(buy("1"), quotes, POLICY)
    with_penalty = route(buy("1"), quotes, RoutePolicy(latency_penalty_bps_per_ms=D("0.01")))

    assert shares(without) == {BYBIT: D("1")}
    assert shares(with_penalty) == {BINANCE: D("1")}
    assert "ranked 0.05 bps worse for 5 ms latency" in reasons(with_penalty)[BINANCE]


def test_route_latency_penalty_that_takes_the_whole_price_excludes_the_venue() -> None:
    policy = RoutePolicy(latency_penalty_bps_per_ms=D(1))
    plan = route(sell("1"), [quote(bids=(("60000", "1"),), latency_ms=D(10_000))], policy)

    assert reasons(plan)[BYBIT] == "latency penalty 10000 bps takes the whole price"


# -- Limits and headroom ---------------------------------------------------------------------


def test_route_buy_never_takes_a_level_above_the_limit() -> None:
    plan = route(buy("1", limit="60005"), [quote(asks=(("60000", "0.4"), ("60010", "5")))], POLICY)

    assert shares(plan) == {BYBIT: D("0.4")}
    assert plan.unfilled_qty == D("0.6")
    assert plan.children[0].worst_price == D("60000")
    assert "0.6 unfilled: no eligible venue could take more within limit 60005" in plan.summary


def test_route_sell_never_takes_a_level_below_the_limit() -> None:
    plan = route(sell("1", limit="59995"), [quote(bids=(("60000", "0.4"), ("59990", "5")))], POLICY)

    assert shares(plan) == {BYBIT: D("0.4")}
    assert plan.unfilled_qty == D("0.6")


def test_route_venue_without_depth_within_the_limit_is_excluded() -> None:
    plan = route(buy("1", limit="60100"), [quote(asks=(("60200", "5"),))], POLICY)

    assert plan.children == ()
    assert plan.verdicts[0].eligible is False
    assert reasons(plan)[BYBIT] == "no depth within limit 60100"
    assert plan.summary == "Buy 1 limit 60100 not routed: bybit: no depth within limit 60100"


def test_route_caps_each_venue_at_its_risk_headroom() -> None:
    plan = route(
        buy("1"),
        [
            quote(BYBIT, asks=(("60000", "5"),), risk_headroom_qty=D("0.25")),
            quote(BINANCE, asks=(("60010", "5"),)),
        ],
        POLICY,
    )

    assert shares(plan) == {BYBIT: D("0.25"), BINANCE: D("0.75")}
    assert reasons(plan)[BYBIT].endswith("takes 0.25 of 1, capped at risk headroom 0.25")


def test_route_risk_headroom_rounds_down_to_the_step() -> None:
    plan = route(buy("1"), [quote(asks=(("60000", "5"),), risk_headroom_qty=D("0.2509"))], POLICY)

    assert shares(plan) == {BYBIT: D("0.250")}


@pytest.mark.parametrize("headroom", ["0", "-0.5"])
def test_route_venue_without_risk_headroom_is_excluded(headroom: str) -> None:
    plan = route(buy("1"), [quote(risk_headroom_qty=D(headroom))], POLICY)

    assert plan.children == ()
    assert reasons(plan)[BYBIT] == f"risk headroom {headroom}"


def test_route_headroom_below_min_qty_excludes_the_venue() -> None:
    plan = route(buy("1"), [quote(risk_headroom_qty=D("0.0009"))], POLICY)

    assert reasons(plan)[BYBIT] == "risk headroom 0.0009 below min qty 0.001"


def test_route_market_order_is_capped_at_the_max_market_qty() -> None:
    venue = quote(asks=(("60000", "900"),), rules=rules(max_qty="800", max_mkt_qty="500"))

    assert shares(route(buy("700"), [venue], POLICY)) == {BYBIT: D("500")}
    assert shares(route(buy("700", limit="60000"), [venue], POLICY)) == {BYBIT: D("700")}
    assert "capped at max order qty 500" in reasons(route(buy("700"), [venue], POLICY))[BYBIT]


# -- Steps and minimums ----------------------------------------------------------------------


def test_route_rounds_children_down_to_the_step_and_reports_the_rest() -> None:
    plan = route(buy("1.0005"), [quote(asks=(("60000", "5"),))], POLICY)

    assert shares(plan) == {BYBIT: D("1.000")}
    assert plan.unfilled_qty == D("0.0005")


def test_route_a_finer_step_venue_takes_what_a_coarser_one_cannot() -> None:
    plan = route(
        buy("1.005"),
        [
            quote(BYBIT, asks=(("60000", "5"),), rules=rules(step="0.01", min_qty="0.01")),
            quote(BINANCE, asks=(("60010", "5"),)),
        ],
        POLICY,
    )

    assert shares(plan) == {BYBIT: D("1.00"), BINANCE: D("0.005")}
    assert plan.unfilled_qty == 0
    assert reasons(plan)[BYBIT].endswith("takes 1 of 1.005")


def test_route_lot_straddling_two_levels_counts_at_the_worse_one() -> None:
    # Steps of 0.01 over levels of 0.005: every whole step reaches the second level.
    assert lots(book(("100", "0.005"), ("101", "0.015")), D("0.01"), None) == (
        Lot(D("0.02"), D("101")),
    )


def test_route_share_below_min_qty_is_dropped_and_goes_to_the_next_venue() -> None:
    tiny = rules(step="0.0001", min_qty="0.001", min_notional="0")
    plan = route(
        buy("0.5"),
        [
            quote(BYBIT, asks=(("60000", "0.0004"),), rules=tiny),
            quote(BINANCE, asks=(("60050", "5"),)),
        ],
        POLICY,
    )

    assert shares(plan) == {BINANCE: D("0.5")}
    assert reasons(plan)[BYBIT] == "dropped: share 0.0004 below min qty 0.001"
    assert plan.verdicts[1].eligible is True
    assert "dropped bybit (share 0.0004 below min qty 0.001)" in plan.summary


def test_route_share_below_min_notional_is_left_unfilled_when_no_venue_can_take_it() -> None:
    plan = route(
        buy("0.002"), [quote(asks=(("2000", "5"),), rules=rules(min_notional="5"))], POLICY
    )

    assert plan.children == ()
    assert plan.unfilled_qty == D("0.002")
    assert reasons(plan)[BYBIT] == "dropped: share 0.002 worth 4 below min notional 5"


def test_route_policy_min_child_notional_adds_to_the_venue_minimum() -> None:
    policy = RoutePolicy(latency_penalty_bps_per_ms=D(0), min_child_notional=D(100))
    plan = route(buy("0.001"), [quote(asks=(("60000", "5"),))], policy)

    assert plan.children == ()
    assert reasons(plan)[BYBIT] == "dropped: share 0.001 worth 60 below min notional 100"


def test_route_drops_the_worst_ranked_small_share_first() -> None:
    # Both shares are too small at first; dropping binance lets bybit's second level fill it.
    tiny = rules(step="0.0001", min_qty="0.001", min_notional="0")
    plan = route(
        buy("0.0012"),
        [
            quote(BYBIT, asks=(("100", "0.0006"), ("101", "1")), rules=tiny),
            quote(BINANCE, asks=(("100.5", "0.0006"),), rules=tiny),
        ],
        POLICY,
    )

    assert shares(plan) == {BYBIT: D("0.0012")}
    assert reasons(plan)[BINANCE] == "dropped: share 0.0006 below min qty 0.001"


def test_route_remaining_below_step_is_explained_on_the_idle_venue() -> None:
    plan = route(
        buy("1.0005"),
        [
            quote(BYBIT, asks=(("60000", "5"),)),
            quote(BINANCE, asks=(("60050", "5"),), rules=rules(step="0.01", min_qty="0.01")),
        ],
        POLICY,
    )

    assert shares(plan) == {BYBIT: D("1.000")}
    assert reasons(plan)[BINANCE] == "the remaining 0.0005 is below its qty step 0.01"


# -- Eligibility -----------------------------------------------------------------------------


def test_route_venue_with_an_open_circuit_never_gets_a_child() -> None:
    plan = route(
        buy("1"),
        [quote(BYBIT, asks=(("59000", "5"),), circuit_open=True), quote(BINANCE)],
        POLICY,
    )

    assert shares(plan) == {BINANCE: D("1")}
    assert reasons(plan)[BYBIT] == "circuit open"
    assert "excluded bybit (circuit open)" in plan.summary


def test_route_stale_book_is_excluded_with_its_age() -> None:
    plan = route(buy("1"), [quote(book_ts_ns=NOW - 2_300 * NS_PER_MS)], POLICY)

    assert reasons(plan)[BYBIT] == "book stale: 2300 ms old (max 1000)"


def test_route_book_at_exactly_the_max_age_is_fresh() -> None:
    plan = route(buy("1"), [quote(book_ts_ns=NOW - 1_000 * NS_PER_MS)], POLICY)

    assert shares(plan) == {BYBIT: D("1")}


def test_route_low_rate_headroom_is_excluded() -> None:
    plan = route(buy("1"), [quote(rate_headroom=D("0.04"))], POLICY)

    assert reasons(plan)[BYBIT] == "rate headroom 4% below 10%"


def test_route_latency_above_the_max_is_excluded_and_unknown_latency_is_not() -> None:
    policy = RoutePolicy(max_latency_ms=D(250))
    plan = route(
        buy("1"), [quote(BYBIT, latency_ms=D("312.46")), quote(BINANCE, latency_ms=None)], policy
    )

    assert reasons(plan)[BYBIT] == "latency 312.5 ms above 250 ms"
    assert shares(plan) == {BINANCE: D("1")}


def test_route_reports_every_health_reason_at_once() -> None:
    plan = route(buy("1"), [quote(circuit_open=True, rate_headroom=D(0))], POLICY)

    assert reasons(plan)[BYBIT] == "circuit open; rate headroom 0% below 10%"


def test_route_empty_and_crossed_books_are_excluded() -> None:
    plan = route(
        buy("1"),
        [
            quote(BYBIT, asks=()),
            quote(BINANCE, asks=(("60000", "1"),), bids=(("60001", "1"),)),
            quote("okx", asks=(("60000", "0"),)),
        ],
        POLICY,
    )

    assert reasons(plan) == {
        BINANCE: "book crossed: best bid 60001.0 >= best ask 60000.0",
        BYBIT: "book empty: no asks",
        "okx": "book empty: no asks",
    }


def test_route_instrument_not_trading_is_excluded() -> None:
    plan = route(buy("1"), [quote(rules=rules(status="Settling"))], POLICY)

    assert reasons(plan)[BYBIT] == "BTCUSDT is not trading (status 'Settling')"


def test_route_without_quotes_routes_nothing() -> None:
    plan = route(buy("1"), [], POLICY)

    assert (plan.children, plan.unfilled_qty, plan.verdicts) == ((), D("1"), ())
    assert plan.summary == "Buy 1 at market not routed: no venue quoted"


# -- Output ----------------------------------------------------------------------------------


def split_plan() -> RoutePlan:
    return route(
        buy("1", limit="60100"),
        [
            quote(BYBIT, asks=(("60000", "0.3"), ("60050", "5"))),
            quote(BINANCE, asks=(("60020", "0.5"), ("60040", "2")), fee="0.0002"),
            quote("okx", circuit_open=True),
        ],
        POLICY,
    )


def test_plan_to_dict_is_json_safe_with_decimals_as_strings() -> None:
    data = json.loads(json.dumps(split_plan().to_dict()))

    assert data["side"] == "Buy"
    assert (data["qty"], data["limit_price"], data["unfilled_qty"]) == ("1", "60100", "0.000")
    assert [c["venue"] for c in data["children"]] == [BINANCE, BYBIT]
    assert data["children"][1] == {
        "venue": BYBIT,
        "qty": "0.300",
        "expected_avg_price": "60000",
        "notional": "18000.000",
        "expected_fee": "9.90000000",
        "effective_price": "60033.00000",
        "worst_price": "60000",
        "levels_used": 1,
    }
    assert [v["venue"] for v in data["verdicts"]] == [BINANCE, BYBIT, "okx"]
    assert data["verdicts"][2] == {"venue": "okx", "eligible": False, "reason": "circuit open"}


def test_explain_prints_the_summary_then_a_line_per_venue() -> None:
    plan = split_plan()

    # Ranked: binance 60020 (60032.0 after fees), bybit 60000 (60033.0), binance 60040.
    assert explain(plan) == [
        plan.summary,
        "binance-usdm: best effective price 60037.7 after 2 bps fee (avg 60025.7): takes 0.7 of 1",
        "bybit: effective price 60033.0 after 5.5 bps fee (avg 60000.0): takes 0.3 of 1, "
        "its next level 60050.0 ranks worse after fees",
        "okx: circuit open",
    ]


def test_route_summary_names_the_split_and_the_exclusions() -> None:
    plan = split_plan()

    assert plan.summary == (
        "Buy 1 limit 60100 to binance-usdm 0.7 at 60025.7, bybit 0.3 at 60000.0: binance-usdm "
        "has the best price after fees, levels interleaved by price after fees; "
        "excluded okx (circuit open)"
    )


# -- Errors ----------------------------------------------------------------------------------


@pytest.mark.parametrize("qty", ["0", "-1", "NaN", "Infinity"])
def test_request_with_invalid_qty_raises(qty: str) -> None:
    with pytest.raises(RoutingError, match="qty"):
        buy(qty)


def test_request_with_non_positive_limit_raises() -> None:
    with pytest.raises(RoutingError, match="limit_price 0 is invalid"):
        buy("1", limit="0")


@pytest.mark.parametrize(
    ("asks", "match"),
    [
        ((("60000", "-1"),), "qty Decimal\\('-1'\\) at 60000 is invalid"),
        ((("0", "1"),), "price Decimal\\('0'\\) is invalid"),
        ((("60010", "1"), ("60000", "1")), "asks are not best first: 60000 after 60010"),
        ((("60000", "1"), ("60000", "1")), "asks are not best first"),
    ],
)
def test_quote_with_a_bad_level_raises(asks: tuple[tuple[str, str], ...], match: str) -> None:
    with pytest.raises(RoutingError, match=match):
        quote(asks=asks)


def test_quote_with_bids_not_descending_raises() -> None:
    with pytest.raises(RoutingError, match="bids are not best first"):
        quote(bids=(("59990", "1"), ("59995", "1")))


def test_quote_with_a_float_level_raises() -> None:
    with pytest.raises(RoutingError, match="expected a positive Decimal"):
        VenueQuote(BYBIT, rules(), D("0.00055"), NOW, asks=((60000.0, D(1)),))  # type: ignore[arg-type]


@pytest.mark.parametrize(
    ("field", "value"),
    [("rate_headroom", D("1.5")), ("taker_fee_rate", D(1)), ("latency_ms", D(-1))],
)
def test_quote_with_an_invalid_field_raises(field: str, value: Decimal) -> None:
    fields: dict[str, Any] = {"fee": str(value)} if field == "taker_fee_rate" else {field: value}
    with pytest.raises(RoutingError, match=field):
        quote(**fields)


def test_quote_with_a_zero_step_raises() -> None:
    with pytest.raises(RoutingError, match="qty_step 0 is invalid"):
        quote(rules=rules(step="0"))


def test_route_with_a_venue_quoted_twice_raises() -> None:
    with pytest.raises(RoutingError, match="venues quoted twice: bybit") as caught:
        route(buy(), [quote(), quote()], POLICY)
    assert isinstance(caught.value, DomainError)


@pytest.mark.parametrize(
    "fields",
    [{"max_book_age_ms": 0}, {"min_rate_headroom": D(2)}, {"latency_penalty_bps_per_ms": D(-1)}],
)
def test_policy_with_an_invalid_field_raises(fields: dict[str, Any]) -> None:
    with pytest.raises(RoutingError, match=next(iter(fields))):
        RoutePolicy(**fields)


def test_walk_is_exact_and_refuses_more_than_the_book_holds() -> None:
    levels = book(("100", "1"), ("101", "2"))

    take = walk(levels, D("1.5"))
    assert (take.notional, take.levels_used, take.worst_price) == (D("150.5"), 2, D("101"))
    with pytest.raises(RoutingError, match="holding 3"):
        walk(levels, D(4))


def test_within_limit_skips_empty_levels_and_stops_at_the_limit() -> None:
    levels = book(("100", "0"), ("101", "1"), ("102", "1"))

    assert within_limit(Side.BUY, levels, D("101.5")) == book(("101", "1"))


# -- Properties ------------------------------------------------------------------------------

STEPS = [D("0.001"), D("0.01"), D("0.1")]
VENUES = ["binance-usdm", "bybit", "okx"]


def mostly(usual: Any, *rare: Any) -> st.SearchStrategy[Any]:
    """`usual` four times in five, else one of `rare`: venues are healthy most of the time."""
    return st.sampled_from([usual] * 4 * len(rare) + list(rare))


@st.composite
def levels(draw: st.DrawFn, start: int, sign: int) -> tuple[tuple[Decimal, Decimal], ...]:
    """1 to 6 levels from `start` ticks of 0.1, away from the mid (`sign` +1 asks, -1 bids);
    quantities to 0.0001, so a level need not be a whole number of steps."""
    gaps = draw(st.lists(st.integers(1, 200), min_size=1, max_size=6))
    qtys = draw(st.lists(st.integers(1, 20_000), min_size=len(gaps), max_size=len(gaps)))
    empty = draw(mostly(None, *range(len(gaps))))  # now and then one level of qty 0
    prices, tick = [], start
    for gap in gaps:
        prices.append(D(tick).scaleb(-1))
        tick += gap * sign
    return tuple(
        (price, D(0) if i == empty else D(qty).scaleb(-4))
        for i, (price, qty) in enumerate(zip(prices, qtys, strict=True))
    )


@st.composite
def venue_quotes(draw: st.DrawFn, venue: str, mid: int) -> VenueQuote:
    step = draw(st.sampled_from(STEPS))
    centre = mid + draw(st.integers(-50, 50))
    return VenueQuote(
        venue=venue,
        rules=rules(
            step=str(step),
            min_qty=str(step * draw(st.integers(1, 3))),
            min_notional=str(draw(st.sampled_from([0, 5, 100]))),
            max_mkt_qty=str(draw(mostly(500, 1))),
        ),
        taker_fee_rate=D(draw(st.integers(0, 10))).scaleb(-4),
        book_ts_ns=NOW - draw(mostly(0, 200, 1_000, 1_001)) * NS_PER_MS,
        asks=draw(levels(centre + draw(st.integers(1, 10)), +1)),
        bids=draw(levels(centre - draw(st.integers(1, 10)), -1)),
        circuit_open=draw(mostly(False, True)),
        rate_headroom=draw(mostly(D(1), D("0.5"), D("0.1"), D("0.09"))),
        latency_ms=draw(mostly(D(20), None, D(250), D(251))),
        risk_headroom_qty=draw(mostly(None, D("0.5"), D("1.234"), D(0), D("-0.1"), D("0.0005"))),
    )


@st.composite
def scenarios(draw: st.DrawFn) -> tuple[RouteRequest, list[VenueQuote]]:
    mid = draw(st.integers(59_000_0, 61_000_0))
    names = draw(st.lists(st.sampled_from(VENUES), min_size=1, max_size=3, unique=True))
    quotes = [draw(venue_quotes(name, mid)) for name in names]
    side = draw(st.sampled_from(Side))
    qty = D(draw(st.integers(1, 3_000))).scaleb(-draw(mostly(3, 4)))
    limit = None
    if draw(st.booleans()):
        limit = D(mid + draw(st.integers(-100, 300)) * side.sign).scaleb(-1)
    return RouteRequest(side, qty, limit, NOW), quotes


PROPERTY_POLICY = RoutePolicy(max_latency_ms=D(250))


@settings(max_examples=300)
@given(scenarios())
def test_route_invariants_hold_for_any_books(
    scenario: tuple[RouteRequest, list[VenueQuote]],
) -> None:
    request, quotes = scenario
    plan = route(request, quotes, PROPERTY_POLICY)
    by_venue = {q.venue: q for q in quotes}

    assert plan.routed_qty + plan.unfilled_qty == request.qty
    assert plan.unfilled_qty >= 0
    assert sorted(v.venue for v in plan.verdicts) == sorted(by_venue)
    eligible = {v.venue for v in plan.verdicts if v.eligible}
    for child in plan.children:
        venue = by_venue[child.venue]
        rules_ = venue.rules
        assert child.venue in eligible
        assert not venue.circuit_open
        assert child.qty > 0
        assert child.qty % rules_.qty_step == 0
        assert child.qty >= rules_.min_qty
        assert child.notional >= rules_.min_notional
        assert child.qty <= rules_.max_mkt_qty or request.limit_price is not None
        if venue.risk_headroom_qty is not None:
            assert child.qty <= venue.risk_headroom_qty
        if request.limit_price is not None:
            assert child.worst_price * request.side.sign <= request.limit_price * request.side.sign
        # The average is a division, exact to Decimal's 28 digits.
        assert abs(child.expected_avg_price * child.qty - child.notional) <= child.notional * D(
            "1e-25"
        )
    assert len({c.venue for c in plan.children}) == len(plan.children)
    data = json.loads(json.dumps(plan.to_dict()))
    assert D(data["unfilled_qty"]) == plan.unfilled_qty


@given(scenarios(), st.randoms(use_true_random=False))
def test_route_plan_does_not_depend_on_quote_order(
    scenario: tuple[RouteRequest, list[VenueQuote]], rnd: Any
) -> None:
    request, quotes = scenario
    shuffled = list(quotes)
    rnd.shuffle(shuffled)

    assert route(request, shuffled, PROPERTY_POLICY) == route(request, quotes, PROPERTY_POLICY)


@settings(max_examples=300)
@given(scenarios())
def test_route_without_minimums_leaves_unfilled_only_what_no_venue_could_take(
    scenario: tuple[RouteRequest, list[VenueQuote]],
) -> None:
    request, quotes = scenario
    # No minimums beyond one step: nothing is dropped, so the greedy walk alone decides.
    quotes = [
        replace(
            q, rules=q.rules.model_copy(update={"min_qty": q.rules.qty_step, "min_notional": D(0)})
        )
        for q in quotes
    ]
    plan = route(request, quotes, PROPERTY_POLICY)
    got = shares(plan)

    for q in quotes:
        verdict = next(v for v in plan.verdicts if v.venue == q.venue)
        if not verdict.eligible:
            continue
        side_levels = within_limit(request.side, q.book_side(request.side), request.limit_price)
        depth = sum((qty for _, qty in side_levels), D(0))
        cap = min(
            depth,
            q.rules.max_qty_for(request.order_type),
            q.risk_headroom_qty if q.risk_headroom_qty is not None else depth,
        )
        capacity = (cap // q.rules.qty_step) * q.rules.qty_step
        # Either the venue took all it could, or what is left is less than one of its steps.
        assert got.get(q.venue, D(0)) == capacity or plan.unfilled_qty < q.rules.qty_step
