"""The streams of mmx declared with FastStream, and the AsyncAPI document built from them.

`declare()` turns `libs.common.stream_flows.FLOWS` (what flows on each stream of
`libs.common.topology`) into FastStream publishers, one per producing service, and
subscribers, one per consumer group and per group-less reader, on a `RedisBroker` that never
connects (a declaration: nothing here does I/O). `asyncapi_json()` is the AsyncAPI 3.0.0
document FastStream generates from them; the gateway serves it at `/asyncapi.json`, and as a
page at `/asyncapi` (`asyncapi_html`: self-contained, nothing from a CDN).

The services do not run these subscribers: their hot path is the batch consumer of
`libs.common.bus` (see docs/architecture.md). Each entry of an enveloped stream is one field,
`__data__`, holding the JSON of an `Envelope` whose `type` names the message in `payload`:
the document describes it as a union of one envelope per message type, discriminated on `type`.

    python -m libs.common.asyncapi > docs/asyncapi.json      # the committed snapshot
"""

from __future__ import annotations

import json
from functools import cache
from typing import Annotated, Any, Literal, Union

from faststream import FastStream
from faststream.redis import RedisBroker, StreamSub
from faststream.specification import AsyncAPI
from pydantic import BaseModel, Field, create_model

from libs.common.asyncapi_page import render_page
from libs.common.messages import Envelope, Message
from libs.common.stream_flows import FLOWS, Flow

TITLE = "mmx streams"
VERSION = "1"
ACCOUNT_PARAMETER = "{account}"
"""Where an account stream's address names its account (`topology.AccountStream.pattern`)."""
ACCOUNT_TEXT = (
    "An account of `MMX_ACCOUNTS` (its own stream, in its Redis Cluster slot); for the "
    "families that have one, `desk` is the desk's own stream."
)
CONSUMER_NAME = "{hostname}-{pid}-{random}"
"""How each instance names its consumer in a group (`default_consumer_name`)."""


@cache
def envelope_of(message_type: type[Message]) -> type[Envelope]:
    """The envelope of one message type, for the document: `type` fixed, `payload` typed."""
    type_name: Any = Literal[message_type.TYPE]  # a Literal built at run time
    version: Any = Literal[message_type.SCHEMA_VERSION]
    return create_model(
        f"{message_type.TYPE}Envelope",
        __base__=Envelope,
        __doc__=f"An `Envelope` carrying a `{message_type.TYPE}`.",
        type=(type_name, ...),
        schema_version=(version, ...),
        payload=(message_type, ...),
    )


def entry_type(types: tuple[type[BaseModel], ...], enveloped: bool = True) -> Any:
    """What an entry of these types holds: on an enveloped stream, the union of their
    envelopes discriminated on `type`; else the entry's own model."""
    models = [envelope_of(t) if enveloped and issubclass(t, Message) else t for t in types]
    if len(models) == 1:
        return models[0]
    return Annotated[Union[tuple(models)], Field(discriminator="type")]  # noqa: UP007


def declare(broker: RedisBroker) -> dict[str, Flow]:
    """Declare on `broker` a publisher per producing service, a subscriber per consumer
    group and one per group-less reader of each flow's stream; return them by title."""
    declared: dict[str, Flow] = {}
    for flow in FLOWS:
        name, about = flow.name, _stream_text(flow)
        received = entry_type(flow.messages, flow.enveloped)
        for service, types in flow.producers.items():
            title = f"{name}:send:{service}"
            sent = ", ".join(t.__name__ for t in types)
            broker.publisher(
                stream=name,
                title=title,
                description=f"{about} {service} appends {sent}.",
                schema=entry_type(types, flow.enveloped),
            )
            declared[title] = flow
        for group in flow.groups:
            title = f"{name}:group:{group}"
            broker.subscriber(
                stream=StreamSub(name, group=str(group), consumer=CONSUMER_NAME),
                title=title,
                description=f"{about} Group `{group}`: each entry to one {group} instance.",
            )(_declared_only(received))
            declared[title] = flow
        for reader in flow.readers:
            title = f"{name}:read:{reader}"
            broker.subscriber(
                stream=StreamSub(name),
                title=title,
                description=f"{about} Every {reader} instance reads every entry (no group).",
            )(_declared_only(received))
            declared[title] = flow
    return declared


def _stream_text(flow: Flow) -> str:
    text = flow.about
    if flow.enveloped:
        text += " Each entry is one field, `__data__`: an `Envelope` as JSON, `type` naming it."
    if flow.ranged_by:
        text += f" Read by range by {flow.ranged_by}."
    return text


def _declared_only(entry: Any) -> Any:
    """A subscriber's handler, for the document only: its parameter says what it receives."""

    async def handle(message: Any) -> None:
        raise NotImplementedError("declared for the AsyncAPI document; libs.common.bus reads")

    handle.__annotations__ = {"message": entry, "return": None}
    return handle


def build_app() -> tuple[FastStream, dict[str, Flow]]:
    """A FastStream app over a broker that declares every flow and never connects, and the
    flow of each channel it declared."""
    broker = RedisBroker(
        specification_url="redis://127.0.0.1:6379/0",
        description="The Redis every service is given (`REDIS_URL`; the default is shown).",
    )
    declared = declare(broker)
    description = (
        "The Redis streams of mmx, generated from the table `FLOWS` of "
        "`libs/common/stream_flows.py` and the consumer groups of `libs/common/topology.py`. "
        "The services read them with their own batch consumer (`libs/common/bus.py`), not "
        "with these subscribers: this document declares the flows, it does not run them."
    )
    spec = AsyncAPI(title=TITLE, version=VERSION, description=description)
    return FastStream(broker, specification=spec), declared


@cache
def asyncapi_text() -> str:
    """The AsyncAPI 3.0.0 document of the streams as JSON text, built once."""
    app, declared = build_app()
    document: dict[str, Any] = app.schema.to_specification().to_jsonable()
    for key, message in document["components"]["messages"].items():
        # FastStream places the correlation id in a header; ours is in the envelope.
        if declared[key.rsplit(":", 1)[0]].enveloped:
            message["correlationId"] = {"location": "$message.payload#/correlation_id"}
        else:
            message.pop("correlationId", None)
    for channel in document["channels"].values():
        if ACCOUNT_PARAMETER in channel["address"]:
            channel["parameters"] = {"account": {"description": ACCOUNT_TEXT}}
    return json.dumps(document)


def asyncapi_json() -> dict[str, Any]:
    """The AsyncAPI 3.0.0 document of the streams, as a fresh dict."""
    document: dict[str, Any] = json.loads(asyncapi_text())
    return document


@cache
def asyncapi_html(json_url: str = "/asyncapi.json") -> str:
    """The document as one self-contained HTML page (no script, no stylesheet to fetch)."""
    return render_page(asyncapi_json(), json_url)


def snapshot() -> str:
    """The document as committed in docs/asyncapi.json."""
    return json.dumps(asyncapi_json(), indent=2, sort_keys=True, ensure_ascii=False) + "\n"


if __name__ == "__main__":
    print(snapshot(), end="")
