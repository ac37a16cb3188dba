"""The pages with the whole demo corpus loaded (about 60 models × 30 protocols): slow, since the
server imports the corpus at start-up. Run with ``pytest -m slow tests/browser``; the
time-to-usable of each page is written to ``test-artifacts/time-to-usable.json``."""

from __future__ import annotations

import pytest

from tests.browser.accessibility import serious_violations
from tests.browser.navigation import open_page, wait_complete
from tests.conftest import SHARED_DATA

pytestmark = pytest.mark.slow

MODELS = sorted((SHARED_DATA / "cellml").glob("*.cellml"))
PROTOCOLS = sorted((SHARED_DATA / "fc" / "protocols" / "real").glob("*.txt"))


async def test_pages_with_the_demo_corpus(demo_server, browser, timings) -> None:  # noqa: ANN001
    page = await (await browser.new_context()).new_page()
    for _ in range(2):  # the second round is what a returning visitor sees
        await open_page(page, demo_server, name="demo-home", timings=timings)
        await open_page(page, demo_server + "models", name="demo-models", timings=timings)
        await open_page(page, demo_server + "protocols", name="demo-protocols", timings=timings)
        await open_page(page, demo_server + "experiments", name="demo-matrix", timings=timings)
        await wait_complete(page, name="demo-matrix-complete", timings=timings)
    # The whole corpus on screen, the pages still pass axe-core.
    found = await serious_violations(page, "demo matrix")
    rows = await page.locator("table.matrix tbody tr").count()
    columns = await page.locator("table.matrix thead th").count() - 1
    assert rows == len(MODELS)
    assert columns == len(PROTOCOLS)
    assert await page.locator("table.matrix td button").count() == rows * columns

    # Keyboard through the matrix: arrows move the one focusable cell.
    first = page.locator("table.matrix td button").first
    await first.focus()
    await page.keyboard.press("ArrowRight")
    await page.keyboard.press("ArrowDown")
    focused = await page.evaluate("[document.activeElement.dataset.r, document.activeElement.dataset.c]")
    assert focused == ["1", "1"]

    await page.locator("table.matrix tbody th a").first.click()
    await page.wait_for_selector("html[data-ready]", state="attached")
    await open_page(page, page.url, name="demo-entity-model", timings=timings)
    await page.get_by_role("tab", name="Annotations").click()
    await page.locator("#annotations tbody tr").first.wait_for()
    found += await serious_violations(page, "demo model page, annotations")
    await open_page(
        page, demo_server + "models?term=oxmeta:membrane_voltage", name="demo-models-by-term", timings=timings
    )
    found += await serious_violations(page, "demo models by term")
    for name in ("", "models", "protocols"):
        await open_page(page, demo_server + name, screenshot=False)
        found += await serious_violations(page, f"demo /{name}")
    assert not found, "axe-core found serious or critical violations:\n" + "\n".join(found)
    await page.context.close()
