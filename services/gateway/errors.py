"""Errors as answers: every failure is JSON `{"error": "...", "details": [...]}` with a 4xx
(or a 503 when Redis is unreachable), saying what is wrong and what was expected.

    ApiError             raise from a route: its status and message are the answer
    ├── Invalid          422, e.g. a batch naming one clientOrderId twice
    ├── NotFound         404, e.g. an unknown clientOrderId
    ├── Conflict         409, e.g. amending a Filled order, unfreezing within the cooldown
    └── Unavailable      503, e.g. the command could not be published (outcome unknown)

A body past `max_body_bytes` is refused with 413 before it is parsed (`body_limit`).
`RequestValidationError` (a body, path or query FastAPI could not validate) becomes a 422
with one readable line per problem instead of FastAPI's raw error list.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from typing import Any

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from pydantic import BaseModel
from redis.exceptions import ConnectionError as RedisConnectionError
from redis.exceptions import TimeoutError as RedisTimeoutError
from starlette.exceptions import HTTPException

log = logging.getLogger(__name__)


class ApiError(Exception):
    """An answer other than success: `status` and a message for the client."""

    status = 400

    def __init__(self, message: str, *, details: Sequence[Any] = ()) -> None:
        super().__init__(message)
        self.message = message
        self.details = list(details)


class Invalid(ApiError):
    status = 422


class NotFound(ApiError):
    status = 404


class Conflict(ApiError):
    status = 409


class Unavailable(ApiError):
    status = 503


class ErrorBody(BaseModel):
    """Every error answer: what was wrong and what was expected, then the details."""

    error: str
    details: list[dict[str, Any]]


_DESCRIPTIONS = {
    404: "No such order",
    409: "The current state does not allow it",
    413: "The request body is larger than `MMX_GATEWAY_MAX_BODY_BYTES`: nothing was read",
    422: "Invalid request: `error` says what and `details` where",
    503: "Redis unavailable, or a command could not be published",
}


def responses(*codes: int) -> dict[int | str, dict[str, Any]]:
    """OpenAPI `responses` of a route that may answer `codes`."""
    return {code: {"description": _DESCRIPTIONS[code], "model": ErrorBody} for code in codes}


def error_body(message: str, details: Sequence[Any] = ()) -> dict[str, Any]:
    """The JSON of every error answer."""
    return {"error": message, "details": list(details)}


def readable(errors: Sequence[Any]) -> list[dict[str, str]]:
    """FastAPI / pydantic errors as {field, message, type}, field without the `body` prefix."""
    return [_detail(error) for error in errors]


def _detail(error: Any) -> dict[str, str]:
    loc = [str(part) for part in error.get("loc", ())]
    if loc and loc[0] == "body":
        loc = loc[1:]
    field = ".".join(loc) or "body"
    kind = str(error.get("type", ""))
    message = str(error.get("msg", "invalid"))
    if kind == "extra_forbidden":
        message = "unknown field: this request has no such field (names are camelCase)"
    elif kind == "missing" and field == "body":
        message = "a JSON body is required"
    elif kind == "missing":
        message = "required field is missing"
    elif kind == "json_invalid":
        field = "body"
        message = f"invalid JSON: {error.get('ctx', {}).get('error', message)}"
    elif kind in ("model_attributes_type", "dict_type"):
        message = "expected a JSON object (sent with Content-Type: application/json)"
    elif kind in ("decimal_parsing", "decimal_type"):
        message = 'expected a decimal number such as "0.001"'

    message = message.removeprefix("Value error, ").removeprefix("Assertion failed, ")
    return {"field": field, "message": message, "type": kind}


def install(app: FastAPI) -> None:
    """Answer every failure as `error_body` JSON."""

    @app.exception_handler(RequestValidationError)
    async def on_invalid(request: Request, exc: RequestValidationError) -> JSONResponse:
        details = readable(exc.errors())
        summary = "; ".join(f"{d['field']}: {d['message']}" for d in details)
        return JSONResponse(error_body(f"invalid request: {summary}", details), status_code=422)

    @app.exception_handler(ApiError)
    async def on_api_error(request: Request, exc: ApiError) -> JSONResponse:
        return JSONResponse(error_body(exc.message, exc.details), status_code=exc.status)

    @app.exception_handler(HTTPException)
    async def on_http(request: Request, exc: HTTPException) -> JSONResponse:
        return JSONResponse(
            error_body(str(exc.detail)), status_code=exc.status_code, headers=exc.headers
        )

    async def on_redis_down(request: Request, exc: Exception) -> JSONResponse:
        log.warning("redis unavailable during %s %s: %s", request.method, request.url.path, exc)
        message = (
            f"redis unavailable ({type(exc).__name__}): the request may not have been applied; "
            "read the state back (GET) before retrying"
        )
        return JSONResponse(error_body(message), status_code=503)

    app.add_exception_handler(RedisConnectionError, on_redis_down)
    app.add_exception_handler(RedisTimeoutError, on_redis_down)

    @app.exception_handler(Exception)
    async def on_bug(request: Request, exc: Exception) -> JSONResponse:
        log.error("%s %s failed", request.method, request.url.path, exc_info=exc)
        message = (
            f"internal error ({type(exc).__name__}): the request may not have been applied; "
            "read the state back (GET) before retrying"
        )
        return JSONResponse(error_body(message), status_code=500)
