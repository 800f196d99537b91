"""Errors of the pure core.

    DomainError
    ├── InvalidIdentifier     an id or symbol the venue would refuse
    ├── UnknownAccount        an account that is not one of the desk's
    ├── InvalidOrder          an order (or an amendment) that cannot be made valid
    ├── InvalidFill           a fill with a non-positive qty or price, or for another symbol
    ├── InvalidTransition     an (order state, event) pair the FSM does not allow
    ├── Overfill              a fill that would take cumulative fills past the quantity
    └── RoutingError          a route request, policy or venue snapshot the router cannot use

Each message says what was wrong and what was expected.
"""

from __future__ import annotations


class DomainError(Exception):
    """Base of every error raised by `libs.common.domain`."""


class InvalidIdentifier(DomainError, ValueError):
    """An identifier does not match the format the venue accepts."""


class UnknownAccount(DomainError, KeyError):
    """An account that is not one of the desk's (`MMX_ACCOUNTS`)."""

    def __init__(self, account: str, known: tuple[str, ...]) -> None:
        self.account = account
        super().__init__(
            f"account {account!r} is not configured: expected one of {', '.join(known)} "
            "(MMX_ACCOUNTS)"
        )

    def __str__(self) -> str:
        return str(self.args[0])


class UnknownVenue(DomainError, KeyError):
    """A venue the desk does not trade (`MMX_VENUES`)."""

    def __init__(self, venue: str, known: tuple[str, ...]) -> None:
        self.venue = venue
        super().__init__(
            f"venue {venue!r} is not traded here: expected one of {', '.join(known)} (MMX_VENUES)"
        )

    def __str__(self) -> str:
        return str(self.args[0])


class InvalidOrder(DomainError, ValueError):
    """An order the instrument cannot accept, or an amendment the order cannot take."""


class InvalidFill(DomainError, ValueError):
    """A fill that cannot be applied: non-positive qty or price, or the wrong symbol."""


class InvalidTransition(DomainError):
    """The order state machine has no edge for this state and event."""


class Overfill(DomainError):
    """Cumulative filled quantity would exceed the order quantity."""


class RoutingError(DomainError, ValueError):
    """A route request, policy or venue quote that cannot be routed as given: a non-positive
    qty, a negative or unsorted book level, a duplicate venue (`libs.common.domain.routing`)."""
