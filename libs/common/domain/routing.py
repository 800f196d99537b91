"""Smart order routing: split an order that names venue `auto` (a hedge, an IOC or a market
order) across venues by price after fees, over live books. Pure: the caller passes the books,
venue health, risk headroom and the time (`RouteRequest.now_ns`).

`route(request, quotes, policy) -> RoutePlan`:

1. Judge each venue (`VenueQuote`, `routing_venues.judge`) and exclude it, saying why, when
   its circuit is open, its instrument is not trading, its rate headroom is below
   `min_rate_headroom`, its latency is above `max_latency_ms`, its book is older than
   `max_book_age_ms`, empty on the side the order takes or crossed, its risk headroom
   (capped by the instrument's max order qty) is below its min qty, or it has less than one
   qty step of depth within the limit price.
2. Cut each eligible venue's depth within the limit, capped at its headroom, into lots of
   whole qty steps (`routing_book.lots`) and rank every lot of every venue by its price
   adjusted for the venue's taker fee and latency penalty (lowest first for a Buy, highest
   first for a Sell), ties broken by venue name, then book order:
       penalty = latency_ms * latency_penalty_bps_per_ms / 10_000
       buy:  price * (1 + taker_fee_rate + penalty)
       sell: price * (1 - taker_fee_rate - penalty)
3. Walk the ranked lots greedily: each venue takes whole qty steps of what is left until the
   request's qty is allocated. A venue's adjustment is fixed, so it always takes a prefix of
   its book: each child is one IOC order up to `RouteChild.worst_price`.
4. A share below its venue's min qty, or worth less than its min notional or the policy's
   `min_child_notional` (at the lowest price it takes), is dropped: step 3 runs again without
   that venue, so its qty goes to the next-best venue that can take it. Of several, the one
   whose best lot ranks worst is dropped first, one at a time (dropping it may lift another
   above its minimums), and a dropped venue is not reconsidered.
5. What no venue took is `unfilled_qty`: sum(child qty) + unfilled_qty == qty, exactly.

The plan does not depend on the order of `quotes`. A venue with no latency sample yet
(`latency_ms` None) gets no latency penalty and is not excluded by `max_latency_ms`.
Numbers in reasons are rounded for reading (prices to the venue's tick); fields are exact.

Modules: `routing_models` (inputs and the plan), `routing_venues` (step 1), `routing_book`
(book arithmetic), this one (steps 2 to 5, the reasons and the summary).
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from decimal import Decimal

from libs.common.domain.enums import Side
from libs.common.domain.errors import RoutingError
from libs.common.domain.instruments import round_to_step
from libs.common.domain.routing_book import Lot, Take, walk
from libs.common.domain.routing_models import (
    RouteChild,
    RoutePlan,
    RoutePolicy,
    RouteRequest,
    RouteVerdict,
    VenueQuote,
    explain,
)
from libs.common.domain.routing_venues import (
    BPS,
    Candidate,
    fmt_num,
    fmt_price,
    fmt_round,
    fmt_within,
    judge,
)

__all__ = [
    "RouteChild",
    "RoutePlan",
    "RoutePolicy",
    "RouteRequest",
    "RouteVerdict",
    "VenueQuote",
    "explain",
    "route",
]

_ZERO = Decimal(0)


# -- Allocating ------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class _Allocation:
    shares: dict[str, Decimal]
    """Each venue's share, in the order venues first took (best first)."""
    last_taker: str | None
    """The venue whose take ended the walk: it took the rest."""
    dropped: dict[str, str]
    """Venues dropped because their share was too small, and why."""


def _greedy(side: Side, qty: Decimal, candidates: Iterable[Candidate]) -> _Allocation:
    """Steps 2 and 3: walk every venue's lots in rank order, taking whole steps."""
    ranked = sorted(
        (
            (side.sign * lot.price * cand.rank_factor, cand.venue, index, lot, cand)
            for cand in candidates
            for index, lot in enumerate(cand.lots)
        ),
        key=lambda row: row[:3],
    )
    shares: dict[str, Decimal] = {}
    last_taker = None
    left = qty
    for _, venue, _, lot, cand in ranked:
        if left == 0:
            break
        take = min(lot.qty, round_to_step(left, cand.rules.qty_step, up=False))
        if take > 0:
            shares[venue] = shares.get(venue, _ZERO) + take
            left -= take
            last_taker = venue
    return _Allocation(shares, last_taker, {})


