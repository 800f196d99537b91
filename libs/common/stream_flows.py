"""What flows on each stream of `libs.common.topology`: the one table of it, `FLOWS`.

For each stream: which service appends which message types, who reads it in full without a
group, and who reads it by range; its consumer groups are `topology.CONSUMES`. The AsyncAPI
document of the streams (`libs.common.asyncapi`) is declared from this table.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Annotated

from pydantic import BaseModel, ConfigDict, Field

from libs.common import messages as msg
from libs.common import topology
from libs.common.domain.risk_checks import TradingState
from libs.common.messages import Message
from libs.common.topology import AnyStream, Stream

Digits = Annotated[str, Field(pattern=r"^[0-9]+$")]
"""A whole number in a stream entry's field (Redis keeps every field as a string)."""


class FreezeHistoryEntry(BaseModel):
    """An entry of `risk.freeze_history`: these fields, not an envelope (written by the
    trading-state script with the `control` broadcast, in the same step)."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    state: TradingState
    previous: TradingState
    reason: str
    actor: str
    epoch: Digits
    ts_ns: Digits
    account: str = ""
    """The account whose own state changed; "" for the desk's (and in entries written
    before accounts, which have no such field)."""


class DeadLetterEntry(BaseModel):
    """An entry of `<stream>.dlq`: these fields, not an envelope. A group's consumer writes it
    when it gives up on an entry of `stream`; `mmx dlq replay` puts `__data__` back there."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    stream: str
    id: str = Field(description="The entry id on the source stream.")
    group: str
    consumer: str
    attempts: Digits
    error: str
    data: str = Field(alias="__data__", description="The source entry's `__data__`, as it was.")


@dataclass(frozen=True, slots=True)
class Flow:
    """What flows on one stream: who appends which messages, and who reads it in full."""

    stream: AnyStream
    """A desk-wide stream, or a family of account streams (`topology.AccountStream`)."""
    about: str
    """What the stream is for, in a sentence."""
    producers: Mapping[str, tuple[type[BaseModel], ...]]
    """Each service that appends to the stream, and the message types it appends."""
    readers: tuple[str, ...] = ()
    """Services whose every instance reads the whole stream without a group (XREAD)."""
    also_read: tuple[type[Message], ...] = ()
    """Types the stream's readers handle that no service appends today."""
    ranged_by: str = ""
    """Who reads it by range (XRANGE / XREVRANGE) rather than by following it."""
    enveloped: bool = True
    """False for a stream whose entries are plain fields (its one model says which)."""

    @property
    def name(self) -> str:
        """The stream's name; a family's with `{account}` for the account."""
        return self.stream.name if isinstance(self.stream, Stream) else self.stream.pattern

    @property
    def messages(self) -> tuple[type[BaseModel], ...]:
        """Every type the stream carries, in declaration order, each once."""
        found = [m for types in self.producers.values() for m in types] + list(self.also_read)
        return tuple(dict.fromkeys(found))

    @property
    def groups(self) -> tuple[topology.Group, ...]:
        """The consumer groups reading the stream (`topology.CONSUMES`)."""
        return tuple(g for g, streams in topology.CONSUMES.items() if self.stream in streams)


_STATE_WRITERS = ("gateway", "risk", "router")
"""Whoever freezes or unfreezes: the gateway (operators), risk (its triggers), the router
(venue health)."""

STREAM_FLOWS: tuple[Flow, ...] = (
    Flow(
        topology.ORDERS_REQUESTS,
        "Commands from the gateway for risk to check, each account's on its own stream; edge "
        "reports on the desk's.",
        producers={
            "gateway": (
                msg.PlaceOrder,
                msg.AmendOrder,
                msg.CancelOrder,
                msg.CancelAllOrders,
                msg.ReportEdge,
            )
        },
        also_read=(msg.FreezeTrading,),
    ),
    Flow(
        topology.ORDERS_APPROVED,
        "Commands risk approved, for the router to send to the venue.",
        producers={
            "risk": (msg.OrderApproved, msg.AmendOrder, msg.CancelOrder, msg.CancelAllOrders)
        },
    ),
    Flow(
        topology.ORDERS_EVENTS,
        "Everything that happened to orders, for everyone.",
        producers={
            "risk": (msg.OrderDenied, msg.OrderAmendRejected, msg.EdgeMeasured),
            "router": (
                msg.OrderSubmitted,
                msg.OrderAcknowledged,
                msg.OrderRejected,
                msg.OrderAmended,
                msg.OrderAmendRejected,
                msg.OrderCanceled,
                msg.OrderCancelRejected,
                msg.OrderFilled,
                msg.FundingSettled,
            ),
        },
        readers=("gateway",),
    ),
    Flow(
        topology.POSITIONS_UPDATES,
        "Position and P&L changes.",
        producers={"positions": (msg.PositionUpdated,)},
        readers=("gateway",),
    ),
    Flow(
        topology.CONTROL,
        "Trading state broadcasts: every change of a freeze key (the desk's on the desk's "
        "stream, an account's on its own), announced.",
        producers=dict.fromkeys(_STATE_WRITERS, (msg.TradingStateChanged,)),
        readers=("router", "gateway"),
    ),
    Flow(
        topology.RISK_FREEZE_HISTORY,
        "The audit trail of trading state changes.",
        producers=dict.fromkeys(_STATE_WRITERS, (FreezeHistoryEntry,)),
        ranged_by="gateway (`GET /v1/risk`)",
        enveloped=False,
    ),
    Flow(
        topology.AUDIT,
        "Operator actions, the repairs the exposure audit made, the auto-recovery's steps and "
        "each change the scaling rule made to the limits.",
        producers={
            "gateway": (
                msg.OperatorAction,
                msg.FreezeTrading,
                msg.UnfreezeTrading,
                msg.SetRiskLimits,
            ),
            "risk": (msg.ExposureRepaired, msg.OperatorAction, msg.LimitsScaled),
            "mmx-cli": (msg.OperatorAction,),
        },
        ranged_by="gateway (the console's audit panel)",
    ),
)
"""Every stream and family of `topology` (`ACCOUNT_STREAMS` and `STREAMS`), each once."""

FLOWS: tuple[Flow, ...] = STREAM_FLOWS + tuple(
    Flow(
        flow.stream.dlq,
        f"Entries of `{flow.stream}` a group gave up on.",
        producers={str(group): (DeadLetterEntry,) for group in flow.groups},
        ranged_by="`mmx dlq` and the dead_letter_length metric",
        enveloped=False,
    )
    for flow in STREAM_FLOWS
    if flow.groups
)
"""Every stream with its flows, then the dead-letter stream of each stream a group reads
(a stream read without a group has no dead letters)."""
