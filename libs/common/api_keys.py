"""Gateway API keys: format, hashing, roles, and the store of their records.

A key is `mmx_<id>_<secret>`. The id (12 hex digits) is public: it names the key in logs,
the audit trail and `mmx keys list`, and makes the lookup one read. The secret is 256 random
bits (43 URL-safe base64 characters) and is never stored: a record holds `sha256(secret)`,
compared in constant time. The key is shown once, when it is issued.

    issued = issue_key()                                     # IssuedKey; repr is masked
    record = ApiKeyRecord.issue(issued, Role.TRADER, "alice", now_ns=time.time_ns())
    await store.create(record)                               # only the hash is written
    ...
    presented = parse_key(header)                            # InvalidApiKey never echoes it
    record = await store.get(presented.key_id)
    record is not None and record.accepts(presented)

Roles nest: an operator may do what a trader may, a trader what a viewer may. A key is bound
to one or more accounts (`accounts`; `*`: every account, and the desk-wide actions): it reads
and trades those only. A record written before accounts is bound to `default`. Records live
in Redis (`api_key_key(id)`, ids in `API_KEYS_KEY`), or come from a secret listing
`{id, hash, role, name}` entries (`records_from_secret`).
"""

from __future__ import annotations

import hashlib
import hmac
import json
import re
import secrets
from dataclasses import dataclass
from enum import StrEnum
from typing import Annotated, Any, Literal, Protocol, Self

from pydantic import BaseModel, BeforeValidator, ConfigDict, Field, ValidationError
from redis.asyncio import Redis

from libs.common.domain.ids import DEFAULT_ACCOUNT, parse_account_id
from libs.common.messages import OperatorAction as OperatorAction  # re-exported
from libs.common.stores._support import LuaScript, text
from libs.common.topology import API_KEYS_KEY, api_key_key

KEY_PREFIX = "mmx"
KEY_ID_PATTERN = r"[a-z0-9]{8,32}"
NAME_PATTERN = r"[A-Za-z0-9][A-Za-z0-9_.@-]{0,63}"
_KEY = re.compile(rf"{KEY_PREFIX}_({KEY_ID_PATTERN})_([A-Za-z0-9_-]{{32,128}})")
_HASH = r"[0-9a-f]{64}"
_UNUSED_HASH = hashlib.sha256(b"").hexdigest()
"""Compared against when no record matches, so an unknown id costs the same hash work."""


class Role(StrEnum):
    """What a key may do; each role includes the ones below it."""

    VIEWER = "viewer"
    """Read orders, positions, risk, the live stream."""
    TRADER = "trader"
    """Also place, amend and cancel orders, report edge, simulate."""
    OPERATOR = "operator"
    """Also freeze, unfreeze, set limits, cancel every order of a symbol."""

    def grants(self, needed: Role) -> bool:
        """True when a key with this role may do what `needed` may."""
        return _RANK[self] >= _RANK[needed]


_RANK = {Role.VIEWER: 0, Role.TRADER: 1, Role.OPERATOR: 2}


ALL_ACCOUNTS = "*"
"""A key bound to every account (and allowed the desk-wide actions)."""


def parse_bound_accounts(value: object) -> tuple[str, ...]:
    """The accounts a key is bound to: a list or a comma-separated text of account ids, or
    `*`; at least one."""
    if isinstance(value, str):
        value = [part.strip() for part in value.split(",") if part.strip()]
    if not isinstance(value, list | tuple) or not value:
        raise ValueError("a key is bound to no account: expected account ids or *")
    if ALL_ACCOUNTS in value:
        if len(value) > 1:
            raise ValueError("* binds a key to every account: expected it alone")
        return (ALL_ACCOUNTS,)
    return tuple(sorted({parse_account_id(str(a)) for a in value}))


class InvalidApiKey(ValueError):
    """The text presented is not an mmx API key; the message never contains it."""


class InvalidKeyRecords(ValueError):
    """A secret's list of key records is malformed; the message says which entry and why."""


@dataclass(frozen=True, slots=True, repr=False)
class PresentedKey:
    """A key as a caller presented it, split into its public id and its secret."""

    key_id: str
    secret: str

    def __repr__(self) -> str:
        return f"PresentedKey(key_id={self.key_id!r}, secret='***')"


@dataclass(frozen=True, slots=True, repr=False)
class IssuedKey:
    """A new key: `key` is shown to its holder once and then only its hash is kept."""

    key: str
    key_id: str
    secret: str

    def __repr__(self) -> str:
        return f"IssuedKey(key_id={self.key_id!r}, key='***')"


def issue_key() -> IssuedKey:
    """A new random key `mmx_<12 hex>_<43 base64url chars>`."""
    key_id, secret = secrets.token_hex(6), secrets.token_urlsafe(32)
    return IssuedKey(f"{KEY_PREFIX}_{key_id}_{secret}", key_id, secret)


