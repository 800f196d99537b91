"""The desk's accounts: which exist (`MMX_ACCOUNTS`), and one thing per account.

Every service reads the same `MMX_ACCOUNTS` (`default` when unset): a command for an account
not in it is refused where it enters (the gateway: 422) and is poison wherever a service reads
it from a stream (risk, the router, positions: dead letters), so no state is ever written for
an account nobody configured. `PerAccount` holds a service's
per-account parts (stores, venue clients), built once per account on first use.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Iterator
from typing import Annotated, Generic, TypeVar

from pydantic import BeforeValidator
from pydantic_settings import NoDecode

from libs.common.domain.errors import UnknownAccount
from libs.common.domain.ids import (
    DEFAULT_ACCOUNT,
    DEFAULT_VENUE,
    AccountId,
    VenueId,
    parse_account_id,
    parse_venue_id,
)

T = TypeVar("T", covariant=True)

MAX_ACCOUNTS = 64
"""Accounts per desk: each costs a private stream, a rate budget and metric series."""


def parse_accounts(value: object) -> tuple[AccountId, ...]:
    """`MMX_ACCOUNTS` as a tuple: comma-separated, at least one, none twice."""
    if isinstance(value, str):
        value = [part.strip() for part in value.split(",") if part.strip()]
    if not isinstance(value, list | tuple) or not value:
        raise ValueError("accounts is empty: expected at least one account, e.g. default")
    accounts = tuple(parse_account_id(str(account)) for account in value)
    if len(set(accounts)) != len(accounts):
        raise ValueError(f"accounts {', '.join(accounts)} name an account twice")
    if len(accounts) > MAX_ACCOUNTS:
        raise ValueError(f"{len(accounts)} accounts: expected at most {MAX_ACCOUNTS}")
    return accounts


AccountList = Annotated[tuple[AccountId, ...], NoDecode, BeforeValidator(parse_accounts)]
"""A settings field of accounts: comma-separated in the environment (`default,alpha`)."""
DEFAULT_ACCOUNTS: tuple[AccountId, ...] = (DEFAULT_ACCOUNT,)


def parse_venues(value: object) -> tuple[VenueId, ...]:
    """`MMX_VENUES` as a tuple: comma-separated venue names (`bybit,binance-usdm`), at least
    one, none twice."""
    if isinstance(value, str):
        value = [part.strip() for part in value.split(",") if part.strip()]
    if not isinstance(value, list | tuple) or not value:
        raise ValueError("venues is empty: expected at least one venue, e.g. bybit")
    venues = tuple(parse_venue_id(str(venue)) for venue in value)
    if len(set(venues)) != len(venues):
        raise ValueError(f"venues {', '.join(venues)} name a venue twice")
    return venues


VenueList = Annotated[tuple[VenueId, ...], NoDecode, BeforeValidator(parse_venues)]
"""A settings field of venues: comma-separated in the environment (`bybit,binance-usdm`)."""
DEFAULT_VENUES: tuple[VenueId, ...] = (DEFAULT_VENUE,)


def venue_scoped(name: str, venue: VenueId, sep: str = ":") -> str:
    """`name` (a lease, a rate bucket, a key, a lane) at `venue`: as it is for `bybit`, the
    venue of everything before venues, so that its names stay what they were;
    `{name}{sep}{venue}` for any other."""
    return name if venue == DEFAULT_VENUE else f"{name}{sep}{venue}"


def scoped_name(name: str, account: AccountId, sep: str = ":") -> str:
    """`name` (a lease, a rate bucket, a key, an instance) for `account`: as it is for
    `default`, so that the default account's names stay what they were before accounts;
    `{name}{sep}{account}` for any other."""
    return name if account == DEFAULT_ACCOUNT else f"{name}{sep}{account}"


class PerAccount(Generic[T]):
    """One `T` per configured account, built by `build(account)` on first use; an account
    that is not configured raises UnknownAccount."""

    def __init__(self, accounts: Iterable[AccountId], build: Callable[[AccountId], T]) -> None:
        self.accounts: tuple[AccountId, ...] = tuple(accounts)
        self._build = build
        self._built: dict[AccountId, T] = {}

    def __getitem__(self, account: AccountId) -> T:
        found = self._built.get(account)
        if found is None:
            if account not in self.accounts:
                raise UnknownAccount(account, self.accounts)
            found = self._built[account] = self._build(account)
        return found

    def __contains__(self, account: object) -> bool:
        return account in self.accounts

    def items(self) -> Iterator[tuple[AccountId, T]]:
        """Every account with its `T` (building those not built yet), in configured order."""
        return ((account, self[account]) for account in self.accounts)
