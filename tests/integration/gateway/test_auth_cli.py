"""`mmx keys create | list | revoke` against real Redis, and the operator verbs sending the
key they were given to a live gateway that requires one."""

from __future__ import annotations

import argparse
import asyncio
import json
from collections.abc import Iterator

import pytest
import redis as sync_redis
import redis.asyncio as aioredis

from libs.common import topology
from libs.common.api_keys import OperatorAction, parse_key, records_from_secret
from libs.common.topology import API_KEYS_KEY
from services import keys_cli
from services.operator import KEY_ENV, register
from tests.integration.gateway.conftest import LiveGateway, gateway_settings, messages

pytestmark = pytest.mark.integration


@pytest.fixture
def guarded_gateway(
    redis: aioredis.Redis, redis_url: str, monkeypatch: pytest.MonkeyPatch
) -> Iterator[LiveGateway]:
    monkeypatch.setenv("REDIS_URL", redis_url)
    monkeypatch.delenv(KEY_ENV, raising=False)
    server = LiveGateway(gateway_settings(redis_url, auth="required")).start()
    try:
        yield server
    finally:
        server.stop()


def mmx(*argv: str) -> int:
    parser = argparse.ArgumentParser(prog="mmx")
    commands = parser.add_subparsers(dest="command", required=True)
    register(commands)
    keys_cli.register(commands)
    args = parser.parse_args(argv)
    code: int = args.func(args)
    return code


def create_key(capsys: pytest.CaptureFixture[str], role: str, name: str) -> str:
    assert mmx("keys", "create", "--role", role, "--name", name) == 0
    out = capsys.readouterr().out
    (key,) = out.splitlines()
    return key


def raw_redis(redis_url: str) -> bytes:
    """Every key and value of the db, as bytes (synchronously, outside the test's loop)."""
    with sync_redis.Redis.from_url(redis_url) as client:
        dump = b""
        for key in client.scan_iter():
            kind = client.type(key)
            if kind == b"hash":
                dump += key + b"".join(k + v for k, v in client.hgetall(key).items())
            elif kind == b"set":
                dump += key + b"".join(client.smembers(key))
            elif kind == b"stream":
                entries = client.xrange(key)
                dump += key + b"".join(v for _, fields in entries for v in fields.values())
            else:
                dump += key
        return dump


def test_create_prints_the_key_once_and_redis_keeps_only_its_hash(
    guarded_gateway: LiveGateway, redis_url: str, capsys: pytest.CaptureFixture[str]
) -> None:
    assert mmx("keys", "create", "--role", "operator", "--name", "alice") == 0
    out, err = capsys.readouterr()

    (key,) = out.splitlines()
    presented = parse_key(key)
    assert f"API key alice [{presented.key_id}], role operator" in err
    assert "shown this once" in err
    stored = raw_redis(redis_url)
    assert presented.secret.encode() not in stored
    assert presented.key_id.encode() in stored
    assert API_KEYS_KEY.encode() in stored


