"""Validation errors as the gateway reports them, and exact JSON parsing."""

from __future__ import annotations

import json

import pytest

from services.gateway.errors import readable
from services.gateway.routing import loads_exact


def test_readable_drops_the_body_prefix_and_pydantic_boilerplate() -> None:
    errors = [
        {"loc": ("body", "qty"), "msg": "Value error, -1 must be above 0", "type": "value_error"},
        {"loc": ("body", "reduce_only"), "msg": "Extra inputs are not permitted",
         "type": "extra_forbidden"},
        {"loc": ("query", "symbol"), "msg": "Field required", "type": "missing"},
        {"loc": ("body",), "msg": "Field required", "type": "missing"},
        {"loc": ("body", 12), "msg": "JSON decode error", "type": "json_invalid",
         "ctx": {"error": "Expecting value"}},
    ]  # fmt: skip

    assert readable(errors) == [
        {"field": "qty", "message": "-1 must be above 0", "type": "value_error"},
        {
            "field": "reduce_only",
            "message": "unknown field: this request has no such field (names are camelCase)",
            "type": "extra_forbidden",
        },
        {"field": "query.symbol", "message": "required field is missing", "type": "missing"},
        {"field": "body", "message": "a JSON body is required", "type": "missing"},
        {"field": "body", "message": "invalid JSON: Expecting value", "type": "json_invalid"},
    ]


def test_loads_exact_reads_numbers_as_decimals_and_ints() -> None:
    parsed = loads_exact('{"a": 0.1, "b": 3, "c": [1e-7]}')

    assert [str(parsed["a"]), parsed["b"], str(parsed["c"][0])] == ["0.1", 3, "1E-7"]


@pytest.mark.parametrize("constant", ["NaN", "Infinity", "-Infinity"])
def test_loads_exact_refuses_non_numbers(constant: str) -> None:
    with pytest.raises(json.JSONDecodeError, match=f"{constant} is not a number"):
        loads_exact(f'{{"qty": {constant}}}')
