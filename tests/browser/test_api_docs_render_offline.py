"""`/docs` (Swagger UI) renders the gateway's API in a real browser with every file served by
the gateway itself: no request leaves for another host."""

from __future__ import annotations

from playwright.async_api import Browser, Request, expect


async def test_swagger_ui_renders_the_operations_without_any_request_to_another_host(
    browser: Browser, gateway_pages: str
) -> None:
    page = await browser.new_page()
    elsewhere: list[str] = []

    def note(request: Request) -> None:
        if not request.url.startswith((gateway_pages, "data:", "blob:")):
            elsewhere.append(request.url)

    page.on("request", note)
    try:
        await page.goto(f"{gateway_pages}/docs")
        freeze = page.locator(".opblock-summary-path", has_text="/v1/risk/freeze")
        await expect(freeze).to_be_visible(timeout=15_000)
    finally:
        await page.close()
    assert elsewhere == []
