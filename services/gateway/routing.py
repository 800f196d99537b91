"""Exact JSON numbers: request bodies are parsed with every JSON number as a Decimal.

FastAPI parses bodies with `json.loads`, which turns `0.1` into a float that may already
have lost digits. Routes of `ExactJsonRoute` parse the raw text with `parse_float=Decimal`,
so `"qty": 0.001` and `"qty": "0.001"` both arrive as `Decimal("0.001")`, exactly as sent.
`NaN` and `Infinity` are not JSON numbers and are refused; so is a body that is not UTF-8
text or is nested too deeply to parse. Each answers 422 `invalid JSON`, like any other body
that does not parse.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Coroutine
from decimal import Decimal
from typing import Any

from fastapi import Request, Response
from fastapi.routing import APIRoute


def _refuse_constant(name: str) -> Any:
    raise json.JSONDecodeError(f"{name} is not a number: send a decimal string", name, 0)


def loads_exact(body: bytes | str) -> Any:
    """Parse JSON with numbers as Decimal (ints stay int); raise JSONDecodeError on NaN/Infinity,
    on bytes that are not UTF-8 text and on nesting too deep to parse (FastAPI would answer
    those two with a bare 400)."""
    try:
        return json.loads(body, parse_float=Decimal, parse_constant=_refuse_constant)
    except UnicodeDecodeError as error:
        message = f"not UTF-8 text ({error.reason} at byte {error.start}): send JSON as UTF-8"
        raise json.JSONDecodeError(message, _text(body), 0) from None
    except RecursionError:
        message = "nested too deeply to parse: expected a JSON object of the documented shape"
        raise json.JSONDecodeError(message, _text(body), 0) from None


def _text(body: bytes | str) -> str:
    return body if isinstance(body, str) else body.decode("utf-8", errors="replace")


class ExactJsonRequest(Request):
    """A request whose `json()` keeps every number exact."""

    async def json(self) -> Any:
        if not hasattr(self, "_json"):
            self._json = loads_exact(await self.body())
        return self._json


class ExactJsonRoute(APIRoute):
    """A route that reads its JSON body with `ExactJsonRequest`."""

    def get_route_handler(self) -> Callable[[Request], Coroutine[Any, Any, Response]]:
        handler = super().get_route_handler()

        async def exact_handler(request: Request) -> Response:
            return await handler(ExactJsonRequest(request.scope, request.receive))

        return exact_handler
