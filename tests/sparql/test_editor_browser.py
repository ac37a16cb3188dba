"""The SPARQL editor page works in a real browser, from our own files only."""

from __future__ import annotations

from pathlib import Path

import pytest

CHROMIUM = Path("/usr/bin/chromium")
ARGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
]


async def test_the_editor_runs_a_query(server: str) -> None:
    if not CHROMIUM.exists():
        pytest.fail("Chromium is missing at /usr/bin/chromium: apt-get install -y chromium")
    from playwright.async_api import async_playwright

    requested: list[str] = []
    async with async_playwright() as p:
        browser = await p.chromium.launch(executable_path=str(CHROMIUM), args=ARGS)
        try:
            page = await browser.new_page()
            page.on("request", lambda request: requested.append(request.url))
            await page.goto(server + "sparql")
            await page.wait_for_selector(".yasqe .CodeMirror")
            await page.evaluate("""() => {
                const tab = yasgui.getTab();
                tab.setQuery('SELECT ?answer WHERE { BIND(6 * 7 AS ?answer) }');
                tab.query();
            }""")
            await page.wait_for_function(
                "() => document.querySelector('.yasr') && "
                "document.querySelector('.yasr').innerText.includes('42')",
                timeout=20000,
            )
        finally:
            await browser.close()
    assert requested, "the page made no requests"
    outside = [url for url in requested if not url.startswith(server) and not url.startswith("data:")]
    assert outside == [], f"the editor fetched from elsewhere: {outside}"
