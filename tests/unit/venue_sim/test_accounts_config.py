"""Accounts from the settings (one per key pair, or grouped by UID), per-account rate limits,
and the state file of every account, including one written before there were several."""

from __future__ import annotations

import random
from decimal import Decimal
from pathlib import Path

import pytest
from pydantic import ValidationError

from libs.common.domain.enums import Category, VenueOrderStatus
from services.venue_sim import persist
from services.venue_sim.auth import Authenticator
from services.venue_sim.engine import Exchange, SimError, SimOrder
from services.venue_sim.ratelimit import Limits, RateLimiter
from services.venue_sim.settings import ApiKey, SimSettings

from .helpers import FakeClock, limit, make_exchange, market

A, B = "100100100", "100100101"
OLD_STATE = Path(__file__).parent / "data" / "state_v1.json"
"""A state file the single-account simulator wrote (format 1): orders v1-bid (open, linear),
v1-taker (filled: a 0.003 BTCUSDT long), v1-spot (open), and a funding settlement."""


def linked(ex: Exchange, uid: str, link: str) -> SimOrder:
    """The account's linear order with orderLinkId `link`."""
    found = ex.ledger(uid).find(Category.LINEAR, "", link)
    assert found is not None, f"{uid} has no order {link!r}"
    return found


def settings(monkeypatch: pytest.MonkeyPatch, keys: str) -> SimSettings:
    monkeypatch.setenv("MMX_SIM_KEYS", keys)
    return SimSettings()


def test_each_key_pair_gets_the_uid_of_its_position_the_first_keeps_100100100(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    parsed = settings(monkeypatch, "a:sa, b:sb, c:sc")
    assert [(k.key, k.uid) for k in parsed.keys] == [
        ("a", "100100100"),
        ("b", "100100101"),
        ("c", "100100102"),
    ]
    assert parsed.uids() == ["100100100", "100100101", "100100102"]


def test_a_third_field_puts_several_keys_on_one_account(monkeypatch: pytest.MonkeyPatch) -> None:
    parsed = settings(monkeypatch, "a:sa:100100100,b:sb:100100100,c:sc,d:sd:0777")
    assert parsed.keys == (
        ApiKey("a", "sa", "100100100"),
        ApiKey("b", "sb", "100100100"),
        ApiKey("c", "sc", "100100102"),
        ApiKey("d", "sd", "777"),
    )
    assert parsed.uids() == ["100100100", "100100102", "777"]


@pytest.mark.parametrize(
    ("keys", "message"),
    [
        ("a:sa:abc", "the UID of key 'a' must be a positive number"),
        ("a:sa:0", "the UID of key 'a' must be a positive number"),
        ("a:sa,a:other", "key 'a' is listed twice"),
        ("a:sa:1:2", "expected 'key:secret' or 'key:secret:uid' items, was 'a:sa:1:2'"),
        ("a::1", "expected 'key:secret' or 'key:secret:uid' items"),
    ],
)
def test_malformed_accounts_are_refused_saying_what_was_expected(
    monkeypatch: pytest.MonkeyPatch, keys: str, message: str
) -> None:
    with pytest.raises(ValidationError, match=message):
        settings(monkeypatch, keys)


def test_the_authenticator_names_the_account_of_each_key() -> None:
    auth = Authenticator({"a": "1", "b": "2", "c": "3"}, {"a": A, "b": B, "c": A})
    assert [auth.uid_of(k) for k in "abc"] == [A, B, A]
    assert auth.keys_of(A) == ["a", "c"]
    assert Authenticator({"x": "1"}).uid_of("x") == A  # no UIDs: the first account


def test_the_order_limit_is_counted_per_account() -> None:
    limiter = RateLimiter(Limits(2, 2, 5, 1, 100, 60))
    now = 1_700_000_000_000
    assert [limiter.take("trade", "linear", now, uid=A).granted for _ in range(3)] == [1, 1, 0]
    other = limiter.take("trade", "linear", now, uid=B)
    assert (other.granted, other.remaining) == (1, 1)


def _roundtrip(ex: Exchange, clock: FakeClock, tmp_path: Path) -> Exchange:
    path = tmp_path / "state.json"
    persist.write(path, persist.snapshot(ex, random.Random(1), saved_ms=clock.now))
    data = persist.read(path)
    assert data is not None and data["version"] == 2
    restored = make_exchange(clock, uids=(A, B))
    persist.restore(restored, random.Random(1), data)
    return restored


def test_every_account_survives_the_state_file(clock: FakeClock, tmp_path: Path) -> None:
    ex = make_exchange(clock, uids=(A, B))
    limit(ex, "Buy", "0.010", "59000", uid=A, orderLinkId="same")
    limit(ex, "Buy", "0.010", "59000", uid=B, orderLinkId="same")
    market(ex, "Sell", "0.005", uid=B)

    restored = _roundtrip(ex, clock, tmp_path)

    for uid in (A, B):
        before, after = ex.ledger(uid), restored.ledger(uid)
        assert after.account.balances == before.account.balances
        assert after.account.positions == before.account.positions
        assert after.executions == before.executions
        assert list(after.open_orders) == list(before.open_orders)
        assert linked(restored, uid, "same").uid == uid
    restored.public_trade(Category.LINEAR, "BTCUSDT", Decimal("59000"), Decimal("0.010"))
    assert linked(restored, A, "same").status is VenueOrderStatus.FILLED


def test_a_state_file_naming_an_account_no_key_trades_is_refused(
    clock: FakeClock, tmp_path: Path
) -> None:
    ex = make_exchange(clock, uids=(A, B))
    data = persist.snapshot(ex, random.Random(1), saved_ms=clock.now)
    with pytest.raises(persist.PersistError, match="UID 100100101, which no key"):
        persist.restore(make_exchange(clock), random.Random(1), data)


@pytest.mark.parametrize("first", [A, "555"])
def test_a_state_file_of_the_single_account_simulator_loads_as_the_first_account(
    clock: FakeClock, first: str
) -> None:
    data = persist.read(OLD_STATE)
    assert data is not None and data["version"] == 1 and "account" in data
    ex = make_exchange(clock, uids=(first, "999"))

    persist.restore(ex, random.Random(), data)

    ledger = ex.ledger(first)
    assert sorted(o.link_id for o in ledger.open_orders.values()) == ["v1-bid", "v1-spot"]
    assert {o.uid for o in ex.orders.values()} == {first}
    assert ledger.account.position("BTCUSDT").size == Decimal("0.003")
    assert [e.exec_type for e in ledger.executions[Category.LINEAR]] == ["Trade", "Funding"]
    assert ledger.account.balances["USDT"] < Decimal(100_000)
    assert ex.ledger("999").orders == {} and ex.ledger("999").account.balances["USDT"] == 100_000
    # the old account trades on: its orderLinkIds are still taken, its orders still fill
    with pytest.raises(SimError, match="OrderLinkedID is duplicate"):
        limit(ex, "Buy", "0.010", "59000", uid=first, orderLinkId="v1-bid")
    ex.set_mid(Category.LINEAR, "BTCUSDT", Decimal("59000.1"))  # bid 59000.0: at v1-bid's price
    limit(ex, "Sell", "0.010", "59000", uid="999")
    assert ex.ledger("999").executions[Category.LINEAR][0].is_maker is False
    assert linked(ex, first, "v1-bid").status is VenueOrderStatus.FILLED
    assert "1 account(s)" in persist.summary(data)
