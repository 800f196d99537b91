"""`VenueClient`: the lifecycle and clock both venue adapters share.

`VenueQueries` (Bybit) and `BinanceQueries` extend it with their read-only calls; the
venues (`BybitVenue`, `BinanceVenue`) add the outcome policy on top.
"""

from __future__ import annotations

from typing import Any, Generic, Protocol, TypeVar

from pydantic import SecretStr

from libs.common.venue.config import AdapterSettings
from libs.common.venue.http import HttpClientBase
from libs.common.venue.lifecycle import AsyncLifecycle

C = TypeVar("C", bound=AdapterSettings)
R = TypeVar("R", bound=HttpClientBase[Any])


class KeyPair(Protocol):
    """An API key pair (`libs.common.venue.credentials.Credentials` is one)."""

    @property
    def api_key(self) -> str: ...

    @property
    def api_secret(self) -> SecretStr: ...


class VenueClient(AsyncLifecycle, Generic[C, R]):
    """A venue's settings (`config`) and REST transport (`rest`, one keep-alive pool).

    `async with venue:` opens the pool and syncs the clock; `close` ends every connection.
    """

    def __init__(self, config: C, rest: R) -> None:
        self.config = config
        self.rest = rest

    async def start(self) -> None:
        """Open the connection pool and sync the clock with the venue's time endpoint."""
        await self.rest.start()

    async def close(self) -> None:
        await self.rest.close()

    def use_credentials(self, creds: KeyPair) -> None:
        """Sign every later request (REST and the next private-stream login) with `creds`;
        the connection pool and the clock offset stay. What the router's CredentialKeeper
        does to a live venue (`libs.common.venue.credentials.use_credentials`)."""
        config = self.config.model_copy(
            update={"api_key": creds.api_key, "api_secret": creds.api_secret}
        )
        self.config = config
        self.rest.config = config

    def venue_ms(self, local_ns: int) -> int:
        """A local wall-clock time (ns) as the venue's clock reads it, epoch ms (no I/O)."""
        return local_ns // 1_000_000 + self.rest.clock.offset_ms

    async def server_time_ms(self) -> int:
        """The venue's clock in epoch ms (also refreshes the local offset)."""
        await self.rest.sync_clock()
        return self.rest.clock.now_ms()