def _lowest_notional(take: Take) -> Decimal:
    return take.qty * min(take.best_price, take.worst_price)


def _too_small(cand: Candidate, share: Decimal, policy: RoutePolicy) -> str | None:
    """Why a share cannot be a child on its venue, or None."""
    rules = cand.quote.rules
    if share < rules.min_qty:
        return f"share {fmt_num(share)} below min qty {fmt_num(rules.min_qty)}"
    floor = max(rules.min_notional, policy.min_child_notional)
    notional = _lowest_notional(walk(cand.levels, share))
    if notional < floor:
        worth = fmt_round(notional, "0.01")
        return f"share {fmt_num(share)} worth {worth} below min notional {fmt_num(floor)}"
    return None


def _allocate(
    request: RouteRequest, candidates: list[Candidate], policy: RoutePolicy
) -> _Allocation:
    """Step 4: shares that all make valid children, dropping the venues in the way."""
    by_venue = {cand.venue: cand for cand in candidates}
    dropped: dict[str, str] = {}
    while True:
        active = [cand for cand in candidates if cand.venue not in dropped]
        allocation = _greedy(request.side, request.qty, active)
        small = [
            (venue, reason)
            for venue, share in allocation.shares.items()
            if (reason := _too_small(by_venue[venue], share, policy))
        ]
        if not small:
            return _Allocation(allocation.shares, allocation.last_taker, dropped)
        venue, reason = small[-1]
        dropped[venue] = reason


def _child(side: Side, cand: Candidate, share: Decimal) -> RouteChild:
    take = walk(cand.levels, share)
    fee_rate = cand.quote.taker_fee_rate
    avg = take.avg_price
    return RouteChild(
        venue=cand.venue,
        qty=share,
        expected_avg_price=avg,
        notional=take.notional,
        expected_fee=take.notional * fee_rate,
        effective_price=avg * (1 + side.sign * fee_rate),
        worst_price=take.worst_price,
        levels_used=take.levels_used,
    )


# -- Reasons ---------------------------------------------------------------------------------


def _next_lot(cand: Candidate, qty: Decimal) -> Lot | None:
    """The lot after the first `qty` of the venue's lots, if `qty` ends on a lot."""
    taken = _ZERO
    for lot in cand.lots:
        if taken == qty:
            return lot
        if taken > qty:
            return None
        taken += lot.qty
    return None


def _stop(
    request: RouteRequest, cand: Candidate, child: RouteChild, allocation: _Allocation
) -> str | None:
    """Why a child is no bigger, or None when it took the rest of the order."""
    if child.qty == cand.cap:
        return f"capped at {cand.cap_source} {fmt_num(cand.cap)}"
    if child.qty == cand.depth:
        return f"depth{fmt_within(request)} ran out at {fmt_price(child.worst_price, cand.rules)}"
    if allocation.last_taker == cand.venue:
        return None
    unfilled = request.qty - sum(allocation.shares.values(), _ZERO)
    if unfilled > 0:
        return _below_step(cand, unfilled)
    if lot := _next_lot(cand, child.qty):
        return f"its next level {fmt_price(lot.price, cand.rules)} ranks worse after fees"
    return None


def _child_reason(
    request: RouteRequest, cand: Candidate, child: RouteChild, allocation: _Allocation
) -> str:
    rules, quote = cand.rules, cand.quote
    best = next(iter(allocation.shares)) == cand.venue
    text = (
        f"{'best ' if best else ''}effective price {fmt_price(child.effective_price, rules)} after "
        f"{fmt_round(quote.taker_fee_rate * BPS, '0.01')} bps fee "
        f"(avg {fmt_price(child.expected_avg_price, rules)})"
    )
    if cand.penalty_bps > 0:
        latency = fmt_round(quote.latency_ms or _ZERO, "0.1")
        text += f", ranked {fmt_round(cand.penalty_bps, '0.01')} bps worse for {latency} ms latency"
    if child.qty == request.qty:
        return f"{text}: takes all {fmt_num(child.qty)}"
    text += f": takes {fmt_num(child.qty)} of {fmt_num(request.qty)}"
    stop = _stop(request, cand, child, allocation)
    return f"{text}, {stop}" if stop else text


