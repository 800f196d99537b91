"""Types of the bus: codecs, deliveries, consumer specs, errors.

BusError
├── BusConfigError      a consumer or bus set up wrongly (raised at construction)
└── PoisonMessage       raised by a handler (or the bus, for an undecodable entry):
                        dead-letter this message now, without retries
"""

from __future__ import annotations

import os
import secrets
import socket
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass, field
from enum import StrEnum
from typing import Generic, Protocol, TypeVar

from libs.common.topology import Stream

T = TypeVar("T")

DATA_FIELD = b"__data__"
"""The one field of a bus entry: the encoded message. FastStream reads the same field."""


class BusError(Exception):
    """Base of the errors raised by the bus."""


class BusConfigError(BusError, ValueError):
    """A bus or consumer was configured wrongly."""


class PoisonMessage(BusError):
    """Raise from a handler to dead-letter the message at once: retrying cannot help."""


class Codec(Protocol[T]):
    """Turns messages into the bytes of an entry and back."""

    def encode(self, message: T, /) -> bytes: ...

    def decode(self, data: bytes, /) -> T: ...


class BytesCodec:
    """The identity codec: messages are the raw bytes of the entry."""

    def encode(self, message: bytes, /) -> bytes:
        return message

    def decode(self, data: bytes, /) -> bytes:
        return data


@dataclass(frozen=True, slots=True)
class Delivery(Generic[T]):
    """One stream entry handed to a handler."""

    message: T
    stream: str
    entry_id: str
    attempt: int
    """1 on the first delivery; each retry or claim by another consumer adds one."""


Handler = Callable[[Delivery[T]], Awaitable[None]]
"""Handles one message; returning acks it, raising retries it (see `StreamConsumer`)."""

BatchHandler = Callable[[Sequence[Delivery[T]]], Awaitable[Sequence[BaseException | None]]]
"""Handles a whole batch at once (one pipeline of reads, one of writes) and returns one result
per delivery, in order: None acks it, an exception retries it (or dead-letters a
`PoisonMessage`). If the call itself raises, the batch is split and each message is handed
over alone, so one poison message cannot spend its neighbours' deliveries."""


class Ack(StrEnum):
    """When a consumer XACKs the messages its handler finished."""

    BATCH = "batch"
    """One XACK for all successes of a batch, after the whole batch ran. The fast path; a
    crash mid-batch redelivers the batch's finished messages too (handlers are idempotent)."""
    MESSAGE = "message"
    """One XACK right after each success: the per-message variant, one round trip per message."""


def default_consumer_name() -> str:
    """Return a consumer name unique to this process: `hostname-pid-random`."""
    return f"{socket.gethostname()}-{os.getpid()}-{secrets.token_hex(3)}"


@dataclass(frozen=True, slots=True, kw_only=True)
class ConsumerSpec:
    """How one consumer reads one stream in one group; checked at construction.

    Timing rule: `claim_idle_ms` must exceed the worst time to handle a whole batch, or live
    consumers' in-flight messages get claimed and handled twice.
    """

    stream: Stream
    group: str
    ack: Ack
    consumer: str = field(default_factory=default_consumer_name)
    max_records: int = 50
    """COUNT of each XREADGROUP: the batch size (never unbounded, see the FastStream notes)."""
    block_ms: int = 100
    """BLOCK of each XREADGROUP: how long a read waits for new entries."""
    max_deliveries: int = 12
    """Deliveries (first + retries + claims) before a failing message is dead-lettered. With
    the doubling backoff capped at half `claim_idle_ms`, 12 span 85 s for a 30 s claim idle
    (63 s for the router's 20 s, 20 s for risk's 5 s): longer than a Redis failover or a
    venue blip, so an outage delays a fill or an order but does not dead-letter it (5 used
    to give up in 3 s)."""
    retry_backoff_ms: int = 200
    """Wait before the first retry of a failed message; doubles per delivery."""
    claim_idle_ms: int = 30_000
    """Entries pending this long in any consumer are claimed (XAUTOCLAIM) and handled."""
    claim_interval_ms: int = 1_000
    """How often this consumer looks for such entries."""
    start_id: str = "0"
    """Where a new group starts: `0` reads what the stream retains, `$` only what comes next."""
    reap_idle_ms: int = 3_600_000
    """Consumers of the group idle this long with nothing pending are deleted; 0 never."""

    def __post_init__(self) -> None:
        problems = [
            text
            for bad, text in (
                (not self.group or not self.consumer, "group and consumer must be non-empty"),
                (not 1 <= self.max_records <= 10_000, "max_records must be 1..10000"),
                (self.block_ms < 1, "block_ms must be >= 1 (0 would block forever)"),
                (self.max_deliveries < 1, "max_deliveries must be >= 1"),
                (self.retry_backoff_ms < 1, "retry_backoff_ms must be >= 1"),
                (
                    self.claim_idle_ms <= 2 * self.retry_backoff_ms,
                    "claim_idle_ms must exceed twice retry_backoff_ms",
                ),
                (self.claim_interval_ms < 1, "claim_interval_ms must be >= 1"),
                (self.start_id not in ("0", "$"), "start_id must be '0' or '$'"),
                (self.reap_idle_ms < 0, "reap_idle_ms must be >= 0"),
            )
            if bad
        ]
        if problems:
            raise BusConfigError(f"consumer of {self.stream} is invalid: {'; '.join(problems)}")

    @property
    def max_retry_delay_ms(self) -> int:
        """Cap of the retry backoff: half the claim idle, so retries are not claimed first."""
        return self.claim_idle_ms // 2

    def retry_delay_ms(self, deliveries: int) -> int:
        """Wait before redelivering a message that failed its `deliveries`-th delivery."""
        exponent = min(max(deliveries - 1, 0), 30)
        return min(self.retry_backoff_ms << exponent, self.max_retry_delay_ms)
