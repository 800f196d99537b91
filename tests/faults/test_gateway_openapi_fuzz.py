"""Property-based fuzz of the gateway's REST API from its own OpenAPI (schemathesis).

The whole stack runs as real processes (risk, router, positions, gateway) against a real
Redis and the Bybit simulator: `make_stack`, the e2e suite's fixture, which prints every
process's log when the test fails. `tests/faults/gateway_fuzz.py`, a process of its own,
reads the live gateway's `GET /openapi.json` and sends about 500 generated requests over
real HTTP. No answer may be a server error (5xx) or stray from what the OpenAPI documents;
calls without a valid key must be refused with 401. The fuzz's summary line (operations,
calls, statuses) is printed whether it passes or not.
"""

from __future__ import annotations

import asyncio
import os
import re
import sys

import pytest

from tests.e2e.conftest import StackFactory
from tests.faults.gateway_fuzz import KEY_ENV, SUMMARY
from tests.simulator import REPO_ROOT

pytestmark = pytest.mark.e2e

FUZZ_TIMEOUT_S = 120.0
"""The fuzz takes about 10 s here; past this it is stopped (by pid) and the test fails."""
GATEWAY_ENV = {
    # `?wait=true` waits at most this long: a fuzzed wait never dominates the run time.
    "MMX_GATEWAY_WAIT_DEFAULT_MS": "200",
    "MMX_GATEWAY_WAIT_MAX_MS": "500",
}


async def run_fuzz(gateway_url: str, operator_key: str) -> tuple[int, str]:
    """`python -m tests.faults.gateway_fuzz` against `gateway_url`: its exit code and output."""
    process = await asyncio.create_subprocess_exec(
        sys.executable,
        "-m",
        "tests.faults.gateway_fuzz",
        gateway_url,
        cwd=REPO_ROOT,
        env={**os.environ, KEY_ENV: operator_key},
        stdin=asyncio.subprocess.DEVNULL,
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.STDOUT,
    )
    try:
        output, _ = await asyncio.wait_for(process.communicate(), FUZZ_TIMEOUT_S)
    except TimeoutError:
        process.kill()
        output, _ = await process.communicate()
        return -1, f"no end after {FUZZ_TIMEOUT_S} s:\n{output.decode(errors='replace')}"
    assert process.returncode is not None
    return process.returncode, output.decode(errors="replace")


async def test_fuzzed_requests_to_every_gateway_operation_never_get_a_server_error(
    make_stack: StackFactory, capsys: pytest.CaptureFixture[str]
) -> None:
    stack = await make_stack(env={"gateway": GATEWAY_ENV})

    code, output = await run_fuzz(stack.service("gateway").url, stack.keys["e2e"])

    summary = next((line for line in output.splitlines() if line.startswith(SUMMARY)), None)
    with capsys.disabled():
        print(f"\n{summary or 'gateway OpenAPI fuzz: no summary'}")
    assert code == 0 and summary is not None, f"the fuzz exited with {code}:\n{output}"
    operations = re.search(r"(\d+) operations", summary)
    assert operations and int(operations[1]) >= 14, f"not every operation was fuzzed: {summary}"
