"""The console's number formatting, run in the browser: exact decimals from the API's strings,
a fixed number of places, rounded half-even like the gateway, never through a float."""

from __future__ import annotations

from playwright.async_api import Browser

CASES = [
    (("5.005", 2), "5.00"),  # a tie rounds to even
    (("5.015", 2), "5.02"),
    (("5.0051", 2), "5.01"),
    (("9.995", 2), "10.00"),  # the carry runs through
    (("-0.004", 2), "0.00"),  # no "-0.00"
    (("-1.25", 1), "-1.2"),
    (("0.52448700", 4), "0.5245"),
    (("60000", 2), "60000.00"),
    (("123456789.123456785", 8), "123456789.12345678"),  # beyond a float's digits
    ((None, 2), "\u2014"),
]


async def test_fixed_shows_exact_places_rounded_half_even(
    browser: Browser, gateway_pages: str
) -> None:
    page = await browser.new_page()
    try:
        await page.goto(f"{gateway_pages}/console")
        shown = await page.evaluate(
            "cases => cases.map(([v, p]) => fixed(v, p))", [a for a, _ in CASES]
        )
    finally:
        await page.close()

    assert shown == [expected for _, expected in CASES]
