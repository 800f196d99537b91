"""An AsyncAPI 3.0.0 document as one self-contained HTML page: its streams (channels by
address), the operations on each, and every schema with its fields.

FastStream's own page loads the AsyncAPI React component from a CDN; this one needs nothing
but itself (inline style, no script), so it works offline and behind a strict CSP.
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterator, Mapping
from html import escape
from typing import Any
from urllib.parse import unquote

STYLE = """
body { font: 15px/1.5 system-ui, sans-serif; margin: 2rem auto; max-width: 70rem;
       padding: 0 1rem; color: #1d2330; }
h1, h2, h3 { line-height: 1.2; } h2 { margin-top: 2.5rem; border-bottom: 1px solid #ccd; }
h3 { margin-top: 1.5rem; } code { background: #f0f2f6; padding: 0 .25em; border-radius: 3px; }
table { border-collapse: collapse; width: 100%; margin: .5rem 0 1rem; }
th, td { text-align: left; vertical-align: top; border-bottom: 1px solid #e3e6ee;
         padding: .3rem .5rem; } th { background: #f6f7fa; }
.send { color: #8a4b00; } .receive { color: #075e2f; } .muted { color: #5b6275; }
"""
SENTENCE_END = re.compile(r"(?<=\.) ")
PAYLOAD_MARK = ":"
"""FastStream names a channel's payload schema after the channel (`stream:...:Payload`);
the models the payloads refer to have plain names."""


def render_page(document: Mapping[str, Any], json_url: str) -> str:
    """The page of `document`, linking to its JSON at `json_url`."""
    info = document.get("info", {})
    title = escape(str(info.get("title", "AsyncAPI")))
    parts = [
        "<!doctype html>",
        '<html lang="en"><head><meta charset="utf-8">',
        f"<title>{title}</title><style>{STYLE}</style></head><body>",
        f"<h1>{title} <span class=muted>{escape(str(info.get('version', '')))}</span></h1>",
        f"<p>{_text(info.get('description', ''))}</p>",
        f"<p>AsyncAPI {escape(str(document.get('asyncapi', '')))}: "
        f'<a href="{escape(json_url)}">the document as JSON</a>.</p>',
        *_servers(document.get("servers", {})),
        *_streams(document),
        "<h2 id=schemas>Schemas</h2>",
        *_schemas(document.get("components", {}).get("schemas", {})),
        "</body></html>",
    ]
    return "\n".join(parts) + "\n"


def _servers(servers: Mapping[str, Any]) -> Iterator[str]:
    yield "<h2 id=servers>Servers</h2><table><tr><th>name</th><th>where</th><th></th></tr>"
    for name, server in servers.items():
        where = f"{server.get('protocol', '')}://{server.get('host', '')}"
        where += str(server.get("pathname", ""))
        yield (
            f"<tr><td>{escape(name)}</td><td><code>{escape(where)}</code></td>"
            f"<td>{_text(server.get('description', ''))}</td></tr>"
        )
    yield "</table>"


def _streams(document: Mapping[str, Any]) -> Iterator[str]:
    channels: Mapping[str, Any] = document.get("channels", {})
    actions = {
        op["channel"]["$ref"].rsplit("/", 1)[-1]: op.get("action", "")
        for op in document.get("operations", {}).values()
    }
    by_address: dict[str, list[str]] = {}
    order = {"send": 0, "receive": 1}
    for name in sorted(channels, key=lambda n: (order.get(actions.get(n, ""), 2), n)):
        by_address.setdefault(str(channels[name].get("address", name)), []).append(name)
    components = document.get("components", {})
    yield "<h2 id=streams>Streams</h2>"
    for address, names in sorted(by_address.items()):
        texts = [str(channels[name].get("description", "")) for name in names]
        shared, rests = _shared_sentences(texts)
        yield f"<h3 id='stream-{escape(address)}'><code>{escape(address)}</code></h3>"
        yield f"<p>{_text(shared)}</p>"
        yield "<table><tr><th>operation</th><th>how</th><th>messages</th><th>about</th></tr>"
        for name, rest in zip(names, rests, strict=True):
            channel, action = channels[name], actions.get(name, "")
            binding = channel.get("bindings", {}).get("redis", {})
            how = str(binding.get("method", ""))
            if group := binding.get("groupName"):
                how += f" group {group}, consumer {binding.get('consumerName', '')}"
            messages = [
                link
                for ref in channel.get("messages", {}).values()
                for link in _message_links(components, ref)
            ]
            yield (
                f"<tr><td class={escape(action)}>{escape(action)}<br>"
                f"<code>{escape(name)}</code></td><td>{escape(how)}</td>"
                f"<td>{'<br>'.join(messages)}</td>"
                f"<td>{_text(rest)}</td></tr>"
            )
        yield "</table>"


def _shared_sentences(texts: list[str]) -> tuple[str, list[str]]:
    """The sentences every text starts with (said once per stream, not on every row), and
    what is left of each text."""
    sentences = [SENTENCE_END.split(text) for text in texts]
    count = 0
    for parts in zip(*sentences, strict=False):
        if len(set(parts)) > 1:
            break
        count += 1
    shared = " ".join(sentences[0][:count]) if sentences else ""
    return shared, [" ".join(parts[count:]) for parts in sentences]


def _message_links(components: Mapping[str, Any], ref: Mapping[str, Any]) -> Iterator[str]:
    """Links to the schemas an operation's message may be (a union: each member)."""
    message = components.get("messages", {}).get(_ref_name(ref), {})
    payload = message.get("payload", {})
    schema = components.get("schemas", {}).get(_ref_name(payload), payload)
    members = schema.get("oneOf") or schema.get("anyOf") or [schema]
    for member in members:
        name = _ref_name(member) or str(member.get("title", ""))
        yield _schema_link(name)


def _schemas(schemas: Mapping[str, Any]) -> Iterator[str]:
    for name, schema in sorted(schemas.items()):
        if PAYLOAD_MARK in name:
            continue
        yield f"<h3 id='schema-{escape(name)}'>{escape(name)}</h3>"
        if description := schema.get("description"):
            yield f"<p>{_text(description)}</p>"
        if "enum" in schema:
            yield f"<p>One of {_type(schema)}.</p>"
        properties: Mapping[str, Any] = schema.get("properties", {})
        if not properties:
            continue
        required = set(schema.get("required", ()))
        yield "<table><tr><th>field</th><th>type</th><th>required</th><th>about</th></tr>"
        for field, spec in properties.items():
            default = f" (default {escape(_json(spec['default']))})" if "default" in spec else ""
            yield (
                f"<tr><td><code>{escape(field)}</code></td><td>{_type(spec)}</td>"
                f"<td>{'yes' if field in required else 'no' + default}</td>"
                f"<td>{_text(spec.get('description', ''))}</td></tr>"
            )
        yield "</table>"


def _type(schema: Mapping[str, Any]) -> str:
    """A short HTML reading of a property's schema: `string`, `Side`, `number | string`."""
    if "$ref" in schema:
        return _schema_link(_ref_name(schema))
    if "const" in schema:
        return f"<code>{escape(_json(schema['const']))}</code>"
    if "enum" in schema:
        return " | ".join(f"<code>{escape(_json(v))}</code>" for v in schema["enum"])
    for union in ("anyOf", "oneOf", "allOf"):
        if union in schema:
            return " | ".join(_type(member) for member in schema[union])
    kind = str(schema.get("type", "any"))
    if kind == "array":
        kind = f"array of {_type(schema.get('items', {}))}"
    elif kind == "object" and isinstance(schema.get("additionalProperties"), Mapping):
        kind = f"object of {_type(schema['additionalProperties'])}"
    else:
        kind = escape(kind)
    bounds = [
        f"{sign} {escape(_json(schema[key]))}"
        for key, sign in (
            ("exclusiveMinimum", "&gt;"),
            ("minimum", "&ge;"),
            ("maxLength", "length &le;"),
        )
        if key in schema
    ]
    return kind + (f" ({', '.join(bounds)})" if bounds else "")


def _schema_link(name: str) -> str:
    return f"<a href='#schema-{escape(name)}'>{escape(name)}</a>"


def _ref_name(ref: Mapping[str, Any]) -> str:
    """The component a `$ref` names (a JSON pointer's last step, percent-decoded)."""
    return unquote(str(ref.get("$ref", "")).rsplit("/", 1)[-1])


def _text(value: object) -> str:
    """Prose from the document, escaped, with `code` spans kept."""
    pieces = escape(str(value)).split("`")
    return "".join(f"<code>{p}</code>" if i % 2 else p for i, p in enumerate(pieces))


def _json(value: object) -> str:
    return value if isinstance(value, str) else json.dumps(value)
