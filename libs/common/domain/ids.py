"""Typed identifiers. Strings on the wire, distinct types in the code."""

from __future__ import annotations

import os
import re
import uuid
from typing import NewType

from libs.common.domain.errors import InvalidIdentifier

ClientOrderId = NewType("ClientOrderId", str)
"""Our id for an order, sent as Bybit `orderLinkId`: the idempotency key end to end."""
VenueOrderId = NewType("VenueOrderId", str)
"""The venue's `orderId`."""
ExecId = NewType("ExecId", str)
"""The venue's `execId`: one fill, the dedupe key for positions."""
Symbol = NewType("Symbol", str)
AccountId = NewType("AccountId", str)
"""A trading account of the desk: its own venue credentials, limits, positions, freeze state
and open orders. `default` until a desk configures more."""
VenueId = NewType("VenueId", str)
"""A venue the desk trades on (`VENUES`): every order, fill and position is at one."""
EventId = NewType("EventId", str)
CorrelationId = NewType("CorrelationId", str)

CLIENT_ORDER_ID_MAX_LEN = 36
_CLIENT_ORDER_ID_RE = re.compile(r"^[A-Za-z0-9_-]{1,36}$")
_SYMBOL_RE = re.compile(r"^[A-Z0-9]{2,30}$")
_ACCOUNT_RE = re.compile(r"^[a-z0-9][a-z0-9_-]{0,31}$")
RESERVED_ACCOUNT_IDS = frozenset({"desk"})
"""Names no account may have: `desk` is the hash tag of the desk-wide trading state
(`libs.common.topology.DESK`), which an account's keys would collide with."""
DEFAULT_VENUE = VenueId("bybit")
"""The venue of everything written before venues existed, and of a desk that trades one."""
VENUES: tuple[VenueId, ...] = (DEFAULT_VENUE, VenueId("binance-usdm"))
"""The venues an order may name: Bybit V5 linear and Binance USDⓈ-M futures."""
AUTO_VENUE = "auto"
"""What an order names to let the smart order router choose its venue(s) at the gateway."""
DEFAULT_ACCOUNT = AccountId("default")
"""The account of everything written before accounts existed, and of a desk that has one."""


def parse_client_order_id(value: str) -> ClientOrderId:
    """Return `value` as a ClientOrderId, or raise if Bybit would refuse it as orderLinkId."""
    if not _CLIENT_ORDER_ID_RE.fullmatch(value):
        raise InvalidIdentifier(
            f"clientOrderId {value!r} is invalid: expected 1-{CLIENT_ORDER_ID_MAX_LEN} "
            "characters of [A-Za-z0-9_-]"
        )
    return ClientOrderId(value)


def new_client_order_id(prefix: str = "mmx") -> ClientOrderId:
    """Make a fresh client order id: `prefix-` plus random hex, at most 36 characters."""
    room = CLIENT_ORDER_ID_MAX_LEN - len(prefix) - 1
    if room < 12:
        raise InvalidIdentifier(f"prefix {prefix!r} is too long: expected at most 23 characters")
    return parse_client_order_id(f"{prefix}-{uuid.uuid4().hex[:room]}")


def parse_symbol(value: str) -> Symbol:
    """Return `value` as a Symbol, or raise if it is not an upper-case venue symbol."""
    if not _SYMBOL_RE.fullmatch(value):
        raise InvalidIdentifier(
            f"symbol {value!r} is invalid: expected 2-30 upper-case letters or digits, e.g. BTCUSDT"
        )
    return Symbol(value)


def parse_account_id(value: str) -> AccountId:
    """Return `value` as an AccountId, or raise if it is not 1-32 lower-case letters, digits,
    `_` or `-` (starting with a letter or digit), or is reserved (`RESERVED_ACCOUNT_IDS`): it
    appears in Redis keys, secret names and metric labels."""
    if not _ACCOUNT_RE.fullmatch(value):
        raise InvalidIdentifier(
            f"account {value!r} is invalid: expected 1-32 characters of [a-z0-9_-] starting "
            "with a letter or digit, e.g. default"
        )
    if value in RESERVED_ACCOUNT_IDS:
        raise InvalidIdentifier(
            f"account {value!r} is reserved (the desk-wide state's keys): choose another name"
        )
    return AccountId(value)


def parse_venue_id(value: str) -> VenueId:
    """Return `value` as a VenueId, or raise if it is not one of `VENUES`."""
    if value not in VENUES:
        raise InvalidIdentifier(f"venue {value!r} is unknown: expected one of {', '.join(VENUES)}")
    return VenueId(value)


def new_event_id() -> EventId:
    """A random 128-bit id as 32 hex digits (what `uuid4().hex` gives, without the uuid object)."""
    return EventId(os.urandom(16).hex())