def test_the_operator_verbs_send_the_key_and_the_audit_names_its_holder(
    guarded_gateway: LiveGateway,
    capsys: pytest.CaptureFixture[str],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    key = create_key(capsys, "operator", "alice")
    monkeypatch.setenv(KEY_ENV, key)

    frozen = mmx("freeze", "--url", guarded_gateway.url, "--reason", "drill")
    status = mmx("status", "--url", guarded_gateway.url)
    out = capsys.readouterr().out

    assert (frozen, status) == (0, 0)
    assert f"by alice [{parse_key(key).key_id}]: manual: drill" in out


def test_an_operator_verb_without_a_key_is_refused_and_says_how_to_send_one(
    guarded_gateway: LiveGateway, capsys: pytest.CaptureFixture[str]
) -> None:
    code = mmx("status", "--url", guarded_gateway.url)
    err = capsys.readouterr().err

    assert code == 1
    assert "gateway answered 401: an API key is required" in err
    assert f"set {KEY_ENV} (or pass --api-key)" in err


def test_a_viewer_key_reads_but_cannot_freeze(
    guarded_gateway: LiveGateway, capsys: pytest.CaptureFixture[str]
) -> None:
    key = create_key(capsys, "viewer", "grafana")

    read = mmx("orders", "--url", guarded_gateway.url, "--api-key", key)
    freeze = mmx("freeze", "--url", guarded_gateway.url, "--api-key", key, "--reason", "x")
    err = capsys.readouterr().err

    assert (read, freeze) == (0, 1)
    assert "gateway answered 403: forbidden: the key of grafana" in err
    assert "POST /v1/risk/freeze needs operator" in err


def test_list_shows_every_key_without_hashes_and_revoke_refuses_it_from_then_on(
    guarded_gateway: LiveGateway,
    redis: aioredis.Redis,
    redis_url: str,
    capsys: pytest.CaptureFixture[str],
) -> None:
    key = create_key(capsys, "trader", "strat-1")
    key_id = parse_key(key).key_id

    revoked = mmx("keys", "revoke", key_id, "--reason", "left the desk")
    revoke_out = capsys.readouterr().out
    listed = mmx("keys", "list")
    list_out = capsys.readouterr().out
    after = mmx("orders", "--url", guarded_gateway.url, "--api-key", key)
    after_err = capsys.readouterr().err

    assert (revoked, listed, after) == (0, 0, 1)
    assert f"revoked strat-1 [{key_id}] (trader)" in revoke_out
    (row,) = [line for line in list_out.splitlines() if key_id in line]
    assert row.split()[:3] == [key_id, "strat-1", "trader"]
    assert row.count("UTC") == 2
    assert parse_key(key).secret not in list_out
    assert "this API key was revoked" in after_err
    audit = raw_redis(redis_url)
    assert b"api_key_created" in audit and b"left the desk" in audit


async def audit_actions(client: aioredis.Redis) -> list[OperatorAction]:
    found = await messages(client, topology.AUDIT)
    return [m for m in found if isinstance(m, OperatorAction)]


async def test_create_and_revoke_are_audited_under_the_login_name(
    redis: aioredis.Redis, redis_url: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("REDIS_URL", redis_url)
    monkeypatch.setattr(keys_cli, "_actor", lambda: "bob@desk (mmx keys)")
    # keys_cli runs its own event loop: run it in a thread, outside this test's loop.
    await asyncio.to_thread(mmx, "keys", "create", "--role", "viewer", "--name", "grafana")
    (created,) = await audit_actions(redis)
    await asyncio.to_thread(mmx, "keys", "revoke", created.details["keyId"], "--reason", "rotated")

    created, revoked = await audit_actions(redis)
    assert (created.action, created.actor, created.details["role"]) == (
        "api_key_created",
        "bob@desk (mmx keys)",
        "viewer",
    )
    assert (revoked.action, revoked.reason) == ("api_key_revoked", "rotated")
    assert revoked.details == created.details


def test_secret_record_prints_an_entry_for_the_secret_and_stores_nothing(
    redis: aioredis.Redis,
    redis_url: str,
    capsys: pytest.CaptureFixture[str],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv("REDIS_URL", redis_url)

    code = mmx("keys", "create", "--role", "trader", "--name", "s1", "--secret-record")
    key, entry = capsys.readouterr().out.splitlines()

    assert code == 0
    (record,) = records_from_secret(json.dumps([json.loads(entry)]))
    assert (record.name, record.role, record.source) == ("s1", "trader", "secret")
    assert record.accepts(parse_key(key))
    assert raw_redis(redis_url) == b""


def test_revoking_an_unknown_id_is_refused_unless_a_tombstone_is_asked_for(
    redis: aioredis.Redis,
    redis_url: str,
    capsys: pytest.CaptureFixture[str],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv("REDIS_URL", redis_url)

    unknown = mmx("keys", "revoke", "0123456789ab")
    err = capsys.readouterr().err
    tomb = mmx("keys", "revoke", "0123456789ab", "--tombstone")
    out = capsys.readouterr().out
    garbage = mmx("keys", "revoke", "mmx_0123456789ab_NOTANID")

    assert (unknown, tomb, garbage) == (1, 0, 1)
    assert "no key with id 0123456789ab in Redis" in err
    assert "revoked tombstone [0123456789ab]" in out
    assert "NOTANID" not in capsys.readouterr().err


def test_an_unreachable_redis_exits_2(
    capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("REDIS_URL", "redis://127.0.0.1:1/0")

    code = mmx("keys", "list")

    assert code == 2
    assert "Redis unreachable" in capsys.readouterr().err
