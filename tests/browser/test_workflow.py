"""The modeller's path through the site: upload a model and a protocol, see what fits, run the
experiment, watch it finish, see the plot, compare two runs; and privacy across users."""

from __future__ import annotations

import re
import secrets
from pathlib import Path
from typing import Any

import pytest

from tests.browser.navigation import PHONE, open_page, wait_complete
from tests.conftest import SHARED_DATA

MODELS = SHARED_DATA / "fc" / "models" / "real"
PROTOCOLS = SHARED_DATA / "fc" / "protocols" / "real"
# A small model and a short protocol (one paced second, every state variable plotted): quick to run.
MODEL_FILES = [MODELS / "beeler_reuter_model_1977.cellml", MODELS / "luo_rudy_1991.cellml"]
PROTOCOL_FILE = PROTOCOLS / "GraphState.txt"


async def sign_in(
    browser: Any, server: str, name: str, password: str = "correct horse", **context: Any
) -> Any:
    ctx = await browser.new_context(**context)
    page = await ctx.new_page()
    await page.goto(server + "login")
    await page.get_by_label("User name").fill(name)
    await page.get_by_label("Password").fill(password)
    await page.get_by_role("button", name="Sign in").click()
    await page.wait_for_url(server)
    return page


async def upload(page: Any, server: str, kind: str, name: str, path: Path, visibility: str = "public") -> str:
    """Upload one file as a new entity through the form; returns the entity page's URL."""
    await page.goto(server + f"upload?kind={kind}")
    await page.get_by_label("Name", exact=True).fill(name)
    await page.get_by_label("Files").set_input_files(str(path))
    await page.get_by_label("Visibility").select_option(visibility)
    await page.get_by_role("button", name="Upload").click()
    await page.wait_for_url(re.compile(r".*/view/" + kind + r"s/[^/?#]+$"))
    await page.wait_for_selector("html[data-ready]", state="attached")
    return page.url


@pytest.fixture(scope="module")
def names() -> dict[str, str]:
    tag = secrets.token_hex(3)
    return {"br": f"Beeler-Reuter {tag}", "lr": f"Luo-Rudy {tag}", "gs": f"GraphState {tag}"}


async def test_upload_shows_errors_next_to_the_field(server, browser, server_user, tmp_path) -> None:  # noqa: ANN001
    user, _ = await server_user("upl")
    page = await sign_in(browser, server, user.name)
    bad = tmp_path / "broken.cellml"
    bad.write_text("<model this is not xml")
    await page.goto(server + "upload?kind=model")
    await page.get_by_label("Name", exact=True).fill("broken")
    await page.get_by_label("Files").set_input_files(str(bad))
    await page.get_by_role("button", name="Upload").click()
    error = page.locator("#upload-files-error")
    await error.wait_for()
    assert "broken.cellml" in await error.inner_text()
    assert await page.get_by_label("Files").get_attribute("aria-invalid") == "true"
    await page.context.close()