def _below_step(cand: Candidate, unfilled: Decimal) -> str:
    return f"the remaining {fmt_num(unfilled)} is below its qty step {fmt_num(cand.rules.qty_step)}"


def _idle_reason(cand: Candidate, unfilled: Decimal) -> str:
    if unfilled == 0:
        return "not needed: better effective prices filled the order"
    return _below_step(cand, unfilled)


def _verdicts(
    request: RouteRequest,
    judged: dict[str, Candidate | str],
    children: tuple[RouteChild, ...],
    allocation: _Allocation,
) -> tuple[RouteVerdict, ...]:
    by_venue = {child.venue: child for child in children}
    unfilled = request.qty - sum(allocation.shares.values(), _ZERO)
    verdicts = []
    for venue, judgement in judged.items():
        if isinstance(judgement, str):
            verdicts.append(RouteVerdict(venue, False, judgement))
            continue
        if venue in by_venue:
            reason = _child_reason(request, judgement, by_venue[venue], allocation)
        elif venue in allocation.dropped:
            reason = f"dropped: {allocation.dropped[venue]}"
        else:
            reason = _idle_reason(judgement, unfilled)
        verdicts.append(RouteVerdict(venue, True, reason))
    return tuple(verdicts)


def _summary(
    request: RouteRequest,
    children: tuple[RouteChild, ...],
    verdicts: tuple[RouteVerdict, ...],
    *,
    candidates: dict[str, Candidate],
    allocation: _Allocation,
) -> str:
    unfilled = request.qty - sum(allocation.shares.values(), _ZERO)
    head = f"{request.side.value} {fmt_num(request.qty)}"
    limit = request.limit_price
    head += " at market" if limit is None else f" limit {fmt_num(limit)}"
    if not children:
        why = "; ".join(f"{v.venue}: {v.reason}" for v in verdicts) or "no venue quoted"
        return f"{head} not routed: {why}"
    parts = ", ".join(
        f"{c.venue} {fmt_num(c.qty)} at "
        f"{fmt_price(c.expected_avg_price, candidates[c.venue].rules)}"
        for c in children
    )
    first = children[0]
    text = f"{head} to {parts}: {first.venue} has the best price after fees"
    if len(children) > 1:
        stop = _stop(request, candidates[first.venue], first, allocation)
        text += f" until {stop}" if stop else ", levels interleaved by price after fees"
    if unfilled > 0:
        text += f"; {fmt_num(unfilled)} unfilled: no eligible venue could take more"
        text += fmt_within(request)
    if excluded := [v for v in verdicts if not v.eligible]:
        text += "; excluded " + ", ".join(f"{v.venue} ({v.reason})" for v in excluded)
    if dropped := allocation.dropped:
        text += "; dropped " + ", ".join(f"{venue} ({why})" for venue, why in dropped.items())
    return text


# -- Routing ---------------------------------------------------------------------------------


def route(request: RouteRequest, quotes: Sequence[VenueQuote], policy: RoutePolicy) -> RoutePlan:
    """Plan where `request` goes across `quotes` (see the module docstring).

    Raises RoutingError if two quotes name the same venue. The plan does not depend on the
    order of `quotes`: children are best first, verdicts by venue name.
    """
    names = [quote.venue for quote in quotes]
    if duplicates := sorted({name for name in names if names.count(name) > 1}):
        raise RoutingError(f"venues quoted twice: {', '.join(duplicates)}: expected one quote each")
    judged: dict[str, Candidate | str] = {
        quote.venue: judge(request, quote, policy)
        for quote in sorted(quotes, key=lambda q: q.venue)
    }
    candidates = {venue: j for venue, j in judged.items() if isinstance(j, Candidate)}
    allocation = _allocate(request, list(candidates.values()), policy)
    children = tuple(
        _child(request.side, candidates[venue], qty) for venue, qty in allocation.shares.items()
    )
    verdicts = _verdicts(request, judged, children, allocation)
    summary = _summary(request, children, verdicts, candidates=candidates, allocation=allocation)
    unfilled = request.qty - sum(allocation.shares.values(), _ZERO)
    return RoutePlan(request, children, unfilled, verdicts, summary)
