"""The AsyncAPI document of the streams says what the code does.

It has a channel for every stream of the topology, a subscriber for every consumer group,
the messages of `stream_flows.FLOWS` on each channel, the wire form of every message
accepted by the channels that carry it (and refused by the others), and it is the committed
docs/asyncapi.json.
"""

from __future__ import annotations

import json
from functools import cache
from pathlib import Path
from typing import Any
from urllib.parse import unquote

import jsonschema
import orjson
import pytest

from libs.common import topology
from libs.common.asyncapi import asyncapi_json, snapshot
from libs.common.messages import MESSAGE_TYPES, Envelope, Message
from libs.common.stream_flows import FLOWS, STREAM_FLOWS, Flow
from tests.unit.test_messages import SAMPLES

ROOT = Path(__file__).resolve().parents[2]
SNAPSHOT = ROOT / "docs" / "asyncapi.json"
REGENERATE = "regenerate with `python -m libs.common.asyncapi > docs/asyncapi.json`"


@cache
def document() -> dict[str, Any]:
    return asyncapi_json()


def channels_of(stream: str) -> dict[str, dict[str, Any]]:
    return {k: c for k, c in document()["channels"].items() if c["address"] == stream}


def payload_schema(channel: str) -> dict[str, Any]:
    """The schema of what `channel` carries, resolvable on its own (with the components)."""
    (ref,) = document()["channels"][channel]["messages"].values()
    message = document()["components"]["messages"][ref_name(ref)]
    return {**message["payload"], "components": document()["components"]}


def message_names(channel: str) -> set[str]:
    """The names of the models a channel's payload may be (each member of its union)."""
    schemas = document()["components"]["schemas"]
    payload = payload_schema(channel)
    name = ref_name(payload)
    members = schemas[name].get("oneOf", [{"$ref": name}])
    return {ref_name(member) for member in members}


def ref_name(ref: dict[str, Any]) -> str:
    """The component a `$ref` names (a JSON pointer in URI form: percent-encoded)."""
    return unquote(ref["$ref"].rsplit("/", 1)[-1])


def accepts(channel: str, entry: object) -> bool:
    return jsonschema.Draft202012Validator(payload_schema(channel)).is_valid(entry)


def wire(message: Message) -> object:
    return orjson.loads(Envelope.wrap(message).to_json())


def model_names(flow: Flow, types: tuple[type[Any], ...]) -> set[str]:
    return {
        f"{t.TYPE}Envelope" if flow.enveloped and issubclass(t, Message) else t.__name__
        for t in types
    }


def test_the_committed_document_is_the_generated_one() -> None:
    committed = json.loads(SNAPSHOT.read_text())

    assert committed == document(), f"docs/asyncapi.json is stale: {REGENERATE}"
    assert SNAPSHOT.read_text() == snapshot(), (
        f"docs/asyncapi.json is not as generated: {REGENERATE}"
    )


def test_every_stream_of_the_topology_has_one_flow_and_its_channels() -> None:
    addresses = {c["address"] for c in document()["channels"].values()}
    every = (*topology.ACCOUNT_STREAMS, *topology.STREAMS)
    grouped = [s for s in every if any(s in g for g in topology.CONSUMES.values())]

    assert sorted(map(str, (f.stream for f in STREAM_FLOWS))) == sorted(map(str, every))
    assert addresses == {_name(s) for s in every} | {_name(s.dlq) for s in grouped}
    assert {f.name for f in FLOWS} == addresses


def test_an_account_streams_channels_declare_the_account_parameter() -> None:
    channels = document()["channels"].values()
    family = [c for c in channels if c["address"].startswith("mmx:{account}:")]

    assert family and all("account" in c["parameters"] for c in family)
    assert all("parameters" not in c for c in channels if c not in family)


def _name(stream: topology.AnyStream) -> str:
    return stream.pattern if isinstance(stream, topology.AccountStream) else stream.name


def test_every_registered_message_type_flows_on_some_stream() -> None:
    carried = {m.TYPE for f in FLOWS for m in f.messages if issubclass(m, Message)}
    declared = {
        name.removesuffix("Envelope")
        for channel in document()["channels"]
        for name in message_names(channel)
    }

    assert carried == set(MESSAGE_TYPES)
    assert declared >= set(MESSAGE_TYPES)


def test_each_consumer_group_is_a_subscriber_of_each_stream_it_reads() -> None:
    operations = document()["operations"]

    for group, streams in topology.CONSUMES.items():
        for stream in streams:
            title = f"{stream}:group:{group}"
            binding = document()["channels"][title]["bindings"]["redis"]
            assert (binding["method"], binding["groupName"]) == ("xreadgroup", str(group))
            assert operations[title]["action"] == "receive"
    subscribers = {
        k for k, c in document()["channels"].items() if c["bindings"]["redis"].get("groupName")
    }
    assert len(subscribers) == sum(len(streams) for streams in topology.CONSUMES.values())


@pytest.mark.parametrize("flow", FLOWS, ids=lambda f: f.name)
def test_each_channel_carries_the_messages_of_the_table(flow: Flow) -> None:
    expected = {f"{flow.stream}:send:{service}" for service in flow.producers}
    expected |= {f"{flow.stream}:group:{group}" for group in flow.groups}
    expected |= {f"{flow.stream}:read:{reader}" for reader in flow.readers}

    assert set(channels_of(flow.name)) == expected
    for service, types in flow.producers.items():
        assert message_names(f"{flow.stream}:send:{service}") == model_names(flow, types)
    for title in expected - {f"{flow.stream}:send:{service}" for service in flow.producers}:
        assert message_names(title) == model_names(flow, flow.messages)


def test_every_producer_appends_only_what_its_stream_carries() -> None:
    for flow in FLOWS:
        assert flow.producers, f"{flow.stream} has no producer"
        for types in flow.producers.values():
            assert set(types) <= set(flow.messages)


@pytest.mark.parametrize("message", SAMPLES, ids=lambda m: m.TYPE)
def test_the_wire_form_of_a_message_is_accepted_exactly_where_it_flows(message: Message) -> None:
    entry = wire(message)

    for flow in (f for f in FLOWS if f.enveloped):
        for title in channels_of(flow.name):
            carries = f"{message.TYPE}Envelope" in message_names(title)
            assert accepts(title, entry) is carries, (title, message.TYPE)


def test_an_envelope_whose_payload_is_not_its_type_is_refused() -> None:
    cancel = wire(next(m for m in SAMPLES if m.TYPE == "CancelOrder"))
    place = wire(next(m for m in SAMPLES if m.TYPE == "PlaceOrder"))
    assert isinstance(cancel, dict) and isinstance(place, dict)

    assert not accepts(
        "mmx:{account}:orders.requests:group:risk", {**cancel, "payload": place["payload"]}
    )
    assert not accepts("mmx:{account}:orders.requests:group:risk", {**cancel, "schema_version": 2})