async def test_upload_run_watch_and_compare(server, browser, server_user, timings, names) -> None:  # noqa: ANN001
    user, _ = await server_user("mod")
    page = await sign_in(browser, server, user.name)
    model_urls = [
        await upload(page, server, "model", names[k], f)
        for k, f in zip(("br", "lr"), MODEL_FILES, strict=True)
    ]
    protocol_url = await upload(page, server, "protocol", names["gs"], PROTOCOL_FILE)

    # The model page: its files (the CellML highlighted), annotations, and the protocol it fits.
    await open_page(page, model_urls[0], name="entity-model", timings=timings)
    assert await page.locator("#file-view code.hljs").count() == 1
    await page.get_by_role("tab", name="Annotations").click()
    await page.locator("#annotations a[href*='membrane_voltage']").first.wait_for()
    await page.get_by_role("tab", name="Compatibility").click()
    await page.locator("#compatibility").get_by_role("link", name=names["gs"]).wait_for()

    # The protocol page shows its interface: terms a model must annotate.
    await open_page(page, protocol_url, name="entity-protocol", timings=timings)
    await page.get_by_role("tab", name="Interface").click()
    assert await page.locator("#interface li").count() >= 1
    # ... and the models that can run it.
    await page.get_by_role("tab", name="Compatibility").click()
    for key in ("br", "lr"):
        await page.locator("#compatibility").get_by_role("link", name=names[key]).wait_for()

    # The matrix, only my entities: both cells can be run; run them.
    await open_page(page, server + "experiments?subset=mine", name="matrix-mine", timings=timings)
    await wait_complete(page, name="matrix-mine-complete", timings=timings)
    cells = page.locator("table.matrix td button")
    assert await cells.count() == 2
    # a new version queues its compatible experiments itself, so a cell may already be queued, running or done
    statuses = [await cells.nth(i).get_attribute("data-status") for i in range(2)]
    assert set(statuses) <= {"NOTRUN", "QUEUED", "RUNNING", "SUCCESS", "PARTIAL"}, statuses
    for i in range(2):
        if statuses[i] == "NOTRUN":
            await cells.nth(i).click()
            await page.wait_for_function(
                f"document.querySelectorAll('table.matrix td button')[{i}].dataset.status !== 'NOTRUN'"
            )
    run_urls = []
    # Watch each run live on its page until it finishes, then see its plot. When the page opened
    # before the run finished, the final status arrived over the GraphQL subscription.
    frames: list[str] = []
    page.on("websocket", lambda ws: ws.on("framereceived", lambda payload: frames.append(str(payload))))
    for i in range(2):
        await page.goto(server + "experiments?subset=mine")
        await page.wait_for_selector("html[data-complete]", state="attached")
        await page.locator("table.matrix td button").nth(i).click()
        await page.wait_for_url(re.compile(r".*/view/runs/[0-9a-f-]+$"))
        run_urls.append(page.url)
        await page.wait_for_selector("#run-status .status")
        first_status = await page.locator("#run-status .status").inner_text()
        await page.wait_for_selector(
            "#run-status .status-SUCCESS, #run-status .status-PARTIAL", timeout=180_000
        )
        if first_status in ("queued", "running"):
            assert any("runUpdates" in f and ("SUCCESS" in f or "PARTIAL" in f) for f in frames)
        await page.wait_for_selector("figure.plot canvas", timeout=60_000)
    await open_page(page, run_urls[0], name="run", timings=timings)
    assert await page.locator("figure.plot figcaption").count() >= 1
    assert await page.locator("#outputs tbody tr").count() >= 1
    assert await page.get_by_role("heading", name="Inputs").is_visible()

    # Compare the two runs, chosen in the matrix by shift-clicking their cells: the shared plot has a
    # series for each model, and the page's link reproduces the comparison.
    await open_page(page, server + "experiments?subset=mine", name="matrix-done", timings=timings)
    await wait_complete(page)
    for i in range(2):
        await page.locator("table.matrix td button").nth(i).click(modifiers=["Shift"])
    await page.get_by_role("button", name="Compare selected runs").click()
    await page.wait_for_url(re.compile(r".*/compare\?runs=.+"))
    chosen = set(page.url.split("runs=", 1)[1].split(","))
    assert chosen == {u.rsplit("/", 1)[1] for u in run_urls}
    await open_page(page, page.url, name="compare", timings=timings)
    legend = page.locator("figure.plot").first.locator(".u-legend")
    text = await legend.inner_text()
    assert names["br"] in text and names["lr"] in text
    assert await page.locator("#share-link").input_value() == page.url

    # The protocol's Experiments tab lists both models with their finished runs (Version.experiments).
    await page.goto(protocol_url)
    await page.get_by_role("tab", name="Experiments").click()
    for key in ("br", "lr"):
        row = page.locator("#experiments tr", has=page.get_by_role("link", name=names[key]))
        await row.wait_for()
        assert (await row.get_by_role("link").nth(1).get_attribute("href")).rsplit("/", 1)[1] in {
            u.rsplit("/", 1)[1] for u in run_urls
        }
    await page.context.close()


async def test_private_model_is_invisible_to_another_user(server, browser, server_user) -> None:  # noqa: ANN001
    owner, _ = await server_user("own")
    other, _ = await server_user("oth")
    name = f"Secret model {secrets.token_hex(3)}"
    page = await sign_in(browser, server, owner.name)
    url = await upload(page, server, "model", name, MODEL_FILES[0], visibility="private")
    assert await page.locator("#entity-summary .badge.private").count() == 1
    await page.context.close()

    page = await sign_in(browser, server, other.name, viewport=PHONE)
    await page.goto(url)
    await page.wait_for_selector("html[data-ready]", state="attached")
    assert await page.get_by_role("heading", name="Not found").is_visible()
    await page.goto(server + f"models?q={name.split()[-1]}")
    await page.wait_for_selector("html[data-ready]", state="attached")
    assert await page.get_by_role("link", name=name).count() == 0
    await page.context.close()
