"""The Venue health panel's headroom bars and drift rows, drawn in the browser from overview
rows: amber from 80 % of a venue window used, red when spent, "no data" for a stale answer,
and a drifting symbol in red."""

from __future__ import annotations

from playwright.async_api import Browser

HEADROOM = [
    {"endpoint": "/v5/order/create", "group": "trade", "limit": 10, "remaining": 2,
     "used": "0.8000", "resetTime": None, "updatedTime": 1, "stale": False},
    {"endpoint": "/v5/order/create-batch", "group": "batch", "limit": 10, "remaining": 0,
     "used": "1.0000", "resetTime": None, "updatedTime": 1, "stale": False},
    {"endpoint": "/v5/order/realtime", "group": "query", "limit": 50, "remaining": 45,
     "used": "0.1000", "resetTime": None, "updatedTime": 1, "stale": False},
    {"endpoint": "/v5/position/list", "group": "query", "limit": 50, "remaining": 50,
     "used": "0.0000", "resetTime": None, "updatedTime": 1, "stale": True},
]  # fmt: skip
DRIFT = [
    {"symbol": "BTCUSDT", "engineQty": "-0.25000000", "venueQty": "0.00000000",
     "qtyDrift": "0.25000000", "positionsCheckedTime": 1, "openOrdersDrift": 0,
     "executionsDrift": 0, "ordersCheckedTime": 1},
    {"symbol": "ETHUSDT", "engineQty": "1.50000000", "venueQty": "1.50000000",
     "qtyDrift": "0.00000000", "positionsCheckedTime": 1, "openOrdersDrift": None,
     "executionsDrift": None, "ordersCheckedTime": None},
]  # fmt: skip

SHOWN = """() => ({
  bars: [...document.querySelectorAll("#headroom .bar-row")].map((row) => [
    row.dataset.endpoint,
    row.querySelector(".bar") ? row.querySelector(".bar").className : "",
    row.children[1].textContent,
    row.children[2].textContent,
  ]),
  drift: [...document.querySelectorAll("#drift tbody tr")].map((row) => [
    row.dataset.symbol, row.className, [...row.cells].slice(1, 4).map((c) => c.textContent),
    row.cells[3].className,
  ]),
  empty: (renderHeadroom([]), document.getElementById("headroom").textContent),
})"""


async def test_headroom_bars_warn_by_use_and_drift_rows_stand_out(
    browser: Browser, gateway_pages: str
) -> None:
    page = await browser.new_page()
    try:
        await page.goto(f"{gateway_pages}/console")
        await page.evaluate("([h, d]) => { renderHeadroom(h); renderDrift(d); }", [HEADROOM, DRIFT])
        shown = await page.evaluate(SHOWN)
    finally:
        await page.close()

    assert shown["bars"] == [
        ["/v5/order/create", "bar amber", "", "2/10 left"],
        ["/v5/order/create-batch", "bar red", "", "0/10 left"],
        ["/v5/order/realtime", "bar ok", "", "45/50 left"],
        ["/v5/position/list", "", "no data", "\u2014"],
    ]
    assert shown["drift"] == [
        ["BTCUSDT", "drift", ["-0.250000", "0.000000", "0.250000"], "num neg"],
        ["ETHUSDT", "", ["1.500000", "1.500000", "0.000000"], "num"],
    ]
    assert shown["empty"] == "no data"
