"""One fault scenario: a steady flow, a fault injected a third of the way in, the books
counted once the engine has settled, the row printed and kept for the suite's table.

    stack = await fault_stack(make_stack)
    row = await run_scenario(stack, "kill-9 router", inject=kill_and_restart(stack, "router"))

`ROWS` holds every row of the session; `tests/faults/conftest.py` prints them as one table.
"""

from __future__ import annotations

import asyncio
import re
import time
from collections.abc import Awaitable, Callable
from dataclasses import replace
from typing import Any

from tests.e2e.conftest import StackFactory
from tests.e2e.harness import E2EStack
from tests.faults.flow import Flow, prepare
from tests.faults.ledger import FaultRow, settle

ROWS: list[FaultRow] = []
Step = Callable[[], Awaitable[None]]

FAULT_ENV: dict[str, dict[str, str]] = {
    "router": {
        "MMX_ROUTER_MAX_ORDER_AGE_S": "8",
        "MMX_ROUTER_PENDING_GRACE_S": "10",
        "MMX_ROUTER_CLAIM_IDLE_S": "3",
        "MMX_RECV_WINDOW": "1000",
        "MMX_REQUEST_TIMEOUT_S": "1.5",
    },
}
"""Recovery within a scenario's seconds: a dead instance's messages are claimed after 2-3 s
(risk and positions already use 2 s in the e2e settings), an unsent approval may wait 8 s."""


async def fault_stack(make_stack: StackFactory, **options: Any) -> E2EStack:
    """A started stack with `FAULT_ENV` (`options` as for `make_stack`, e.g. `routers=`,
    `redis_url=`), its limits open and both marks fresh (`flow.prepare`)."""
    stack = await make_stack(env=FAULT_ENV, **options)
    await prepare(stack)
    return stack


async def run_scenario(
    stack: E2EStack,
    scenario: str,
    *,
    inject: Step,
    heal: Step | None = None,
    orders: int = 150,
    rate_per_s: float = 30.0,
    after_freeze: bool = False,
    settle_timeout_s: float = 45.0,
    seen: Callable[[], dict[str, int]] | None = None,
    between_orders: bool = False,
) -> FaultRow:
    """Run the flow, `inject` at a third of it, `heal` after it, and count (see module).

    `seen` adds counts the scenario took itself while it ran (e.g. orders open at the venue
    when the freeze sweep confirmed flat), by FaultRow field name. With `between_orders`,
    `inject` runs while the flow holds its next order (the one in flight answered first)."""
    started = time.monotonic()
    flow = Flow(stack, re.sub(r"[^a-z0-9]+", "-", scenario.lower())[:24].strip("-"))
    task = flow.start(orders=orders, rate_per_s=rate_per_s)
    await flow.reached(orders // 3)
    if between_orders:
        async with flow.paused():
            await inject()
    else:
        await inject()
    await task
    if heal is not None:
        await heal()
    row = await settle(
        scenario,
        stack.sim,
        stack.redis_url,
        flow.placed,
        flow.tried,
        after_freeze=after_freeze,
        timeout_s=settle_timeout_s,
    )
    extra = seen() if seen is not None else {}
    row = replace(
        row,
        seconds=time.monotonic() - started,
        **{name: getattr(row, name) + n for name, n in extra.items()},
    )
    ROWS.append(row)
    print(f"\n{FaultRow.header()}\n{row.line()}")
    assert not row.faults, f"{scenario}: {row.faults}: {'; '.join(row.examples)}"
    assert flow.placed, f"{scenario}: the gateway created no order at all: {flow.answers}"
    return row


def assert_all_alive(stack: E2EStack, what: str) -> None:
    """Every process the stack started still runs; else which one died `what`, with its log."""
    for process in stack.processes:
        assert process.alive, f"{process.name} died {what}:\n{process.log_tail()}"


def kill_and_restart(stack: E2EStack, service: str, *, down_s: float = 1.0) -> Step:
    """kill -9 the (first live) process of `service`; start a new one `down_s` later."""

    async def step() -> None:
        stack.service(service).kill()
        await asyncio.sleep(down_s)
        process = await stack.start_service(service)
        if service == "gateway":  # a new process on a new port: point the client at it
            await stack.connect_gateway(process)

    return step
