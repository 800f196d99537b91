"""The AsyncAPI document of the streams (`libs.common.asyncapi`), public like `/docs`.

    GET /asyncapi        the document as one self-contained page (no script, nothing loaded)
    GET /asyncapi.json   the AsyncAPI 3.0.0 document

Both are generated from the code on the first request (in the thread pool: the event loop
never waits for it) and kept; they need neither Redis nor an API key.
"""

from __future__ import annotations

from fastapi import APIRouter
from fastapi.responses import HTMLResponse, JSONResponse

from libs.common.asyncapi import asyncapi_html, asyncapi_json

JSON_PATH = "/asyncapi.json"
PAGE_CSP = "default-src 'none'; style-src 'unsafe-inline'"
"""The page loads nothing: its only style is inline, its links lead to the gateway."""

router = APIRouter()


@router.get("/asyncapi", include_in_schema=False)
def asyncapi_page() -> HTMLResponse:
    return HTMLResponse(asyncapi_html(JSON_PATH), headers={"Content-Security-Policy": PAGE_CSP})


@router.get(JSON_PATH, include_in_schema=False)
def asyncapi_document() -> JSONResponse:
    return JSONResponse(asyncapi_json())
