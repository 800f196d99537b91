"""Fixtures of the bus tests: a bytes bus on the test's Redis db, and runners stopped after."""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Protocol, TypeVar

import pytest
import redis.asyncio as aioredis

from libs.common.bus import Bus, BytesCodec, Runner

R = TypeVar("R", bound=Runner)


class Start(Protocol):
    async def __call__(self, runner: R) -> R: ...


@pytest.fixture
def bus(redis: aioredis.Redis) -> Bus[bytes]:
    return Bus(redis, BytesCodec())


@pytest.fixture
async def start(redis: aioredis.Redis) -> AsyncIterator[Start]:
    """Start a runner now and stop it after the test, whatever happens."""
    runners: list[Runner] = []

    async def start_runner(runner: R) -> R:
        await runner.start()
        runners.append(runner)
        return runner

    yield start_runner
    for runner in reversed(runners):
        await runner.stop()
