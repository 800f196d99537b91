"""API keys and request verification, exactly as Bybit checks them.

REST: `X-BAPI-SIGN` must be HMAC-SHA256(secret, timestamp + apiKey + recvWindow + payload)
where the payload is the raw query string of a GET or the raw body of a POST as received,
and the timestamp must satisfy `server_time - recv_window <= timestamp < server_time + 1000`.
WebSocket: `auth` args are [apiKey, expires, HMAC(secret, "GET/realtime" + expires)] with
`expires` in the future. Each key trades one account: `uid_of` names its UID.
"""

from __future__ import annotations

from collections.abc import Mapping

from libs.common.venue.signing import rest_origin, sign_rest, sign_ws_auth, signatures_match
from services.venue_sim.engine import DEFAULT_UID, errors
from services.venue_sim.engine.errors import SimError

DEFAULT_RECV_WINDOW = 5000
FUTURE_TOLERANCE_MS = 1000


class AuthError(SimError):
    """A refused credential; `http_status` is 200 unless the auth headers are missing."""

    def __init__(self, code: int, msg: str, http_status: int = 200) -> None:
        super().__init__(code, msg)
        self.http_status = http_status


class Authenticator:
    """Verifies signed REST requests and WebSocket `auth` ops against the configured keys."""

    def __init__(self, keys: Mapping[str, str], uids: Mapping[str, str] | None = None) -> None:
        """`keys`: API key -> secret; `uids`: API key -> UID of its account (absent: every
        key trades the first account, 100100100)."""
        self.keys = dict(keys)
        self.uids = {key: (uids or {}).get(key, DEFAULT_UID) for key in self.keys}

    def uid_of(self, key: str) -> str:
        """The UID of the account an accepted API key trades."""
        return self.uids[key]

    def keys_of(self, uid: str) -> list[str]:
        """The API keys that trade the account `uid`."""
        return [key for key, owner in self.uids.items() if owner == uid]

    def check_rest(self, headers: Mapping[str, str], payload: str, now: int) -> str:
        """Return the API key of a correctly signed request, else raise AuthError."""
        key = headers.get("X-BAPI-API-KEY")
        sign = headers.get("X-BAPI-SIGN")
        timestamp = headers.get("X-BAPI-TIMESTAMP")
        if not key or not sign or not timestamp:
            missing = [
                name
                for name, value in (
                    ("X-BAPI-API-KEY", key),
                    ("X-BAPI-SIGN", sign),
                    ("X-BAPI-TIMESTAMP", timestamp),
                )
                if not value
            ]
            raise AuthError(errors.INVALID_KEY, f"missing auth headers: {', '.join(missing)}", 401)
        secret = self.keys.get(key)
        if secret is None:
            raise AuthError(errors.INVALID_KEY, "API key is invalid.")
        recv_window = headers.get("X-BAPI-RECV-WINDOW") or str(DEFAULT_RECV_WINDOW)
        try:
            ts, window = int(timestamp), int(recv_window)
        except ValueError:
            raise AuthError(
                errors.PARAMS,
                f"params error: X-BAPI-TIMESTAMP {timestamp!r} and X-BAPI-RECV-WINDOW "
                f"{recv_window!r} must be integers",
            ) from None
        if not now - window <= ts < now + FUTURE_TOLERANCE_MS:
            raise AuthError(
                errors.RECV_WINDOW,
                "invalid request, please check your server timestamp or recv_window param. "
                f"req_timestamp[{ts}],server_timestamp[{now}],recv_window[{window}]",
            )
        expected = sign_rest(secret, timestamp, key, recv_window, payload)
        if not signatures_match(expected, sign):
            origin = rest_origin(timestamp, key, recv_window, payload)
            raise AuthError(errors.BAD_SIGN, f"error sign! origin_string[{origin}]")
        return key

    def check_ws(self, args: object, now: int) -> tuple[str | None, str]:
        """(api key, "") when a WebSocket `auth` op is valid, else (None, Bybit's ret_msg)."""
        if not isinstance(args, list) or len(args) != 3:
            return None, "Params Error"
        key, expires, sign = args
        if not isinstance(key, str) or not isinstance(sign, str):
            return None, "Params Error"
        try:
            expires_ms = int(expires)
        except (TypeError, ValueError):
            return None, "Params Error"
        secret = self.keys.get(key)
        if secret is None:
            return None, "API key is invalid."
        if expires_ms <= now:
            return None, "Params Error: request expired"
        if not signatures_match(sign_ws_auth(secret, expires_ms), sign):
            return None, "Invalid sign"
        return key, ""
