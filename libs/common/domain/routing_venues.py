"""Step 1 of smart order routing (`libs.common.domain.routing`): judge each venue, and make
the eligible ones candidates, their depth within the limit cut into lots and their rank factor
set. Also the number formatting every routing reason uses. Pure.

A venue is excluded, with the reason, when (health, all reasons given at once) its circuit is
open, its instrument is not trading, its rate headroom is below the policy's minimum, its
latency is above the policy's maximum, or its book is stale; else (the first that applies)
when its book is empty on the side the order takes or crossed, its risk headroom is 0 or
less or (with the instrument's max order qty, rounded down to the step) below its min qty,
it has no depth within the limit or less than one qty step of it, or its latency penalty
would take the whole price.
"""

from __future__ import annotations

from dataclasses import dataclass
from decimal import Decimal, InvalidOperation

from libs.common.domain.enums import OrderType, Side
from libs.common.domain.instruments import InstrumentRules, round_to_step
from libs.common.domain.routing_book import Level, Lot, lots, within_limit
from libs.common.domain.routing_models import RoutePolicy, RouteRequest, VenueQuote
from libs.common.domain.time import NS_PER_MS

_ZERO = Decimal(0)
BPS = Decimal(10_000)


@dataclass(frozen=True, slots=True)
class Candidate:
    """An eligible venue, ready to rank."""

    quote: VenueQuote
    levels: tuple[Level, ...]
    """The book side within the limit, non-empty levels only."""
    lots: tuple[Lot, ...]
    cap: Decimal
    cap_source: str
    """What sets the cap: the risk headroom or the instrument's max order qty."""
    rank_factor: Decimal
    """1 + side.sign * (fee + latency penalty): multiplies a price into its rank."""
    penalty_bps: Decimal

    @property
    def venue(self) -> str:
        return self.quote.venue

    @property
    def rules(self) -> InstrumentRules:
        return self.quote.rules

    @property
    def depth(self) -> Decimal:
        return sum((lot.qty for lot in self.lots), _ZERO)


def fmt_num(value: Decimal) -> str:
    """A quantity or plain number for reading: no trailing zeros, no exponent."""
    return f"{value.normalize():f}"


def fmt_price(value: Decimal, rules: InstrumentRules) -> str:
    """A price for reading, to the venue's tick."""
    try:
        return f"{value.quantize(rules.tick_size):f}"
    except InvalidOperation:  # more digits than the context holds: show it as computed
        return fmt_num(value)


def fmt_round(value: Decimal, places: str) -> str:
    """`value` to `places` (e.g. "0.01") for reading, without trailing zeros."""
    return fmt_num(value.quantize(Decimal(places)))


def fmt_within(request: RouteRequest) -> str:
    """The words `within limit L` (with a leading space) for a limit order; "" for market."""
    limit = request.limit_price
    return "" if limit is None else f" within limit {fmt_num(limit)}"


def _health_reasons(quote: VenueQuote, policy: RoutePolicy, now_ns: int) -> list[str]:
    reasons = []
    if quote.circuit_open:
        reasons.append("circuit open")
    if quote.rules.status != "Trading":
        reasons.append(f"{quote.rules.symbol} is not trading (status {quote.rules.status!r})")
    if quote.rate_headroom < policy.min_rate_headroom:
        reasons.append(
            f"rate headroom {fmt_round(quote.rate_headroom * 100, '0.1')}% below "
            f"{fmt_round(policy.min_rate_headroom * 100, '0.1')}%"
        )
    latency, max_latency = quote.latency_ms, policy.max_latency_ms
    if latency is not None and max_latency is not None and latency > max_latency:
        reasons.append(f"latency {fmt_round(latency, '0.1')} ms above {fmt_num(max_latency)} ms")
    age_ns = now_ns - quote.book_ts_ns
    if age_ns > policy.max_book_age_ms * NS_PER_MS:
        reasons.append(f"book stale: {age_ns // NS_PER_MS} ms old (max {policy.max_book_age_ms})")
    return reasons


def _book_reason(quote: VenueQuote, side: Side) -> str | None:
    if not any(qty > 0 for _, qty in quote.book_side(side)):
        return f"book empty: no {'asks' if side is Side.BUY else 'bids'}"
    bids = [price for price, qty in quote.bids if qty > 0]
    asks = [price for price, qty in quote.asks if qty > 0]
    if bids and asks and bids[0] >= asks[0]:
        bid, ask = fmt_price(bids[0], quote.rules), fmt_price(asks[0], quote.rules)
        return f"book crossed: best bid {bid} >= best ask {ask}"
    return None


def _cap(quote: VenueQuote, order_type: OrderType) -> tuple[Decimal, Decimal, str]:
    """The most one child may be on this venue (as given, and rounded down to the step) and
    what sets it: the risk headroom or the instrument's max order qty."""
    venue_max = quote.rules.max_qty_for(order_type)
    headroom = quote.risk_headroom_qty
    limit, source = (
        (headroom, "risk headroom")
        if headroom is not None and headroom <= venue_max
        else (venue_max, "max order qty")
    )
    return limit, round_to_step(max(limit, _ZERO), quote.rules.qty_step, up=False), source


def judge(request: RouteRequest, quote: VenueQuote, policy: RoutePolicy) -> Candidate | str:
    """The venue as a candidate for `request`, or the reason it is excluded (step 1)."""
    if health := _health_reasons(quote, policy, request.now_ns):
        return "; ".join(health)
    if reason := _book_reason(quote, request.side):
        return reason
    rules = quote.rules
    given, cap, cap_source = _cap(quote, request.order_type)
    if given <= 0:
        return f"{cap_source} {fmt_num(given)}"
    if cap <= 0 or cap < rules.min_qty:
        return f"{cap_source} {fmt_num(given)} below min qty {fmt_num(rules.min_qty)}"
    levels = within_limit(request.side, quote.book_side(request.side), request.limit_price)
    if not levels:
        return f"no depth{fmt_within(request)}"
    venue_lots = lots(levels, rules.qty_step, cap)
    if not venue_lots:
        depth = sum((qty for _, qty in levels), _ZERO)
        step = fmt_num(rules.qty_step)
        return f"depth{fmt_within(request)} {fmt_num(depth)} below one qty step {step}"
    penalty_bps = (quote.latency_ms or _ZERO) * policy.latency_penalty_bps_per_ms
    rank_factor = 1 + request.side.sign * (quote.taker_fee_rate + penalty_bps / BPS)
    if rank_factor <= 0:  # a sell would rank its worst bids first
        return f"latency penalty {fmt_round(penalty_bps, '0.01')} bps takes the whole price"
    return Candidate(
        quote=quote,
        levels=levels,
        lots=venue_lots,
        cap=cap,
        cap_source=cap_source,
        rank_factor=rank_factor,
        penalty_bps=penalty_bps,
    )
