"""Ending a task for sure (`cancel_and_wait`), and a loop's sleep its stop cuts short."""

from __future__ import annotations

import asyncio

from libs.common.tasks import cancel_and_wait, wait_or_timeout


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


async def test_the_sleep_ends_early_when_told_to_stop_and_otherwise_after_its_time() -> None:
    stop = asyncio.Event()
    assert await wait_or_timeout(stop, 0.01) is False
    asyncio.get_running_loop().call_later(0.01, stop.set)
    async with asyncio.timeout(5):
        assert await wait_or_timeout(stop, 60) is True


async def test_the_sleep_is_ended_by_a_cancel() -> None:
    task = asyncio.create_task(wait_or_timeout(asyncio.Event(), 60))
    await asyncio.sleep(0)
    task.cancel()
    async with asyncio.timeout(5):
        await asyncio.gather(task, return_exceptions=True)
    assert task.cancelled()
