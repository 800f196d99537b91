"""Poison entries on every stream, mid-flow: each consumer dead-letters (or, for a broadcast,
skips) what it cannot read and goes on; the flow is untouched."""

from __future__ import annotations

import pytest

from libs.common import topology
from libs.common.domain.ids import DEFAULT_ACCOUNT
from libs.common.redis_connect import redis_from_url
from tests.e2e.conftest import StackFactory
from tests.e2e.harness import wait_for
from tests.faults.scenario import assert_all_alive, fault_stack, run_scenario

pytestmark = pytest.mark.e2e

ACCOUNTS = (DEFAULT_ACCOUNT,)
"""The fault stack's accounts: every stream of theirs and the desk's is poisoned."""
POISONS: list[dict[str, bytes]] = [
    {b"__data__": b"not json at all"},
    {b"__data__": b'{"type": "NoSuchMessage", "payload": {}}'},
    {b"__data__": b'{"type": "OrderApproved", "payload": {"order": 42}}'},
    {b"something": b"else"},
]
"""Undecodable, of an unknown type, of a known type with a bad body, and without a body."""


async def test_poison_on_every_stream_is_dead_lettered_and_the_flow_goes_on(
    make_stack: StackFactory,
) -> None:
    stack = await fault_stack(make_stack)
    client = redis_from_url(stack.redis_url)

    async def poison_every_stream() -> None:
        for stream in topology.all_streams(ACCOUNTS):
            for fields in POISONS:
                await client.xadd(stream.name, fields)  # type: ignore[arg-type]

    grouped = {s for streams in topology.consumed(ACCOUNTS).values() for s in streams}
    try:
        await run_scenario(stack, "poison on every stream", inject=poison_every_stream)

        async def dead_lettered() -> dict[str, int] | None:
            lengths = {s.name: await client.xlen(s.dlq.name) for s in grouped}
            return lengths if all(n >= len(POISONS) for n in lengths.values()) else None

        await wait_for(dead_lettered, what="every poison dead-lettered", timeout_s=20)
    finally:
        await client.aclose()
    assert_all_alive(stack, "of a poison entry")
