"""The console page and the API docs are served from local files: nothing from the internet."""

from __future__ import annotations

import re
from collections.abc import AsyncIterator

import httpx
import pytest

from services.gateway.app import create_app
from services.gateway.settings import GatewaySettings

URL = re.compile(r"""(?:src|href)\s*=\s*["']([^"']+)["']""", re.IGNORECASE)
EXTERNAL = re.compile(r"""["'(](?:https?:)?//(?!www\.w3\.org/2000/svg)[^"')\s]+""", re.I)
"""A URL of another host (the SVG namespace is a name, not something loaded)."""


@pytest.fixture
async def http() -> AsyncIterator[httpx.AsyncClient]:
    """The gateway app without its lifespan: these routes need neither Redis nor a key."""
    app = create_app(GatewaySettings(redis_url="redis://127.0.0.1:1/0", port=0))
    transport = httpx.ASGITransport(app=app)
    async with httpx.AsyncClient(transport=transport, base_url="http://gateway") as client:
        yield client


async def _local_assets(http: httpx.AsyncClient, page: str) -> list[str]:
    answer = await http.get(page)
    assert answer.status_code == 200, answer.text
    assert EXTERNAL.findall(answer.text) == [], f"{page} loads something from another host"
    return [url for url in URL.findall(answer.text) if url.startswith("/")]


async def test_docs_reference_only_local_assets_and_each_answers_200(
    http: httpx.AsyncClient,
) -> None:
    assets = await _local_assets(http, "/docs")

    assert {a.rsplit("/", 1)[-1] for a in assets} >= {"swagger-ui-bundle.js", "swagger-ui.css"}
    for asset in assets:
        answer = await http.get(asset)
        assert answer.status_code == 200, asset
        assert len(answer.content) > 100, asset
    assert (await http.get("/openapi.json")).status_code == 200


async def test_redoc_references_only_local_assets_and_may_load_nothing_else(
    http: httpx.AsyncClient,
) -> None:
    assets = await _local_assets(http, "/redoc")
    policy = (await http.get("/redoc")).headers["Content-Security-Policy"]

    assert {a.rsplit("/", 1)[-1] for a in assets} >= {"redoc.standalone.js"}
    for asset in assets:
        answer = await http.get(asset)
        assert answer.status_code == 200, asset
        assert len(answer.content) > 100, asset
    # ReDoc's own script shows a logo from cdn.redoc.ly: the browser may load nothing but ours
    assert "default-src 'self'" in policy and "img-src 'self' data:" in policy


async def test_console_page_and_its_scripts_are_served_and_load_nothing_external(
    http: httpx.AsyncClient,
) -> None:
    assets = await _local_assets(http, "/console")

    scripts = [a for a in assets if a.endswith(".js")]
    assert len(scripts) >= 2 and any(a.endswith(".css") for a in assets)
    for asset in assets:
        answer = await http.get(asset)
        assert answer.status_code == 200, asset
        assert EXTERNAL.findall(answer.text) == [], f"{asset} loads from another host"
    assert "setInterval" not in "".join([(await http.get(s)).text for s in scripts])


async def test_console_and_docs_are_not_in_the_openapi_schema(http: httpx.AsyncClient) -> None:
    paths = (await http.get("/openapi.json")).json()["paths"]

    assert not {"/console", "/docs", "/redoc"} & set(paths)
    assert {"/v1/console/me", "/v1/console/overview"} <= set(paths)
