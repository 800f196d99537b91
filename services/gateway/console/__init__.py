"""The operator console and the API docs, served by the gateway from files in the repo.

    GET /console               the console page (static HTML, CSS and JS: no build, no CDN)
    GET /console/static/...    its assets
    GET /docs                  Swagger UI, and ReDoc, with their files from the
    GET /redoc                 `fastapi-offline` package at `/docs/assets/...`: nothing is
    GET /docs/assets/...       loaded from the internet

The page holds no data: it asks for an API key and reads everything over the `/v1` routes
and the `/v1/stream` WebSocket with that key, so these routes need none.

ReDoc's script itself shows a logo from cdn.redoc.ly ("API docs by Redocly"): `/redoc` is
answered with a Content-Security-Policy that lets the page load only from the gateway, so the
browser never asks for it (the link shows without its logo), and without Google fonts.

Without `fastapi-offline` installed, `/docs` and `/redoc` fall back to FastAPI's pages, which
load their scripts from a CDN (blank offline); the gateway starts either way.
"""

from __future__ import annotations

from pathlib import Path

from fastapi import FastAPI
from fastapi.openapi.docs import get_redoc_html, get_swagger_ui_html
from fastapi.responses import FileResponse, HTMLResponse
from fastapi.staticfiles import StaticFiles

try:
    import fastapi_offline

    DOCS_FILES: Path | None = Path(fastapi_offline.__file__).parent / "static"
except ImportError:  # not installed: the docs pages fall back to the CDN
    DOCS_FILES = None

STATIC = Path(__file__).parent / "static"
DOCS_ASSETS = "/docs/assets"
REDOC_CSP = (
    "default-src 'self'; img-src 'self' data:; style-src 'self' 'unsafe-inline'; "
    "worker-src 'self' blob:"
)
"""Only the gateway's own files (ReDoc's inline styles and its search worker, a blob: URL)."""


def install(app: FastAPI) -> None:
    """Serve `/console`, and a `/docs` and `/redoc` that work offline (create the app with
    docs_url=None and redoc_url=None)."""
    page = STATIC / "index.html"
    openapi_url = app.openapi_url or "/openapi.json"

    async def console() -> FileResponse:
        return FileResponse(page, headers={"Cache-Control": "no-cache"})

    async def docs() -> HTMLResponse:
        title = f"{app.title} - Swagger UI"
        if DOCS_FILES is None:
            return get_swagger_ui_html(openapi_url=openapi_url, title=title)
        return get_swagger_ui_html(
            openapi_url=openapi_url,
            title=title,
            swagger_js_url=f"{DOCS_ASSETS}/swagger-ui-bundle.js",
            swagger_css_url=f"{DOCS_ASSETS}/swagger-ui.css",
            swagger_favicon_url=f"{DOCS_ASSETS}/favicon.png",
            swagger_ui_parameters={"validatorUrl": None},  # no badge from validator.swagger.io
        )

    async def redoc() -> HTMLResponse:
        title = f"{app.title} - ReDoc"
        if DOCS_FILES is None:
            return get_redoc_html(openapi_url=openapi_url, title=title)
        page = get_redoc_html(
            openapi_url=openapi_url,
            title=title,
            redoc_js_url=f"{DOCS_ASSETS}/redoc.standalone.js",
            redoc_favicon_url=f"{DOCS_ASSETS}/favicon.png",
            with_google_fonts=False,
        )
        page.headers["Content-Security-Policy"] = REDOC_CSP
        return page

    app.add_api_route("/console", console, include_in_schema=False)
    app.add_api_route("/docs", docs, include_in_schema=False)
    app.add_api_route("/redoc", redoc, include_in_schema=False)
    # check_dir=False: an install without the package's data files still starts.
    static = StaticFiles(directory=STATIC, check_dir=False)
    app.mount("/console/static", static, name="console-static")
    if DOCS_FILES is not None:
        app.mount(DOCS_ASSETS, StaticFiles(directory=DOCS_FILES), name="docs-assets")
