"""The AsyncAPI document of the streams (`libs.common.asyncapi`), public like `/docs`.

    GET /asyncapi        the document as one self-contained page (no script, nothing loaded)
    GET /asyncapi.json   the AsyncAPI 3.0.0 document

Both are generated from the code on the first request (in the thread pool: the event loop
never waits for it; FastStream is imported then, not at the gateway's start) and kept; they
need neither Redis nor an API key.
"""

from __future__ import annotations

from fastapi import APIRouter
from fastapi.responses import HTMLResponse, Response

JSON_PATH = "/asyncapi.json"
PAGE_CSP = "default-src 'none'; style-src 'unsafe-inline'"
"""The page loads nothing: its only style is inline, its links lead to the gateway."""

router = APIRouter()


@router.get("/asyncapi", include_in_schema=False)
def asyncapi_page() -> HTMLResponse:
    from libs.common.asyncapi import asyncapi_html

    return HTMLResponse(asyncapi_html(JSON_PATH), headers={"Content-Security-Policy": PAGE_CSP})


@router.get(JSON_PATH, include_in_schema=False)
def asyncapi_document() -> Response:
    from libs.common.asyncapi import asyncapi_text  # the text as built: no parse, no dump

    return Response(asyncapi_text(), media_type="application/json")
