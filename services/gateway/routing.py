"""Exact JSON numbers: request bodies are parsed with every JSON number as a Decimal.

FastAPI parses bodies with `json.loads`, which turns `0.1` into a float that may already
have lost digits. Routes of `ExactJsonRoute` parse the raw text with `parse_float=Decimal`,
so `"qty": 0.001` and `"qty": "0.001"` both arrive as `Decimal("0.001")`, exactly as sent.
`NaN` and `Infinity` are not JSON numbers and are refused.
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
    """Parse JSON with numbers as Decimal (ints stay int); raise JSONDecodeError on NaN/Infinity."""
    return json.loads(body, parse_float=Decimal, parse_constant=_refuse_constant)


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
