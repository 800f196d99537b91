"""The gateway's OpenAPI, fuzzed with schemathesis against a live gateway, as a process.

    MMX_FUZZ_API_KEY=<operator key> python -m tests.faults.gateway_fuzz http://127.0.0.1:8080

It reads `GET /openapi.json` and, for every operation, sends generated requests over real
HTTP: valid and invalid ones (schemathesis' negative mode) with the operator key, then a few
with no key and a few with a key the gateway never issued. Every answer must be no server
error (5xx), with a status, a content type and a body the OpenAPI documents for that
operation; the calls without a valid key must be refused with 401. Examples are bounded and
derandomized: the same requests every run. It prints one summary line (operations, calls,
statuses), then each failure with a curl line to reproduce it, and exits 1 on any failure.

A process of its own, not code inside the pytest session: schemathesis patches Hypothesis'
internals when it first builds a strategy (its example printer, its buffer size), which would
change every Hypothesis test run after it in the same session.
"""

from __future__ import annotations

import os
import sys
import time
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import hypothesis
import requests
import schemathesis
from hypothesis import HealthCheck, Phase, given
from hypothesis import strategies as st
from requests.structures import CaseInsensitiveDict
from schemathesis import APIOperation, Case, GenerationMode
from schemathesis.checks import not_a_server_error
from schemathesis.core.failures import FailureGroup
from schemathesis.core.result import Ok
from schemathesis.specs.openapi.checks import (
    content_type_conformance,
    response_schema_conformance,
    status_code_conformance,
)

AnyCase = Case[Any]
Operation = APIOperation[Any, Any, Any, Any]

KEY_ENV = "MMX_FUZZ_API_KEY"
"""The operator key (an environment variable: a key in argv shows in `ps`)."""
SUMMARY = "gateway OpenAPI fuzz:"
"""How the summary line starts."""
EXAMPLES_PER_OPERATION = 30
"""Requests per operation with the operator key (valid and invalid ones mixed)."""
ANONYMOUS_EXAMPLES = 3
"""Requests per operation with no key, and again with a key the gateway never issued."""
UNKNOWN_KEY = "mmx_0123456789abcdef_" + "x" * 40
CHECKS = [
    not_a_server_error,
    status_code_conformance,
    content_type_conformance,
    response_schema_conformance,
]
SCHEMA_CONFIG = {
    # The fuzz sends its own key: no generated X-API-Key or Authorization header.
    "generation": {"with-security-parameters": False},
}
REQUEST_TIMEOUT_S = 15.0
CREDENTIALS = ("x-api-key", "authorization")
ACTOR = "x-mmx-actor"
"""The dev-only actor header: validated (at most 64 characters) before the key is checked."""

KNOWN: dict[str, st.SearchStrategy[object]] = {
    "symbol": st.sampled_from(("BTCUSDT", "ETHUSDT", "SOLUSDT")),
    "clientOrderId": st.sampled_from(("fuzz-1", "fuzz-2", "fuzz-3", "fuzz-4")),
    "category": st.just("linear"),
    "qty": st.sampled_from(("0.001", "0.01", "0.5")),
    "price": st.sampled_from(("150", "3000", "60000")),
    "edgeBps": st.sampled_from(("-5", "0", "12.5")),
    "waitMs": st.sampled_from((50, 200)),
}
"""Values the gateway accepts, for the fields whose rules the OpenAPI does not carry."""


@dataclass
class Tally:
    """What the fuzz sent and what came back."""

    operations: int = 0
    statuses: Counter[int] = field(default_factory=Counter)
    failures: list[str] = field(default_factory=list)

    @property
    def calls(self) -> int:
        return sum(self.statuses.values())

    def summary(self) -> str:
        histogram = ", ".join(f"{code}: {n}" for code, n in sorted(self.statuses.items()))
        return (
            f"{SUMMARY} {self.operations} operations, {self.calls} calls, "
            f"statuses {{{histogram}}}, {len(self.failures)} failing operations"
        )


def headers_without(case: AnyCase, names: tuple[str, ...]) -> CaseInsensitiveDict[Any]:
    """The case's generated headers minus `names` (lower-case)."""
    kept = {k: v for k, v in (case.headers or {}).items() if k.lower() not in names}
    return CaseInsensitiveDict(kept)


