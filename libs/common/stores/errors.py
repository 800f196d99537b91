"""Errors of the stores.

    StoreError
    ├── OrderNotFound            an update of an order the store does not hold
    ├── ConcurrentUpdateError    compare-and-set lost to other writers more than max_retries times
    ├── InvalidUpdate            an update function changed an order's identity or its version
    └── UnknownBucket            a rate-limit bucket with no configured rate

Domain errors raised by an update function (InvalidTransition, Overfill, ...) pass through
unchanged: they are not store errors.
"""

from __future__ import annotations


class StoreError(Exception):
    """Base of every error raised by `libs.common.stores`."""


class OrderNotFound(StoreError, KeyError):
    """The store holds no order with this client order id."""

    def __str__(self) -> str:  # KeyError quotes its argument; say it plainly
        return str(self.args[0]) if self.args else ""


class ConcurrentUpdateError(StoreError):
    """Other writers changed the record between every read and write: gave up."""


class InvalidUpdate(StoreError, ValueError):
    """An update function returned an order with another id or symbol, or an unbumped version."""


class UnknownBucket(StoreError, KeyError):
    """A rate-limit bucket that was not configured."""

    def __str__(self) -> str:
        return str(self.args[0]) if self.args else ""
