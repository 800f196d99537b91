"""User-data stream keys: one per account, valid 60 minutes from its last POST or PUT.

`POST /fapi/v1/listenKey` returns the account's active key (extending it) or a new one;
`PUT` extends it (-1125 once it is gone); `DELETE` ends it. An expired key is reported
once by `expire` (the streams then send `listenKeyExpired`).
"""

from __future__ import annotations

import secrets
from collections.abc import Iterable
from dataclasses import dataclass

from services.venue_sim.binance import errors
from services.venue_sim.binance.errors import BinanceError

VALIDITY_MS = 60 * 60 * 1000


@dataclass(slots=True)
class _Key:
    uid: str
    expires: int


class ListenKeys:
    """The accounts' listen keys and when each expires."""

    def __init__(self) -> None:
        self._keys: dict[str, _Key] = {}

    def open(self, uid: str, now: int) -> str:
        """The account's active key, extended, or a new one."""
        for key, entry in self._keys.items():
            if entry.uid == uid and entry.expires > now:
                entry.expires = now + VALIDITY_MS
                return key
        key = secrets.token_hex(32)
        self._keys[key] = _Key(uid, now + VALIDITY_MS)
        return key

    def keepalive(self, uid: str, key: str, now: int) -> str:
        """Extend the account's key (`key`, or its only one when "" is given); -1125 when
        the account has no such active key."""
        if not key:
            key = next((k for k, e in self._keys.items() if e.uid == uid), "")
        entry = self._keys.get(key)
        if entry is None or entry.uid != uid or entry.expires <= now:
            raise self.missing()
        entry.expires = now + VALIDITY_MS
        return key

    def close(self, uid: str, key: str) -> list[str]:
        """End the account's key (`key`, or every key of the account when "" is given);
        the keys ended."""
        ended = [k for k, e in self._keys.items() if e.uid == uid and (not key or k == key)]
        for k in ended:
            del self._keys[k]
        return ended

    def uid_of(self, key: str, now: int) -> str | None:
        """The account of an active key, else None."""
        entry = self._keys.get(key)
        return entry.uid if entry is not None and entry.expires > now else None

    def keys_of(self, uid: str) -> list[str]:
        """The account's keys (active or not yet reported expired)."""
        return [k for k, e in self._keys.items() if e.uid == uid]

    def expire(self, now: int, *, key: str | None = None) -> list[tuple[str, str]]:
        """Drop and return (key, uid) of the keys that expired by `now` (or of `key` at
        once, when given: a test's shortcut to expiry)."""
        gone = [
            (k, e.uid)
            for k, e in self._keys.items()
            if (k == key if key is not None else e.expires <= now)
        ]
        for k, _ in gone:
            del self._keys[k]
        return gone

    def expire_all(self, uids: Iterable[str]) -> list[tuple[str, str]]:
        """Drop and return (key, uid) of every key of the accounts `uids` at once, account
        by account (a test's shortcut to expiry)."""
        by_uid: dict[str, list[str]] = {}
        for k, e in self._keys.items():
            by_uid.setdefault(e.uid, []).append(k)
        gone = [(k, uid) for uid in uids for k in by_uid.pop(uid, [])]
        for k, _ in gone:
            del self._keys[k]
        return gone

    @staticmethod
    def missing() -> BinanceError:
        """-1125: the key does not exist (any more)."""
        return BinanceError(errors.INVALID_LISTEN_KEY, "This listenKey does not exist.")
