"""Each account's venues, signed with that account's own key pair there, read once at start.

The pair comes from where libs.common.venue.credentials says: with `MMX_SECRETS_ENV`, the
secret `{env}/{venue}/api` (another account's: `api-{account}`), read as
`positions:{instance}`; without it, `MMX_API_KEY` / `MMX_API_SECRET` (`settings.venue`) for
`default` at Bybit and `MMX_API_KEY_{ACCOUNT}` / `MMX_API_SECRET_{ACCOUNT}` for another (at
Binance: `MMX_BINANCE_API_KEY...`, `settings.binance`). A configured account without a pair
at a configured venue stops the start: its positions there could never be reconciled.
"""

from __future__ import annotations

import logging

from libs.common.domain.ids import DEFAULT_ACCOUNT, DEFAULT_VENUE, AccountId, VenueId
from libs.common.venue import BinanceConfig, VenueConfig
from libs.common.venue.credentials import credential_source, with_credentials
from services.positions.settings import PositionsSettings

log = logging.getLogger(__name__)


class MissingCredentials(RuntimeError):
    """A configured account has no venue key pair (or it could not be read)."""

    def __init__(self, account: AccountId, detail: str) -> None:
        super().__init__(f"positions cannot reconcile account {account!r} (MMX_ACCOUNTS): {detail}")
        self.account = account


async def account_venue(
    settings: PositionsSettings, account: AccountId, venue: VenueId = DEFAULT_VENUE
) -> VenueConfig | BinanceConfig:
    """`venue`'s settings (`settings.venue`, `settings.binance`) signing with `account`'s key
    pair there.

    Raises
    ------
    MissingCredentials
        If the pair is not set (naming the variables or the secret expected), or its secret
        could not be read.
    """
    config: VenueConfig | BinanceConfig = (
        settings.venue if venue == DEFAULT_VENUE else settings.binance
    )
    if not settings.secrets_env and account == DEFAULT_ACCOUNT:
        # as the router: the default account's pair is the venue's own (MMX_API_KEY)
        if config.key is None or config.secret is None:
            prefix = "MMX_" if venue == DEFAULT_VENUE else "MMX_BINANCE_"
            raise MissingCredentials(
                account, f"no {venue} API key: expected {prefix}API_KEY and {prefix}API_SECRET"
            )
        return config
    source = credential_source(settings, f"positions:{settings.instance}", account, venue)
    try:
        creds = await source.read()
    except Exception as error:  # the variables unset, the secret missing or unreadable
        raise MissingCredentials(account, str(error)) from error
    finally:
        source.close()
    log.info("positions: venue credentials of account %s at %s %r", account, venue, creds)
    return with_credentials(config, creds)


async def account_venues(
    settings: PositionsSettings,
) -> dict[tuple[AccountId, VenueId], VenueConfig | BinanceConfig]:
    """Every configured account's venues (`account_venue`), in `MMX_ACCOUNTS` then
    `MMX_VENUES` order."""
    return {
        (account, venue): await account_venue(settings, account, venue)
        for account in settings.accounts
        for venue in settings.venues
    }
