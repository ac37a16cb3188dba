"""Opening a page the way a user does, and recording how long it took to become usable."""

from __future__ import annotations

from typing import Any

from tests.browser.conftest import SCREENSHOTS, Timings

PHONE = {"width": 390, "height": 844}


async def open_page(
    page: Any, url: str, *, name: str | None = None, timings: Timings | None = None, screenshot: bool = True
) -> float:
    """Go to ``url`` and wait until the page says it is usable; returns the time-to-usable in ms.

    Time-to-usable is measured inside the browser, from the navigation start to the page's
    ``usable`` performance mark (set once the page's data is on screen and its controls work).
    """
    await page.goto(url)
    await page.wait_for_selector("html[data-ready]", state="attached")
    ms = await page.evaluate("() => performance.getEntriesByName('usable')[0].startTime")
    if timings is not None and name:
        timings.add(name, ms)
    if screenshot and name:
        SCREENSHOTS.mkdir(parents=True, exist_ok=True)
        await page.screenshot(path=str(SCREENSHOTS / f"{name}.png"), full_page=True)
    return float(ms)


async def wait_complete(page: Any, *, name: str | None = None, timings: Timings | None = None) -> float:
    """For pages that fill in after becoming usable (the matrix's run statuses): wait until everything is
    there; returns the time from navigation start to the ``complete`` mark in ms."""
    await page.wait_for_selector("html[data-complete]", state="attached", timeout=120_000)
    ms = await page.evaluate("() => performance.getEntriesByName('complete')[0].startTime")
    if timings is not None and name:
        timings.add(name, ms)
    if name:
        SCREENSHOTS.mkdir(parents=True, exist_ok=True)
        await page.screenshot(path=str(SCREENSHOTS / f"{name}.png"), full_page=True)
    return float(ms)
