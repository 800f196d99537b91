"""The routers' venue circuit breakers, as each router instance last wrote its own.

Each router writes `venue_circuit_key(instance)` (state, failures, reason, updated_ns and,
after probing for a resume of trading, `probed_epoch`) at every change and every venue
probe; the key expires when its router stops writing it. `GET /v1/risk` shows them all.

An unfreeze answers with them after `settle`: a router whose circuit is not closed asks the
venue once when it sees trading resume (`services.router.venue_health`) and closes the
circuit if the venue answers; `settle` waits, at most `timeout_s`, until each circuit is
closed or has probed for the new epoch, so the reply shows what the routers found rather
than a circuit about to close.
"""

from __future__ import annotations

import asyncio
import time

from redis.asyncio import Redis

from libs.common.domain.time import NS_PER_MS
from libs.common.metrics import CircuitState
from libs.common.venue_circuits import read_circuit_fields
from services.gateway.schemas_risk import VenueCircuit

CLOSED = CircuitState.CLOSED.value
POLL_S = 0.05


async def read_circuits(redis: Redis) -> list[VenueCircuit]:
    """Every router instance's circuit, by instance name (`read_circuit_fields`)."""
    return [_circuit(i, fields) for i, fields in (await read_circuit_fields(redis)).items()]


def _circuit(instance: str, fields: dict[str, str]) -> VenueCircuit:
    probed = fields.get("probed_epoch")
    return VenueCircuit(
        instance=instance,
        state=fields.get("state", "unknown"),
        failures=int(fields.get("failures") or 0),
        reason=fields.get("reason", ""),
        updated_time=int(fields.get("updated_ns") or 0) // NS_PER_MS,
        probed_epoch=None if probed is None else int(probed),
    )


async def settle(redis: Redis, epoch: int, timeout_s: float) -> list[VenueCircuit]:
    """The circuits once each is closed or has probed for `epoch` (or after `timeout_s`)."""
    deadline = time.monotonic() + timeout_s
    while True:
        circuits = await read_circuits(redis)
        if all(_settled(c, epoch) for c in circuits) or time.monotonic() >= deadline:
            return circuits
        await asyncio.sleep(POLL_S)


def _settled(circuit: VenueCircuit, epoch: int) -> bool:
    return circuit.state == CLOSED or (circuit.probed_epoch or 0) >= epoch
