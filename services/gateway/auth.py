"""Who is calling: API keys with roles, as a FastAPI dependency on every `/v1` route.

    viewer    read orders, positions, risk and the live stream
    trader    also place, amend and cancel orders, report edge, simulate
    operator  also freeze, unfreeze, set limits, cancel every order of a symbol

A key (`mmx_<id>_<secret>`, see `libs.common.api_keys`) comes in the `X-API-Key` header or
as `Authorization: Bearer <key>`; the WebSocket `/v1/stream` also takes `?apiKey=` (browsers
cannot set its headers). No key or a key not accepted: 401; a key whose role is too low: 403.
Neither answer nor any log line ever contains the key. The caller becomes a `Principal`, and
its `actor` (`alice [3f9a2b1c0d4e]`: the key's name and id) is what the audit trail records.
A key is bound to accounts: a request about another account (`?account=`, an order's or a
freeze's `account`) is 403, and a desk-wide change (the desk's limits, unfreezing the desk)
needs a key bound to every account of the desk (`*`, or each of `MMX_ACCOUNTS`). Freezing
the desk, the kill switch, needs none.

`MMX_GATEWAY_AUTH=disabled` (development only, e.g. `mmx up`) admits every caller as an
operator and takes the actor, unverified, from the `X-MMX-Actor` header.

uvicorn logs every WebSocket handshake with its query string (`"WebSocket /v1/stream?apiKey=
..." [accepted]`, at INFO): `redact_server_logs` filters its loggers so that no key in a URL
ever reaches a log line.
"""

from __future__ import annotations

import logging
import re
from collections.abc import Awaitable, Callable, Iterable
from dataclasses import dataclass
from typing import Annotated, Any, cast

from fastapi import Depends, FastAPI, Header, Query, Security
from fastapi.responses import JSONResponse
from fastapi.security import APIKeyHeader, HTTPAuthorizationCredentials, HTTPBearer
from starlette.requests import HTTPConnection
from starlette.websockets import WebSocket

from libs.common.api_keys import ALL_ACCOUNTS, Role
from libs.common.domain.ids import DEFAULT_ACCOUNT, AccountId
from libs.common.messages import AccountField
from services.gateway.context import GatewayDep
from services.gateway.errors import ErrorBody, error_body
from services.gateway.keys import STATE_KEY, KeyRefused, KeyRing

__all__ = [
    "ANONYMOUS",
    "RESPONSES",
    "Principal",
    "Role",
    "install",
    "redact_server_logs",
    "require_role",
]

log = logging.getLogger(__name__)

ANONYMOUS = "anonymous"
WS_QUERY = "apiKey"
CHALLENGE = 'APIKey, Bearer realm="mmx"'
CLOSE_POLICY = 1008

API_KEY_HEADER = APIKeyHeader(
    name="X-API-Key", auto_error=False, description="an mmx API key: mmx_<id>_<secret>"
)
BEARER = HTTPBearer(auto_error=False, description="the same API key as a bearer token")

RESPONSES: dict[int | str, dict[str, Any]] = {
    401: {"description": "No API key, or a key that is not accepted", "model": ErrorBody},
    403: {"description": "The key's role does not allow this", "model": ErrorBody},
}
"""OpenAPI answers of every route that requires a role."""


@dataclass(frozen=True, slots=True)
class Principal:
    """The caller of a request, as the audit trail names it."""

    actor: str
    role: Role
    """The key's role (operator when auth is disabled)."""
    key_id: str | None = None
    """None when auth is disabled."""
    accounts: tuple[str, ...] = (ALL_ACCOUNTS,)
    """The accounts the key is bound to (`*`: every one)."""

    def may_use(self, account: str) -> bool:
        return ALL_ACCOUNTS in self.accounts or account in self.accounts


class AuthError(Exception):
    """401 or 403; `message` is safe to show and to log."""

    def __init__(self, status: int, message: str) -> None:
        super().__init__(message)
        self.status = status
        self.message = message


RoleDependency = Callable[..., Awaitable[Principal]]


def require_role(role: Role) -> RoleDependency:
    """A dependency that admits callers whose key grants `role`, as a Principal."""

    async def dependency(
        connection: HTTPConnection,
        gateway: GatewayDep,
        header_key: Annotated[str | None, Security(API_KEY_HEADER)],
        bearer: Annotated[HTTPAuthorizationCredentials | None, Security(BEARER)],
        x_mmx_actor: Annotated[
            str | None,
            Header(max_length=64, description="who is calling, when auth is disabled (dev)"),
        ] = None,
    ) -> Principal:
        if gateway.settings.auth == "disabled":
            principal = Principal(
                actor=(x_mmx_actor or "").strip() or ANONYMOUS, role=Role.OPERATOR
            )
            connection.state.principal = principal
            return principal
        presented = _presented(connection, header_key, bearer)
        keyring = cast(KeyRing, connection.app.state.runtime.state[STATE_KEY])
        try:
            record = await keyring.authenticate(presented)
        except KeyRefused as refused:
            raise _refuse(connection, 401, str(refused)) from None
        if not record.role.grants(role):
            message = (
                f"forbidden: the key of {record.actor} has role {record.role}; "
                f"{_what(connection)} needs {role}"
            )
            raise _refuse(connection, 403, message)
        principal = Principal(
            actor=record.actor, role=record.role, key_id=record.key_id, accounts=record.accounts
        )
        connection.state.principal = principal
        return principal

    return dependency