def parse_key(value: str) -> PresentedKey:
    """Split a presented key into id and secret.

    Raises
    ------
    InvalidApiKey
        If `value` is not `mmx_<id>_<secret>`; the message tells only its length.
    """
    match = _KEY.fullmatch(value.strip())
    if match is None:
        raise InvalidApiKey(
            f"not an mmx API key ({len(value)} characters were sent): expected "
            f"'{KEY_PREFIX}_<id>_<secret>' as issued by `mmx keys create`"
        )
    return PresentedKey(match.group(1), match.group(2))


def hash_secret(secret: str) -> str:
    """The stored form of a key's secret: sha256, hex."""
    return hashlib.sha256(secret.encode()).hexdigest()


class ApiKeyRecord(BaseModel):
    """What is kept of a key: its id, the hash of its secret, its role and holder."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    key_id: str = Field(pattern=rf"^{KEY_ID_PATTERN}$")
    key_hash: str = Field(pattern=rf"^({_HASH})?$", repr=False)
    """sha256 of the secret; empty once revoked."""
    role: Role
    name: str = Field(pattern=rf"^{NAME_PATTERN}$")
    """Who holds the key: a person or a strategy, as the audit trail names it."""
    created_ns: int = Field(ge=0)
    revoked_ns: int | None = Field(default=None, ge=0)
    source: Literal["redis", "secret"] = "redis"
    accounts: Annotated[tuple[str, ...], BeforeValidator(parse_bound_accounts)] = (DEFAULT_ACCOUNT,)
    """The accounts the key reads and trades (`*`: all); `default` for a record written
    before accounts."""

    @classmethod
    def issue(
        cls,
        issued: IssuedKey,
        role: Role,
        name: str,
        *,
        now_ns: int,
        accounts: tuple[str, ...] = (DEFAULT_ACCOUNT,),
    ) -> Self:
        return cls(
            key_id=issued.key_id,
            key_hash=hash_secret(issued.secret),
            role=role,
            name=name,
            created_ns=now_ns,
            accounts=accounts,
        )

    @property
    def revoked(self) -> bool:
        return self.revoked_ns is not None

    @property
    def actor(self) -> str:
        """How the audit trail names the holder: `alice [3f9a2b1c0d4e]` (never the key)."""
        return f"{self.name} [{self.key_id}]"

    def accepts(self, presented: PresentedKey) -> bool:
        """True when `presented` is this key and the key is not revoked (constant time)."""
        usable = bool(self.key_hash) and not self.revoked and presented.key_id == self.key_id
        stored = self.key_hash if usable else _UNUSED_HASH
        return hmac.compare_digest(stored, hash_secret(presented.secret)) and usable


def reject_unknown(presented: PresentedKey) -> None:
    """Spend on an unknown id the hash and comparison a known one costs."""
    hmac.compare_digest(_UNUSED_HASH, hash_secret(presented.secret))


def records_from_secret(value: dict[str, Any] | str) -> list[ApiKeyRecord]:
    """The records listed in a secret: a JSON list (or `{"keys": [...]}`) of
    `{"id", "hash", "role", "name"}` objects (`created_ns` optional).

    Raises
    ------
    InvalidKeyRecords
        If the value is not such a list, an entry is invalid, or an id appears twice.
    """
    try:
        entries = json.loads(value) if isinstance(value, str) else value.get("keys")
    except json.JSONDecodeError:
        raise InvalidKeyRecords("the secret is not JSON: expected a list of key records") from None
    if not isinstance(entries, list):
        raise InvalidKeyRecords('expected a JSON list (or {"keys": [...]}) of key records')
    records: dict[str, ApiKeyRecord] = {}
    for index, entry in enumerate(entries):
        record = _record(index, entry)
        if record.key_id in records:
            raise InvalidKeyRecords(f"entry {index}: id {record.key_id} is listed twice")
        records[record.key_id] = record
    return list(records.values())


_SECRET_FIELDS = {"key_id": "id", "key_hash": "hash"}
"""Record fields by the names a secret's entries use."""


def _record(index: int, entry: Any) -> ApiKeyRecord:
    if not isinstance(entry, dict):
        raise InvalidKeyRecords(f"entry {index}: expected an object {{id, hash, role, name}}")
    fields = {
        "key_id": entry.get("id"),
        "key_hash": entry.get("hash"),
        "role": entry.get("role"),
        "name": entry.get("name"),
        "created_ns": entry.get("created_ns", 0),
        "source": "secret",
        "accounts": entry.get("accounts", [DEFAULT_ACCOUNT]),
    }
    try:
        record = ApiKeyRecord.model_validate(fields)
    except ValidationError as error:
        problems = "; ".join(
            f"{_SECRET_FIELDS.get(str(e['loc'][0]), e['loc'][0])}: {e['msg']}"
            for e in error.errors()
        )
        raise InvalidKeyRecords(f"entry {index}: {problems}") from None
    if not record.key_hash:
        raise InvalidKeyRecords(f"entry {index}: hash is empty: expected sha256(secret), hex")
    return record


# -- The store ---------------------------------------------------------------------------------


