"""The gateway serves the AsyncAPI document of the streams, offline and without a key."""

from __future__ import annotations

import re
from collections.abc import AsyncIterator

import httpx
import pytest

from libs.common.asyncapi import asyncapi_json
from services.gateway.app import create_app
from services.gateway.settings import GatewaySettings

EXTERNAL = re.compile(r"https?://", re.IGNORECASE)
ANCHOR_LINK = re.compile(r"""href=['"]#([^'"]+)['"]""")
ANCHOR = re.compile(r"""id=['"]?([^'" >]+)""")


@pytest.fixture
async def http() -> AsyncIterator[httpx.AsyncClient]:
    """The gateway app (auth required, the default) without its lifespan: no Redis."""
    app = create_app(GatewaySettings(redis_url="redis://127.0.0.1:1/0", port=0))
    transport = httpx.ASGITransport(app=app)
    async with httpx.AsyncClient(transport=transport, base_url="http://gateway") as client:
        yield client


async def test_asyncapi_json_is_the_document_and_needs_no_key(http: httpx.AsyncClient) -> None:
    answer = await http.get("/asyncapi.json")

    assert answer.status_code == 200, answer.text
    assert answer.headers["content-type"].startswith("application/json")
    assert answer.json() == asyncapi_json()
    assert answer.json()["asyncapi"] == "3.0.0"


async def test_asyncapi_page_loads_nothing_from_anywhere_and_its_links_resolve(
    http: httpx.AsyncClient,
) -> None:
    answer = await http.get("/asyncapi")
    page = answer.text

    assert answer.status_code == 200
    assert answer.headers["content-type"].startswith("text/html")
    assert EXTERNAL.findall(page) == [], "the page names a URL of another host"
    assert "<script" not in page and "<link" not in page
    assert answer.headers["Content-Security-Policy"].startswith("default-src 'none'")
    assert 'href="/asyncapi.json"' in page
    assert set(ANCHOR_LINK.findall(page)) <= set(ANCHOR.findall(page))
    for stream in (
        "mmx:{account}:orders.requests",
        "mmx:{account}:orders.events",
        "mmx:{account}:control",
        "mmx:{account}:orders.events.dlq",
        "{audit}.dlq",
    ):
        assert f"id='stream-{stream}'" in page


async def test_asyncapi_routes_stay_out_of_the_openapi_document(http: httpx.AsyncClient) -> None:
    paths = (await http.get("/openapi.json")).json()["paths"]

    assert not any(path.startswith("/asyncapi") for path in paths)