def authorize_account(connection: HTTPConnection, account: str) -> None:
    """AuthError(403) unless the caller's key is bound to `account`."""
    principal = _principal(connection)
    if not principal.may_use(account):
        raise _refuse(
            connection,
            403,
            f"forbidden: the key of {principal.actor} is bound to account(s) "
            f"{', '.join(principal.accounts)}, not to {account}",
        )


def authorize_desk(connection: HTTPConnection, what: str, accounts: Iterable[str]) -> None:
    """AuthError(403) unless the caller's key is bound to every one of the desk's `accounts`
    (`*`, or each of them: on a desk of one account, a key bound to it)."""
    principal = _principal(connection)
    missing = [a for a in accounts if not principal.may_use(a)]
    if missing:
        raise _refuse(
            connection,
            403,
            f"forbidden: {what} acts for every account; the key of {principal.actor} is not "
            f"bound to {', '.join(missing)} (a key with --accounts '*' is)",
        )


def _principal(connection: HTTPConnection) -> Principal:
    principal = getattr(connection.state, "principal", None)
    if not isinstance(principal, Principal):  # a route checked no role first: refuse
        raise _refuse(connection, 401, "an API key is required")
    return principal


async def _account_query(
    connection: HTTPConnection,
    account: Annotated[
        AccountField, Query(description="the account, one of MMX_ACCOUNTS (default: `default`)")
    ] = DEFAULT_ACCOUNT,
) -> AccountId:
    authorize_account(connection, account)
    return account


AccountQuery = Annotated[AccountId, Depends(_account_query)]
"""The `?account=` of a route about one account's orders, positions or risk: 403 unless the
caller's key is bound to it (declare the route's role first)."""


def _presented(
    connection: HTTPConnection, header_key: str | None, bearer: HTTPAuthorizationCredentials | None
) -> str:
    """The one key the caller sent; AuthError(401) when none, or two different ones."""
    keys = {k for k in (header_key, bearer and bearer.credentials) if k}
    websocket = connection.scope["type"] == "websocket"
    if websocket and (query_key := connection.query_params.get(WS_QUERY)):
        keys.add(query_key)
    if len(keys) > 1:
        raise _refuse(connection, 401, "two different API keys were sent: send exactly one")
    if keys:
        return keys.pop()
    where = f"the X-API-Key header, Authorization: Bearer or ?{WS_QUERY}="
    if not websocket:
        where = "the X-API-Key header or Authorization: Bearer"
        if WS_QUERY in connection.query_params:
            where += f" (?{WS_QUERY}= is for the WebSocket only: URLs end up in logs)"
    raise _refuse(connection, 401, f"an API key is required: send it in {where}")


def _what(connection: HTTPConnection) -> str:
    if connection.scope["type"] == "websocket":
        return f"WebSocket {connection.url.path}"
    return f"{connection.scope['method']} {connection.url.path}"


def _refuse(connection: HTTPConnection, status: int, message: str) -> AuthError:
    client = connection.client.host if connection.client else "?"
    log.warning("refused %s from %s (%d): %s", _what(connection), client, status, message)
    return AuthError(status, message)


def install(app: FastAPI) -> None:
    """Answer AuthError as a JSON 401/403 (a WebSocket: refused at the handshake)."""

    async def on_refused(connection: Any, exc: Exception) -> Any:
        error = cast(AuthError, exc)
        headers = {"WWW-Authenticate": CHALLENGE} if error.status == 401 else {}
        answer = JSONResponse(error_body(error.message), status_code=error.status, headers=headers)
        if connection.scope["type"] != "websocket":
            return answer
        websocket = cast(WebSocket, connection)
        if "websocket.http.response" in websocket.scope.get("extensions", {}):
            await websocket.send_denial_response(answer)
        else:  # the server cannot answer the handshake with a status: close with a reason
            await websocket.close(CLOSE_POLICY, f"{error.status}: {error.message}"[:120])
        return None

    app.add_exception_handler(AuthError, on_refused)


# -- No key in a server log line ---------------------------------------------------------------

SERVER_LOGGERS = ("uvicorn.error", "uvicorn.access")
"""uvicorn's loggers that print request paths with their query strings."""
_QUERY_KEY = re.compile(rf"({WS_QUERY}=)[^&\s\"']+", re.IGNORECASE)
_KEY_LIKE = re.compile(r"\bmmx_([a-z0-9]{8,32})_[A-Za-z0-9_-]{32,128}")


def redact(text: str) -> str:
    """`text` with every `apiKey=` value and every mmx key's secret replaced."""
    return _KEY_LIKE.sub(r"mmx_\1_<redacted>", _QUERY_KEY.sub(r"\1<redacted>", text))


class RedactKeys(logging.Filter):
    """Rewrite a record whose message holds a key (in a URL or anywhere) before it is emitted."""

    def filter(self, record: logging.LogRecord) -> bool:
        message = record.getMessage()
        clean = redact(message)
        if clean != message:
            record.msg, record.args = clean, None
        return True


def redact_server_logs() -> None:
    """Filter uvicorn's request loggers with `RedactKeys` (once per process)."""
    for name in SERVER_LOGGERS:
        logger = logging.getLogger(name)
        if not any(isinstance(f, RedactKeys) for f in logger.filters):
            logger.addFilter(RedactKeys())
