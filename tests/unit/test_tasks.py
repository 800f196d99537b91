"""A task that swallows a cancel still ends: `cancel_and_wait` cancels it again."""

from __future__ import annotations

import asyncio

from libs.common.tasks import cancel_and_wait


async def test_a_task_that_swallows_the_first_cancel_is_cancelled_again_until_it_ends() -> None:
    swallowed = 0

    async def stubborn() -> None:
        nonlocal swallowed
        try:
            await asyncio.sleep(60)
        except asyncio.CancelledError:
            swallowed += 1  # as a library retry loop would, then it waits again
        await asyncio.sleep(60)

    task = asyncio.create_task(stubborn())
    await asyncio.sleep(0)
    async with asyncio.timeout(5):
        await cancel_and_wait(task, every_s=0.05)
    assert task.cancelled() and swallowed == 1


async def test_a_task_that_already_ended_is_left_as_it_is() -> None:
    async def quick() -> int:
        return 7

    task = asyncio.create_task(quick())
    await task
    await cancel_and_wait(task)
    assert task.result() == 7
