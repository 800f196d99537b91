"""`/docs` (Swagger UI) and `/redoc` render the gateway's API in a real browser with every
file served by the gateway itself: no request leaves for another host."""

from __future__ import annotations

from playwright.async_api import Browser, Request, Route, expect


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


async def test_redoc_renders_the_operations_without_sending_a_request_to_another_host(
    browser: Browser, gateway_pages: str
) -> None:
    """ReDoc's script asks for its logo at cdn.redoc.ly: the page's Content-Security-Policy
    stops that in the browser, before any interception sees a request go out."""
    page = await browser.new_page()
    sent: list[str] = []

    async def refuse(route: Route) -> None:
        sent.append(route.request.url)
        await route.abort()

    await page.route(lambda url: not url.startswith((gateway_pages, "data:", "blob:")), refuse)
    try:
        await page.goto(f"{gateway_pages}/redoc")
        freeze = page.locator("h2", has_text="Freeze").first
        await expect(freeze).to_be_visible(timeout=15_000)
        attribution = page.locator("a[href='https://redocly.com/redoc/']")  # where the logo is
        await expect(attribution).to_be_attached()
    finally:
        await page.close()
    assert sent == []
