"""CredentialKeeper on its own: which refusals refresh, which freeze, which are stale."""

from __future__ import annotations

import asyncio
import time

from pydantic import SecretStr

from libs.common.secrets import SecretNotFound
from libs.common.venue import AuthenticationFailed, BybitVenue, VenueConfig, VenueUnavailable
from services.router.credentials import MAX_DETAIL, CredentialKeeper, Credentials, Refusal

OLD = Credentials("old-key-000000001", SecretStr("old-secret"), "test")
NEW = Credentials("new-key-000000002", SecretStr("new-secret"), "test version 2")


class FakeSource:
    """Hands out `results` in turn, one per refresh; an exception is raised."""

    def __init__(self, *results: Credentials | Exception) -> None:
        self.results = list(results)
        self.refreshes = 0

    async def read(self) -> Credentials:
        return OLD

    async def refresh(self) -> Credentials:
        self.refreshes += 1
        result = self.results.pop(0)
        if isinstance(result, Exception):
            raise result
        return result

    def close(self) -> None:
        return None


class Verify:
    """The signed read that retries the refreshed credentials once."""

    def __init__(self, error: Exception | None = None) -> None:
        self.error = error
        self.calls = 0

    async def __call__(self) -> None:
        self.calls += 1
        if self.error is not None:
            raise self.error


def keeper_of(
    source: FakeSource, verify: Verify, *, cooldown_s: float = 60.0
) -> tuple[CredentialKeeper, BybitVenue]:
    adapter = BybitVenue(VenueConfig(venue="sim", api_key=OLD.api_key, api_secret=OLD.api_secret))
    keeper = CredentialKeeper(
        adapter, source, verify=verify, on_failure=lambda _: None, cooldown_s=cooldown_s
    )
    return keeper, adapter


def refused_now(detail: str = "/v5/order/create: 10003") -> Refusal:
    return Refusal(detail, signed_at=time.perf_counter())


async def test_a_refusal_refreshes_swaps_the_adapter_and_verifies_once() -> None:
    source, verify = FakeSource(NEW), Verify()
    keeper, adapter = keeper_of(source, verify)

    failure = await keeper.handle(refused_now())

    assert failure is None
    assert (source.refreshes, verify.calls, keeper.refreshes) == (1, 1, 1)
    assert adapter.config.key == adapter.rest.config.key == NEW.api_key
    assert adapter.rest.config.secret == "new-secret"


async def test_refusals_of_requests_signed_before_the_swap_are_ignored() -> None:
    source, verify = FakeSource(NEW), Verify()
    keeper, _ = keeper_of(source, verify)
    in_flight = [refused_now(f"create #{i}") for i in range(5)]

    failures = [await keeper.handle(refusal) for refusal in in_flight]

    assert failures == [None] * 5
    assert source.refreshes == 1


async def test_refreshed_credentials_refused_too_freeze_and_are_not_refreshed_again() -> None:
    refused = AuthenticationFailed("venue refused the credentials (retCode 10003)")
    source, verify = FakeSource(NEW, NEW), Verify(refused)
    keeper, _ = keeper_of(source, verify)

    first = await keeper.handle(refused_now("create: 10003"))
    again = await keeper.handle(refused_now("create: 10003 again"))

    assert first == (
        "create: 10003; refreshed credentials (test version 2) refused too: "
        "venue refused the credentials (retCode 10003)"
    )
    assert again is not None
    assert again.startswith("create: 10003 again; still refused 0 s after a credential refresh")
    assert source.refreshes == 1


async def test_after_the_cooldown_a_new_refusal_refreshes_once_more() -> None:
    newer = Credentials("newer-key-0000003", SecretStr("newer"), "test version 3")
    source, verify = FakeSource(NEW, newer), Verify()
    keeper, adapter = keeper_of(source, verify, cooldown_s=0.0)

    first = await keeper.handle(refused_now())
    later = await keeper.handle(refused_now("create: 10003 weeks later"))

    assert (first, later) == (None, None)
    assert source.refreshes == 2
    assert adapter.config.key == newer.api_key


async def test_a_failed_refresh_freezes_and_keeps_the_old_credentials() -> None:
    missing = SecretNotFound("staging/bybit/api", "secret 'staging/bybit/api' was not found")
    source, verify = FakeSource(missing), Verify()
    keeper, adapter = keeper_of(source, verify)

    failure = await keeper.handle(refused_now("create: 10003"))

    assert failure == (
        "create: 10003; refreshing the credentials failed: secret 'staging/bybit/api' was not found"
    )
    assert (verify.calls, adapter.config.key) == (0, OLD.api_key)


async def test_a_venue_that_cannot_answer_the_check_does_not_freeze() -> None:
    source, verify = FakeSource(NEW), Verify(VenueUnavailable("/v5/order/realtime", "HTTP 503"))
    keeper, adapter = keeper_of(source, verify)

    failure = await keeper.handle(refused_now())

    assert failure is None
    assert adapter.config.key == NEW.api_key


async def test_a_long_failure_is_cut_to_fit_the_freeze_reason() -> None:
    source, verify = FakeSource(RuntimeError("x" * 1000)), Verify()
    keeper, _ = keeper_of(source, verify)

    failure = await keeper.handle(refused_now())

    assert failure is not None and len(failure) == MAX_DETAIL


async def test_the_running_keeper_reports_what_it_cannot_cure() -> None:
    reported: list[str] = []
    adapter = BybitVenue(VenueConfig(venue="sim"))
    keeper = CredentialKeeper(
        adapter,
        FakeSource(AuthenticationFailed("no venue API key")),
        verify=Verify(),
        on_failure=reported.append,
        cooldown_s=60.0,
    )
    await keeper.start()
    try:
        keeper.refused("/v5/order/create: 10003", signed_at=time.perf_counter())
        for _ in range(200):
            if reported:
                break
            await asyncio.sleep(0.005)
    finally:
        await keeper.stop()

    assert reported == [
        "/v5/order/create: 10003; refreshing the credentials failed: no venue API key"
    ]


def test_credentials_never_show_the_secret_and_only_four_characters_of_the_key() -> None:
    shown = repr(NEW) + str(NEW)

    assert "new-secret" not in shown
    assert "new-key-000000002" not in shown
    assert "new-…" in shown
