"""Errors of the pure core.

    DomainError
    ├── InvalidIdentifier     an id or symbol the venue would refuse
    ├── InvalidOrder          an order that cannot be made valid for its instrument
    ├── InvalidTransition     an (order state, event) pair the FSM does not allow
    └── Overfill              a fill that would take cumulative fills past the quantity

Each message says what was wrong and what was expected.
"""

from __future__ import annotations


class DomainError(Exception):
    """Base of every error raised by `libs.common.domain`."""


class InvalidIdentifier(DomainError, ValueError):
    """An identifier does not match the format the venue accepts."""


class InvalidOrder(DomainError, ValueError):
    """An order that cannot be rounded into something the instrument accepts."""


class InvalidTransition(DomainError):
    """The order state machine has no edge for this state and event."""


class Overfill(DomainError):
    """Cumulative filled quantity would exceed the order quantity."""
