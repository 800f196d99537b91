"""The pure half of `libs.common.api_keys`: key format, hashing, roles, records from a secret."""

from __future__ import annotations

import hashlib
import json
import re

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from libs.common.api_keys import (
    ApiKeyRecord,
    InvalidApiKey,
    InvalidKeyRecords,
    PresentedKey,
    Role,
    hash_secret,
    issue_key,
    parse_bound_accounts,
    parse_key,
    records_from_secret,
)


def record_for(key: str, role: Role = Role.TRADER, name: str = "alice") -> ApiKeyRecord:
    presented = parse_key(key)
    return ApiKeyRecord(
        key_id=presented.key_id,
        key_hash=hash_secret(presented.secret),
        role=role,
        name=name,
        created_ns=1,
    )


def test_issued_keys_have_the_documented_format_and_are_all_different() -> None:
    keys = [issue_key() for _ in range(200)]

    assert all(re.fullmatch(r"mmx_[0-9a-f]{12}_[A-Za-z0-9_-]{43}", k.key) for k in keys)
    assert len({k.key for k in keys}) == len({k.key_id for k in keys}) == 200


def test_a_key_parses_back_into_its_id_and_secret() -> None:
    issued = issue_key()

    assert parse_key(issued.key) == PresentedKey(issued.key_id, issued.secret)
    assert parse_key(f"  {issued.key}\n") == PresentedKey(issued.key_id, issued.secret)


def test_issued_and_presented_keys_never_show_the_secret_in_repr() -> None:
    issued = issue_key()

    shown = repr(issued) + str(issued) + repr(parse_key(issued.key))

    assert issued.secret not in shown
    assert issued.key_id in shown


@pytest.mark.parametrize(
    "value",
    [
        "",
        "hunter2-password",
        "Bearer mmx_0123456789ab_" + "a" * 43,
        "mmx_0123456789ab",
        "mmx_0123456789ab_short",
        "mmx_ABCDEF012345_" + "a" * 43,
        "xyz_0123456789ab_" + "a" * 43,
        "mmx_0123456789ab_" + "a" * 42 + "!",
    ],
)
def test_text_that_is_not_a_key_is_refused_without_being_echoed(value: str) -> None:
    with pytest.raises(InvalidApiKey) as refused:
        parse_key(value)

    message = str(refused.value)
    assert f"({len(value)} characters were sent)" in message
    assert "expected 'mmx_<id>_<secret>'" in message
    assert not value or value not in message


@settings(deadline=None)
@given(st.text(max_size=200))
def test_a_refused_text_is_described_only_by_its_length(value: str) -> None:
    try:
        parse_key(value)
    except InvalidApiKey as refused:
        assert str(refused) == (
            f"not an mmx API key ({len(value)} characters were sent): expected "
            "'mmx_<id>_<secret>' as issued by `mmx keys create`"
        )


def test_only_the_sha256_of_the_secret_is_kept() -> None:
    issued = issue_key()

    record = ApiKeyRecord.issue(issued, Role.VIEWER, "grafana", now_ns=5)

    assert record.key_hash == hashlib.sha256(issued.secret.encode()).hexdigest()
    assert issued.secret not in record.model_dump_json()
    assert issued.key not in repr(record)


def test_a_record_accepts_its_own_key_only() -> None:
    issued, other = issue_key(), issue_key()
    record = record_for(issued.key)
    same_id_wrong_secret = PresentedKey(issued.key_id, other.secret)

    assert record.accepts(parse_key(issued.key))
    assert not record.accepts(same_id_wrong_secret)
    assert not record.accepts(PresentedKey(other.key_id, issued.secret))


def test_a_revoked_record_accepts_nothing() -> None:
    issued = issue_key()
    record = record_for(issued.key).model_copy(update={"key_hash": "", "revoked_ns": 9})

    assert record.revoked
    assert not record.accepts(parse_key(issued.key))


def test_the_actor_names_the_holder_and_the_key_id_not_the_key() -> None:
    issued = issue_key()

    actor = record_for(issued.key, name="alice").actor

    assert actor == f"alice [{issued.key_id}]"


@pytest.mark.parametrize(
    ("role", "granted"),
    [
        (Role.VIEWER, {Role.VIEWER}),
        (Role.TRADER, {Role.VIEWER, Role.TRADER}),
        (Role.OPERATOR, {Role.VIEWER, Role.TRADER, Role.OPERATOR}),
    ],
)
def test_roles_nest_operator_over_trader_over_viewer(role: Role, granted: set[Role]) -> None:
    assert {needed for needed in Role if role.grants(needed)} == granted


