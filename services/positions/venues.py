"""Each account's venue, signed with that account's own key pair, read once at start.

The pair comes from where libs.common.venue.credentials says: with `MMX_SECRETS_ENV`, the
secret `{env}/bybit/api` (another account's: `api-{account}`), read as
`positions:{instance}`; without it, `MMX_API_KEY` / `MMX_API_SECRET` (`settings.venue`) for
`default` and `MMX_API_KEY_{ACCOUNT}` / `MMX_API_SECRET_{ACCOUNT}` for another. A configured
account without a pair stops the start: its positions could never be reconciled.
"""

from __future__ import annotations

import logging

from libs.common.domain.ids import DEFAULT_ACCOUNT, AccountId
from libs.common.venue import VenueConfig
from libs.common.venue.credentials import credential_source, with_credentials
from services.positions.settings import PositionsSettings

log = logging.getLogger(__name__)


class MissingCredentials(RuntimeError):
    """A configured account has no venue key pair (or it could not be read)."""

    def __init__(self, account: AccountId, detail: str) -> None:
        super().__init__(f"positions cannot reconcile account {account!r} (MMX_ACCOUNTS): {detail}")
        self.account = account


async def account_venue(settings: PositionsSettings, account: AccountId) -> VenueConfig:
    """`settings.venue` signing with `account`'s key pair.

    Raises
    ------
    MissingCredentials
        If the pair is not set (naming the variables or the secret expected), or its secret
        could not be read.
    """
    if not settings.secrets_env and account == DEFAULT_ACCOUNT:
        # as the router: the default account's pair is the venue's own (MMX_API_KEY)
        if settings.venue.key is None or settings.venue.secret is None:
            raise MissingCredentials(
                account, "no venue API key: expected MMX_API_KEY and MMX_API_SECRET"
            )
        return settings.venue
    source = credential_source(settings, f"positions:{settings.instance}", account)
    try:
        creds = await source.read()
    except Exception as error:  # the variables unset, the secret missing or unreadable
        raise MissingCredentials(account, str(error)) from error
    finally:
        source.close()
    log.info("positions: venue credentials of account %s %r", account, creds)
    return with_credentials(settings.venue, creds)


async def account_venues(settings: PositionsSettings) -> dict[AccountId, VenueConfig]:
    """Every configured account's venue (`account_venue`), in `MMX_ACCOUNTS` order."""
    return {account: await account_venue(settings, account) for account in settings.accounts}