@st.composite
def steered(draw: st.DrawFn, cases: st.SearchStrategy[AnyCase]) -> AnyCase:
    """A case as generated, or (half the time) with a known value in every field it has of
    `KNOWN`, and a price exactly when it is a Limit order.

    The OpenAPI does not carry the gateway's rules for identifiers (a symbol is 2-30 of
    [A-Z0-9]), amounts (decimal strings above 0) or price against orderType: pydantic
    validators check them. Generated as the OpenAPI allows, almost every place, amend or edge
    report is refused with 422 before any handler runs. Steered, they reach the handlers, the
    risk service and the router, and meet each other's orders by clientOrderId. A steered
    case also drops the dev-only X-MMX-Actor header (whose length limit counts characters,
    not the bytes schemathesis sends)."""
    case = draw(cases)
    if not draw(st.booleans()):
        return case
    if case.path_parameters:
        case.path_parameters = _steer(draw, case.path_parameters)
    if case.query:
        case.query = _steer(draw, case.query)
    body = case.body
    if isinstance(body, dict) and isinstance(orders := body.get("orders"), list):
        steered_orders = [_steer(draw, o) if isinstance(o, dict) else o for o in orders]
        case.body = {**body, "orders": steered_orders}
    elif isinstance(body, dict):
        case.body = _steer(draw, body)
    case.headers = headers_without(case, (ACTOR,))
    return case


def _steer(draw: st.DrawFn, fields: dict[str, Any]) -> dict[str, Any]:
    """`fields` with a known value for each name in `KNOWN`."""
    steered = {k: draw(KNOWN[k]) if k in KNOWN else v for k, v in fields.items()}
    if steered.get("orderType") == "Market":
        steered.pop("price", None)
    elif steered.get("orderType") == "Limit" and "price" not in steered:
        steered["price"] = draw(KNOWN["price"])
    return steered


def fuzz(
    operation: Operation,
    strategy: st.SearchStrategy[AnyCase],
    examples: int,
    send: Callable[[AnyCase], None],
) -> str | None:
    """Run `send` on `examples` cases of `strategy`; the failure (shrunk), or None."""

    @hypothesis.settings(
        max_examples=examples,
        deadline=None,
        derandomize=True,
        database=None,
        phases=[Phase.explicit, Phase.generate, Phase.shrink],
        suppress_health_check=[
            HealthCheck.too_slow,
            HealthCheck.filter_too_much,
            HealthCheck.data_too_large,
            HealthCheck.large_base_example,
        ],
        print_blob=False,
    )
    @given(case=strategy)
    def run(case: AnyCase) -> None:
        send(case)

    try:
        run()
    except (Exception, FailureGroup) as error:  # failed checks, or a request not sent
        return f"{operation.label}: {type(error).__name__}: {error}"
    return None


def fuzz_gateway(base_url: str, operator_key: str) -> Tally:
    """Fuzz every operation of the live gateway's OpenAPI; what was sent and what failed."""
    config = schemathesis.Config.from_dict(SCHEMA_CONFIG)
    schema = schemathesis.openapi.from_url(
        f"{base_url}/openapi.json", config=config, timeout=REQUEST_TIMEOUT_S
    )
    tally = Tally()
    session = requests.Session()

    def sender(key: str | None, *, expect: int | None = None) -> Callable[[AnyCase], None]:
        """Send a case with `key` (none: no key); expect `expect` when given. Without the
        operator key the actor header goes too: its 422 would come before the 401."""
        dropped = CREDENTIALS if key == operator_key else (*CREDENTIALS, ACTOR)

        def send(case: AnyCase) -> None:
            headers = headers_without(case, dropped)
            if key:
                headers["X-API-Key"] = key
            case.headers = headers
            response = case.call(base_url=base_url, session=session, timeout=REQUEST_TIMEOUT_S)
            tally.statuses[response.status_code] += 1
            case.validate_response(response, checks=CHECKS, headers=dict(headers))
            if expect is not None:
                assert response.status_code == expect, (
                    f"{case.operation.label} answered {response.status_code}, expected "
                    f"{expect}: {response.text[:300]}"
                )

        return send

    try:
        for result in schema.get_all_operations():
            if not isinstance(result, Ok):
                tally.failures.append(f"an operation the fuzz cannot read: {result.err()}")
                continue
            operation = result.ok()
            tally.operations += 1
            valid = operation.as_strategy(GenerationMode.POSITIVE)
            mixed = steered(st.one_of(valid, operation.as_strategy(GenerationMode.NEGATIVE)))
            runs = [
                (mixed, EXAMPLES_PER_OPERATION, sender(operator_key)),
                (valid, ANONYMOUS_EXAMPLES, sender(None, expect=401)),
                (valid, ANONYMOUS_EXAMPLES, sender(UNKNOWN_KEY, expect=401)),
            ]
            for strategy, examples, send in runs:
                if failure := fuzz(operation, strategy, examples, send):
                    tally.failures.append(failure)
    finally:
        session.close()
    return tally


def main(argv: list[str]) -> int:
    if len(argv) != 1 or not os.environ.get(KEY_ENV):
        print(f"usage: {KEY_ENV}=<operator key> python -m tests.faults.gateway_fuzz URL")
        return 2
    started = time.monotonic()
    tally = fuzz_gateway(argv[0].rstrip("/"), os.environ[KEY_ENV])
    print(f"{tally.summary()} in {time.monotonic() - started:.1f} s", flush=True)
    for failure in tally.failures:
        print(f"\n{failure}")
    return 1 if tally.failures else 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
