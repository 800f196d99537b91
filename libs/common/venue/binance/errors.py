"""Binance error codes: what each says about a request, and the exceptions they become.

The exception tree is `libs.common.venue.errors`' (the router catches those); three leaves
only reword Bybit's messages for Binance:

    VenueError
    ├── VenueRejected            a business code (-2010, -2019, -4164, -5022, -1111, ...)
    │   ├── OrderNotFound        -2011 / -2013: the venue does not know the order
    │   │   └── OrderClosed      it exists but is final (filled, cancelled, expired)
    │   ├── InsufficientBalance  -2018 / -2019 / -4118
    │   └── HttpRefused          an HTTP 4xx without a Binance `{"code","msg"}` body
    ├── AuthenticationFailed     -1022 / -2014 / -2015, HTTP 401, or no key configured
    │   └── ClockSkew            -1021 even after re-syncing the clock and retrying once
    ├── RateLimited              HTTP 429, -1003 / -1015 ──▶ BinanceRateLimited
    ├── IpBanned                 HTTP 418 ──▶ BinanceIpBanned
    ├── VenueUnavailable         no answer, HTTP 5xx, -1000 / -1001 / -1006 / -1007 / -1008
    └── OutcomeUnknown           a create / amend / cancel whose outcome stayed unknown
"""

from __future__ import annotations

from libs.common.venue.errors import (
    InsufficientBalance,
    IpBanned,
    OrderNotFound,
    Outcome,
    RateLimited,
    VenueError,
    VenueRejected,
)

UNKNOWN_OUTCOME = -1007
"""How the adapter reports a request whose outcome is unknown (Binance's own TIMEOUT)."""
AMBIGUOUS_CODES = frozenset({-1006, -1007})
"""UNEXPECTED_RESP / TIMEOUT: "execution status unknown"."""
FAILED_CODES = frozenset({-1000, -1001, -1008})
"""UNKNOWN / DISCONNECTED "unable to process", overloaded: failed, safe to send again."""
DUPLICATE_CODE = -4116
"""DUPLICATED_CLIENT_ORDER_ID: an open order already carries this newClientOrderId."""
CANCEL_REJECTED = -2011
"""CANCEL_REJECTED "Unknown order sent.": the order is unknown or already final."""
NO_SUCH_ORDER = -2013
"""NO_SUCH_ORDER "Order does not exist." (a query, or an amend of an unknown order)."""
NOT_FOUND_CODES = frozenset({CANCEL_REJECTED, NO_SUCH_ORDER})
NO_CHANGE_CODE = -5027
""""No need to modify the order.": the amend's values are already the order's."""
TIMESTAMP_CODE = -1021
AUTH_CODES = frozenset({-1022, -2014, -2015})
RATE_LIMIT_CODES = frozenset({-1003, -1015})
INSUFFICIENT_BALANCE_CODES = frozenset({-2018, -2019, -4118})
INVALID_LISTEN_KEY = -1125

UNKNOWN_MESSAGE = "Unknown error"
"""How an HTTP 503 that was sent but not answered in time begins: status UNKNOWN."""
FAILED_MESSAGES = ("Service Unavailable", "Internal error")
"""How an HTTP 503 that certainly failed begins (fact sheet §1)."""


def classify(code: int) -> Outcome:
    """What a Binance `code` (0 when the call succeeded) says about a mutating request."""
    if code == 0:
        return Outcome.OK
    if code in AMBIGUOUS_CODES:
        return Outcome.AMBIGUOUS
    if code == DUPLICATE_CODE:
        return Outcome.DUPLICATE
    if code in NOT_FOUND_CODES:
        return Outcome.NOT_FOUND
    return Outcome.REJECTED


def rejection(code: int, message: str, *, context: str = "") -> VenueRejected:
    """The `VenueRejected` subclass for a business `code`."""
    if code in NOT_FOUND_CODES:
        return OrderNotFound(code, message, context=context)
    if code in INSUFFICIENT_BALANCE_CODES:
        return InsufficientBalance(code, message, context=context)
    return VenueRejected(code, message, context=context)


def hook_code(status: int, code: int) -> int:
    """The `ret_code` the `on_request` hook is told, in the router's vocabulary.

    0 answered; `-status` for HTTP 429 and 5xx; -401 for refused credentials (HTTP 401 or
    -1022 / -2014 / -2015, whatever the status); -403 for an IP ban (HTTP 418) or the WAF
    (HTTP 403); any other Binance code as its absolute value (-2019 → 2019), so that it is
    never read as an HTTP status; `-status` for another HTTP error without a code.
    """
    if status == 401 or code in AUTH_CODES:
        return -401
    if status in (403, 418):
        return -403
    if status == 429 or status >= 500:
        return -status
    if code != 0:
        return abs(code)
    return 0 if 200 <= status < 300 else -status


class BinanceRateLimited(RateLimited):
    """HTTP 429 (-1003 request weight, -1015 orders) and waiting is not allowed."""

    def __init__(self, path: str, reset_ms: int | None, wait_s: float | None, *, code: int):
        self.path = path
        self.reset_ms = reset_ms
        self.code = code
        when = f"{wait_s:.2f} s until the window resets" if wait_s is not None else "no reset"
        VenueError.__init__(
            self,
            f"{path}: Binance rate limit exceeded (code {code}), {when}; expected fewer than "
            "2400 request weight a minute per IP and 300 orders per 10 s per account; "
            "retry after the reset (ignoring 429s leads to an IP ban, HTTP 418)",
        )


class BinanceIpBanned(IpBanned):
    """HTTP 418: the IP is banned; the adapter refuses every call until `until_ms`."""

    def __init__(self, until_ms: int, remaining_s: float, *, first: bool = False) -> None:
        self.until_ms = until_ms
        self.remaining_s = remaining_s
        what = (
            "Binance answered HTTP 418 (IP banned after ignoring HTTP 429s)"
            if first
            else "refusing to call Binance: the IP is banned after an HTTP 418"
        )
        VenueError.__init__(
            self,
            f"{what}; all venue calls are refused for {remaining_s:.0f} s more, until "
            f"{until_ms} ms epoch: expected the client to back off on HTTP 429",
        )