class ApiKeyStore(Protocol):
    """Key records by id, shared by every gateway instance and `mmx keys`."""

    async def create(self, record: ApiKeyRecord) -> bool:
        """Add `record`; False (nothing written) when its id is taken."""
        ...

    async def get(self, key_id: str) -> ApiKeyRecord | None: ...

    async def all(self) -> list[ApiKeyRecord]:
        """Every record, revoked ones included, oldest first."""
        ...

    async def revoke(
        self, key_id: str, *, now_ns: int, tombstone_name: str | None = None
    ) -> ApiKeyRecord | None:
        """Revoke the key now (its hash is dropped); a revoked key stays revoked.

        An id with no record: None, unless `tombstone_name` is given, which records a
        revoked entry under that name, e.g. to block a key listed in a secret at once.
        """
        ...


class InMemoryApiKeyStore:
    """The ApiKeyStore fake: a dict."""

    def __init__(self) -> None:
        self._records: dict[str, ApiKeyRecord] = {}

    async def create(self, record: ApiKeyRecord) -> bool:
        if record.key_id in self._records:
            return False
        self._records[record.key_id] = record.model_copy(update={"source": "redis"})
        return True

    async def get(self, key_id: str) -> ApiKeyRecord | None:
        return self._records.get(key_id)

    async def all(self) -> list[ApiKeyRecord]:
        return sorted(self._records.values(), key=lambda r: (r.created_ns, r.key_id))

    async def revoke(
        self, key_id: str, *, now_ns: int, tombstone_name: str | None = None
    ) -> ApiKeyRecord | None:
        record = self._records.get(key_id)
        if record is None:
            if tombstone_name is None:
                return None
            record = _tombstone(key_id, tombstone_name, now_ns)
        if not record.revoked:
            record = record.model_copy(update={"key_hash": "", "revoked_ns": now_ns})
        self._records[key_id] = record
        return record


def _tombstone(key_id: str, name: str, now_ns: int) -> ApiKeyRecord:
    return ApiKeyRecord(key_id=key_id, key_hash="", role=Role.VIEWER, name=name, created_ns=now_ns)


_CREATE = LuaScript(
    """
if redis.call('EXISTS', KEYS[1]) == 1 then return 0 end
redis.call('HSET', KEYS[1], 'hash', ARGV[2], 'role', ARGV[3], 'name', ARGV[4],
           'created_ns', ARGV[5], 'accounts', ARGV[6])
redis.call('SADD', KEYS[2], ARGV[1])
return 1
"""
)
_REVOKE = LuaScript(
    """
if redis.call('EXISTS', KEYS[1]) == 0 then
  if ARGV[3] == '' then return 0 end
  redis.call('HSET', KEYS[1], 'hash', '', 'role', 'viewer', 'name', ARGV[3],
             'created_ns', ARGV[2])
  redis.call('SADD', KEYS[2], ARGV[1])
end
if redis.call('HEXISTS', KEYS[1], 'revoked_ns') == 0 then
  redis.call('HSET', KEYS[1], 'hash', '', 'revoked_ns', ARGV[2])
end
return 1
"""
)


class RedisApiKeyStore:
    """ApiKeyStore in Redis: a hash per key, and the set of ids (both written by one script)."""

    def __init__(self, redis: Redis) -> None:
        self._redis = redis

    async def create(self, record: ApiKeyRecord) -> bool:
        keys = [api_key_key(record.key_id), API_KEYS_KEY]
        args = [
            record.key_id,
            record.key_hash,
            record.role.value,
            record.name,
            record.created_ns,
            ",".join(record.accounts),
        ]
        return bool(await _CREATE(self._redis, keys, args))

    async def get(self, key_id: str) -> ApiKeyRecord | None:
        fields = await self._redis.hgetall(api_key_key(key_id))
        return _decode(key_id, fields) if fields else None

    async def all(self) -> list[ApiKeyRecord]:
        ids = sorted(text(i) for i in await self._redis.smembers(API_KEYS_KEY))
        async with self._redis.pipeline(transaction=False) as pipe:
            for key_id in ids:
                pipe.hgetall(api_key_key(key_id))
            replies = await pipe.execute()
        records = [_decode(i, f) for i, f in zip(ids, replies, strict=True) if f]
        return sorted(records, key=lambda r: (r.created_ns, r.key_id))

    async def revoke(
        self, key_id: str, *, now_ns: int, tombstone_name: str | None = None
    ) -> ApiKeyRecord | None:
        keys = [api_key_key(key_id), API_KEYS_KEY]
        if tombstone_name is not None:
            _tombstone(key_id, tombstone_name, now_ns)  # validates the id and the name
        done = await _REVOKE(self._redis, keys, [key_id, now_ns, tombstone_name or ""])
        return await self.get(key_id) if done else None


def _decode(key_id: str, fields: dict[Any, Any]) -> ApiKeyRecord:
    values = {text(k): text(v) for k, v in fields.items()}
    revoked = values.get("revoked_ns")
    return ApiKeyRecord(
        key_id=key_id,
        key_hash=values.get("hash", ""),
        role=Role(values["role"]),
        name=values["name"],
        created_ns=int(values["created_ns"]),
        revoked_ns=int(revoked) if revoked else None,
        accounts=values.get("accounts") or DEFAULT_ACCOUNT,
    )