@pytest.mark.parametrize("name", ["", "has space", "x" * 65, "-leading-dash", "semi;colon"])
def test_a_record_refuses_a_name_the_audit_trail_cannot_show(name: str) -> None:
    with pytest.raises(ValueError, match="name"):
        ApiKeyRecord.issue(issue_key(), Role.VIEWER, name, now_ns=1)


def test_records_from_a_secret_list_are_marked_as_from_the_secret() -> None:
    a, b = issue_key(), issue_key()
    value = json.dumps(
        [
            {"id": a.key_id, "hash": hash_secret(a.secret), "role": "trader", "name": "strat-1"},
            {"id": b.key_id, "hash": hash_secret(b.secret), "role": "viewer", "name": "grafana"},
        ]
    )

    records = records_from_secret(value)

    assert [(r.key_id, r.role, r.name, r.source) for r in records] == [
        (a.key_id, Role.TRADER, "strat-1", "secret"),
        (b.key_id, Role.VIEWER, "grafana", "secret"),
    ]
    assert records[0].accepts(parse_key(a.key))


def test_records_from_a_secret_object_with_a_keys_list() -> None:
    a = issue_key()
    entry = {"id": a.key_id, "hash": hash_secret(a.secret), "role": "operator", "name": "ops"}

    (record,) = records_from_secret({"keys": [entry]})

    assert record.role is Role.OPERATOR


@pytest.mark.parametrize(
    ("value", "problem"),
    [
        ("not json", "the secret is not JSON"),
        ({"other": []}, "expected a JSON list"),
        ('{"id": 1}', "expected a JSON list"),
        ("[1]", "entry 0: expected an object"),
        ('[{"id": "0123456789ab", "hash": "", "role": "viewer", "name": "a"}]', "hash is empty"),
        ('[{"id": "0123456789ab", "hash": "zz", "role": "viewer", "name": "a"}]', "0: hash: "),
        ('[{"id": "0123456789ab", "role": "admin", "name": "a"}]', "entry 0: hash: "),
        ('[{"id": "NOPE", "hash": "' + "a" * 64 + '", "role": "viewer", "name": "a"}]', "0: id: "),
    ],
)
def test_a_malformed_key_list_is_refused_naming_the_entry(
    value: dict[str, object] | str, problem: str
) -> None:
    with pytest.raises(InvalidKeyRecords, match=re.escape(problem)):
        records_from_secret(value)


def test_an_id_listed_twice_is_refused() -> None:
    a = issue_key()
    entry = {"id": a.key_id, "hash": hash_secret(a.secret), "role": "viewer", "name": "x"}

    with pytest.raises(InvalidKeyRecords, match=f"id {a.key_id} is listed twice"):
        records_from_secret(json.dumps([entry, entry]))


def test_a_role_outside_the_three_is_refused() -> None:
    a = issue_key()
    entry = {"id": a.key_id, "hash": hash_secret(a.secret), "role": "admin", "name": "x"}

    with pytest.raises(InvalidKeyRecords, match="entry 0: role"):
        records_from_secret(json.dumps([entry]))


def test_a_key_is_bound_to_the_default_account_unless_told_otherwise() -> None:
    issued = issue_key()
    assert ApiKeyRecord.issue(issued, Role.TRADER, "a", now_ns=1).accounts == ("default",)
    bound = ApiKeyRecord.issue(issued, Role.TRADER, "a", now_ns=1, accounts=("beta", "alpha"))
    assert bound.accounts == ("alpha", "beta")


@pytest.mark.parametrize(
    ("value", "expected"),
    [("alpha, beta", ("alpha", "beta")), ("*", ("*",)), (["default"], ("default",))],
)
def test_bound_accounts_parse_from_text_or_a_list(value: object, expected: tuple[str, ...]) -> None:
    assert parse_bound_accounts(value) == expected


@pytest.mark.parametrize(
    ("value", "message"),
    [("", "no account"), ("*,alpha", "alone"), ("Alpha", "is invalid")],
)
def test_bad_bound_accounts_are_refused_saying_why(value: str, message: str) -> None:
    with pytest.raises(ValueError, match=message):
        parse_bound_accounts(value)


def test_a_secret_entry_without_accounts_is_bound_to_default() -> None:
    entry = {"id": "abcdef012345", "hash": "0" * 64, "role": "viewer", "name": "grafana"}
    (record,) = records_from_secret({"keys": [entry]})
    assert record.accounts == ("default",)
