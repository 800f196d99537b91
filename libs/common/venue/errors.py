"""Errors raised by the venue adapter, and the classification of Bybit `retCode`s.

    VenueError
    ├── VenueRejected            the venue refused the request: final, nothing happened
    │   ├── OrderNotFound        110001 / 170213: the venue does not know the order
    │   │   └── OrderClosed      the order exists but is already filled or cancelled
    │   ├── InsufficientBalance  110004 / 110007 / 110012 / 110044 / 170131
    │   └── HttpRefused          an HTTP 4xx without a Bybit envelope (bad path, method)
    ├── AuthenticationFailed     10003 / 10004 / 10005 / 10010, HTTP 401, or no key configured
    │   └── ClockSkew            10002 even after re-syncing the clock and retrying once
    ├── RateLimited              10006 and waiting for the reset is not allowed
    ├── IpBanned                 HTTP 403: every call is refused until the ban expires
    ├── VenueUnavailable         connection error, timeout, HTTP 5xx/429, 10000/10016
    ├── OutcomeUnknown           a create/amend/cancel whose outcome could not be established
    └── InvalidOrderRequest      an order that cannot be made valid; never sent

Every message says what was wrong and what was expected or what to do next.
"""

from __future__ import annotations

from enum import StrEnum
from typing import TYPE_CHECKING

from libs.common.domain.errors import InvalidOrder

if TYPE_CHECKING:
    from libs.common.venue.models import VenueOrder

ORDER_NOT_FOUND_CODES = frozenset({110001, 170213})
ALREADY_CLOSED_CODES = frozenset({110008, 110010, 170139, 170142})
DUPLICATE_CODES = frozenset({110072, 170141})
AMBIGUOUS_CODES = frozenset({10000, 10016, 170146, 170147})
AUTH_CODES = frozenset({10003, 10004, 10005, 10010})
INSUFFICIENT_BALANCE_CODES = frozenset({110004, 110007, 110012, 110044, 170131})
TIMESTAMP_CODE = 10002
RATE_LIMIT_CODE = 10006


class Outcome(StrEnum):
    """What a `retCode` says about a mutating request."""

    OK = "ok"
    REJECTED = "rejected"
    """Refused; nothing happened."""
    NOT_FOUND = "not_found"
    """The order is unknown or already done (110001, 110008, 170213, ...)."""
    DUPLICATE = "duplicate"
    """The orderLinkId is already taken: the order was placed before."""
    AMBIGUOUS = "ambiguous"
    """The venue may or may not have acted (server timeout, restart)."""


def classify(ret_code: int) -> Outcome:
    """Classify a Bybit `retCode` returned for a create, amend or cancel."""
    if ret_code == 0:
        return Outcome.OK
    if ret_code in AMBIGUOUS_CODES:
        return Outcome.AMBIGUOUS
    if ret_code in DUPLICATE_CODES:
        return Outcome.DUPLICATE
    if ret_code in ORDER_NOT_FOUND_CODES or ret_code in ALREADY_CLOSED_CODES:
        return Outcome.NOT_FOUND
    return Outcome.REJECTED


class VenueError(Exception):
    """Base of every error raised by `libs.common.venue`."""


class VenueRejected(VenueError):
    """The venue answered with a non-zero `retCode`: the request was refused."""

    def __init__(self, code: int, message: str, *, context: str = "") -> None:
        self.code = code
        self.venue_message = message
        where = f"{context}: " if context else ""
        super().__init__(f"{where}venue rejected the request with retCode {code}: {message}")


class OrderNotFound(VenueRejected):
    """The venue does not know the order (or too late to amend / cancel it)."""

    def __init__(
        self,
        code: int,
        message: str,
        *,
        context: str = "",
        order: VenueOrder | None = None,
    ) -> None:
        super().__init__(code, message, context=context)
        self.order = order


class OrderClosed(OrderNotFound):
    """The order exists but is final (filled / cancelled); `order` is its last snapshot."""


class InsufficientBalance(VenueRejected):
    """Not enough balance or margin for the order."""


class HttpRefused(VenueRejected):
    """An HTTP 4xx status without a Bybit envelope; `code` is the HTTP status."""


class AuthenticationFailed(VenueError):
    """The venue refused our credentials or signature; fatal until configuration changes."""


class ClockSkew(AuthenticationFailed):
    """10002 (timestamp outside recv_window) persisted after a clock re-sync and a retry."""


class RateLimited(VenueError):
    """10006 and the reset is further away than the configured maximum wait."""

    def __init__(self, path: str, reset_ms: int | None, wait_s: float | None) -> None:
        self.path = path
        self.reset_ms = reset_ms
        when = (
            f"resets at {reset_ms} ms ({wait_s:.2f} s away)" if reset_ms is not None else "no reset"
        )
        super().__init__(
            f"{path}: venue rate limit exceeded (retCode 10006), {when}; "
            "expected fewer requests per second on this endpoint, retry after the reset"
        )


class IpBanned(VenueError):
    """HTTP 403: the IP is banned; the adapter refuses every call until `until_ms` (epoch ms)."""

    def __init__(self, until_ms: int, remaining_s: float, *, first: bool = False) -> None:
        self.until_ms = until_ms
        self.remaining_s = remaining_s
        what = (
            "venue answered HTTP 403 (IP rate limit breached)"
            if first
            else "refusing to call the venue: the IP is banned after an HTTP 403"
        )
        super().__init__(
            f"{what}; all venue calls are refused for {remaining_s:.0f} s more, until "
            f"{until_ms} ms epoch: expected fewer than 600 requests per 5 s per IP"
        )


class VenueUnavailable(VenueError):
    """The venue could not be reached, timed out, or answered with a server error.

    For a read-only call this is raised after bounded retries. A mutating call raises it
    only when the request was certainly not sent (`sent=False`: no connection could be
    made); when it may have been executed the adapter resolves that itself and raises
    `OutcomeUnknown` if it cannot.
    """

    def __init__(self, path: str, reason: str, *, sent: bool = True) -> None:
        self.path = path
        self.reason = reason
        self.sent = sent
        """False when the request certainly never left (no connection could be made)."""
        super().__init__(f"{path}: venue unavailable ({reason}); expected an answer, retry later")


class OutcomeUnknown(VenueError):
    """A create / amend / cancel whose outcome could not be established even by querying.

    The order may or may not be live. The router must reconcile by `client_order_id`
    (or `venue_order_id`) before doing anything else with it; never resend blindly.
    """

    def __init__(
        self,
        operation: str,
        reason: str,
        *,
        client_order_id: str | None = None,
        venue_order_id: str | None = None,
    ) -> None:
        self.operation = operation
        self.client_order_id = client_order_id
        self.venue_order_id = venue_order_id
        ident = client_order_id or venue_order_id or "?"
        super().__init__(
            f"{operation} of order {ident}: outcome unknown ({reason}); "
            "expected the router to reconcile this order with the venue before acting on it"
        )


class InvalidOrderRequest(VenueError, ValueError):
    """The order cannot be made valid for its instrument; it was not sent."""

    def __init__(self, message: str, *, cause: InvalidOrder | None = None) -> None:
        self.cause = cause
        super().__init__(f"order not sent: {message}")


def rejection(code: int, message: str, *, context: str = "") -> VenueRejected:
    """The `VenueRejected` subclass for a business `retCode`."""
    if code in ORDER_NOT_FOUND_CODES or code in ALREADY_CLOSED_CODES:
        return OrderNotFound(code, message, context=context)
    if code in INSUFFICIENT_BALANCE_CODES:
        return InsufficientBalance(code, message, context=context)
    return VenueRejected(code, message, context=context)
