"""The simulator's periodic work, for every personality: the market's random walk, public
stream flushes, state saves, and whatever else the personality's state asks for."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import AsyncIterator, Callable
from functools import partial

from aiohttp import web

from libs.common.tasks import cancel_and_wait
from services.venue_sim.gate import STATE
from services.venue_sim.state import Periodic, SimState

log = logging.getLogger("services.venue_sim")


async def every(seconds: Callable[[], float], action: Callable[[], None], name: str) -> None:
    """Run `action` every `seconds()` seconds until cancelled; a failure is logged, not fatal."""
    while True:
        await asyncio.sleep(seconds())
        try:
            action()
        except Exception:
            log.exception("%s failed", name)


def _save_if_changed(state: SimState) -> None:
    if state.dirty:
        state.save()


async def background(app: web.Application) -> AsyncIterator[None]:
    """aiohttp cleanup context: start the periodic tasks, and on shutdown stop them, close
    the WebSocket connections and save the state (when a state file is configured)."""
    state = app[STATE]
    interval = state.settings.public_interval_ms / 1000
    periodic: list[Periodic] = [
        (lambda: state.tick_ms / 1000, state.step_market, "market"),
        (lambda: interval, state.flush_public, "public flush"),
        *state.periodic(),
    ]
    path = state.settings.state_path
    if path is not None:
        save_s = state.settings.state_save_interval_s
        periodic.append((lambda: save_s, partial(_save_if_changed, state), "save"))
    tasks = [asyncio.create_task(every(*job)) for job in periodic]
    yield
    for task in tasks:
        await cancel_and_wait(task)
    state.drop_connections("all")
    if path is not None:
        log.info("saved the venue state to %s: %s", path, state.save())
