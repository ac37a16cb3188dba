"""Every main page passes axe-core without serious or critical violations, with real content on it:
a model and a protocol uploaded, an experiment run to the end, its plots drawn; and the pages are
usable with the keyboard alone."""

from __future__ import annotations

import asyncio
import re
import secrets
from typing import Any

import httpx

from tests.browser.accessibility import serious_violations
from tests.browser.navigation import PHONE, open_page, wait_complete
from tests.browser.test_workflow import MODEL_FILES, PROTOCOL_FILE, sign_in, upload
from tests.conftest import bearer

FINAL = {"SUCCESS", "PARTIAL", "FAILED", "INAPPLICABLE", "CANCELLED"}


async def run_to_the_end(server: str, token: str, model_url: str, protocol_url: str) -> dict[str, Any]:
    """Start the experiment of the latest versions over GraphQL, as a program would, and wait until the
    server's worker has finished it; returns the run (``uri``, ``status``, ``error``, ``experiment { uri }``)."""
    model_id = "models/" + model_url.rsplit("/", 1)[1]
    protocol_id = "protocols/" + protocol_url.rsplit("/", 1)[1]
    async with httpx.AsyncClient(base_url=server, headers=bearer(token), timeout=30) as http:
        latest = """query($m: ID!, $p: ID!) { m: node(id: $m) { ... on Entity { latestVersion { id } } }
                    p: node(id: $p) { ... on Entity { latestVersion { id } } } }"""
        found = (
            await http.post(
                "/graphql", json={"query": latest, "variables": {"m": model_id, "p": protocol_id}}
            )
        ).json()
        started = (
            await http.post(
                "/graphql",
                json={
                    "query": """mutation($m: ID!, $p: ID!) {
            runExperiment(model: $m, protocol: $p) { __typename ... on Run { id } ... on Error { message } } }""",
                    "variables": {
                        "m": found["data"]["m"]["latestVersion"]["id"],
                        "p": found["data"]["p"]["latestVersion"]["id"],
                    },
                },
            )
        ).json()
        run_id = started["data"]["runExperiment"]["id"]
        status_query = (
            "query($id: ID!) { node(id: $id) { ... on Run { uri status error experiment { uri } } } }"
        )
        for _ in range(900):
            run = (
                await http.post("/graphql", json={"query": status_query, "variables": {"id": run_id}})
            ).json()
            if run["data"]["node"]["status"] in FINAL:
                return run["data"]["node"]
            await asyncio.sleep(0.2)
    raise AssertionError(f"run {run_id} did not finish within three minutes")


async def test_main_pages_have_no_serious_accessibility_violations(server, browser, server_user) -> None:  # noqa: ANN001
    user, token = await server_user("a11y", roles={"moderator"})
    tag = secrets.token_hex(3)
    page = await sign_in(browser, server, user.name)
    model_url = await upload(page, server, "model", f"Axe model {tag}", MODEL_FILES[0])
    protocol_url = await upload(page, server, "protocol", f"Axe protocol {tag}", PROTOCOL_FILE)
    run = await run_to_the_end(server, token, model_url, protocol_url)
    assert run["status"] in ("SUCCESS", "PARTIAL"), run
    run_page = server + "view/runs/" + run["uri"].rsplit("/", 1)[1]

    found: list[str] = []
    for name, path in [
        ("home", ""),
        ("models", "models"),
        ("protocols", "protocols"),
        ("datasets", "datasets"),
        ("upload", "upload"),
        ("upload-version", f"upload?kind=model&entity={model_url.replace('/view/', '/')}"),
        ("account", "account"),
        ("moderation", "moderation"),
        ("compare", "compare?runs=" + run["uri"].rsplit("/", 1)[1]),
    ]:
        await open_page(page, server + path, screenshot=False)
        found += await serious_violations(page, name)

    # The entity pages, every tab of them, once each tab has loaded.
    for name, url in [("model", model_url), ("protocol", protocol_url)]:
        await open_page(page, url, screenshot=False)
        for tab in await page.get_by_role("tab").all():
            label = await tab.inner_text()
            await tab.click()
            await page.locator("[role=tabpanel]:visible .loading").wait_for(state="detached")
            found += await serious_violations(page, f"{name} page, {label} tab")

    await open_page(page, server + "experiments?subset=mine", screenshot=False)
    await wait_complete(page)
    found += await serious_violations(page, "matrix")

    await open_page(page, run_page, screenshot=False)
    await page.wait_for_selector("figure.plot canvas", timeout=60_000)
    found += await serious_violations(page, "run page")
    await open_page(
        page, server + "view/experiments/" + run["experiment"]["uri"].rsplit("/", 1)[1], screenshot=False
    )
    found += await serious_violations(page, "experiment page")

    await open_page(page, server + "sparql", screenshot=False)
    found += await serious_violations(page, "SPARQL editor")
    query = (
        "PREFIX dcterms: <http://purl.org/dc/terms/>\n"
        f'SELECT ?thing ?title WHERE {{ ?thing dcterms:title ?title FILTER(CONTAINS(?title, "{tag}")) }}'
    )
    await page.evaluate("(q) => { yasgui.getTab().setQuery(q); }", query)
    await page.get_by_role("button", name="Run query").click()
    await page.locator(".yasr table").get_by_text(f"Axe model {tag}").first.wait_for()
    found += await serious_violations(page, "SPARQL editor with results")
    await page.get_by_role("button", name="New query tab").click()
    await page.get_by_role("tablist").get_by_role("tab").nth(1).wait_for()
    found += await serious_violations(page, "SPARQL editor with a second tab")
    await page.context.close()

    # Signed out, at phone width: the sign-in and registration forms, the home page, the SPARQL editor and
    # the public run with its plots, none wider than the screen.
    phone = await (await browser.new_context(viewport=PHONE)).new_page()
    for name, path in [
        ("login", "login"),
        ("register", "register"),
        ("home", ""),
        ("SPARQL editor", "sparql"),
        ("run page", run_page.removeprefix(server)),
        ("compare", "compare?runs=" + run["uri"].rsplit("/", 1)[1]),
    ]:
        await open_page(phone, server + path, name=f"phone-{name.split()[0].lower()}")
        found += await serious_violations(phone, f"{name} at phone width")
        width = await phone.evaluate("document.documentElement.scrollWidth")
        if width > PHONE["width"]:
            found.append(
                f"{name} at phone width: the page is {width} px wide on a {PHONE['width']} px screen"
            )
        if name == "run page":  # a visitor may download the results, but not run the experiment again
            assert await phone.get_by_role("link", name="Download results archive").is_visible()
            assert await phone.get_by_role("button", name="Run again").count() == 0
    await phone.context.close()

    assert not found, "axe-core found serious or critical violations:\n" + "\n".join(found)


async def focused(page: Any) -> dict[str, str]:
    """What has the keyboard focus: its id, tag and accessible text."""
    return await page.evaluate("""() => { const e = document.activeElement;
        return { id: e.id, tag: e.tagName.toLowerCase(), text: (e.innerText || e.value || '').trim(),
                 label: e.getAttribute('aria-label') || '' }; }""")


async def test_upload_and_read_a_model_with_the_keyboard_alone(server, browser, server_user) -> None:  # noqa: ANN001
    user, _ = await server_user("keys")
    page = await sign_in(browser, server, user.name)
    name = f"Keyboard model {secrets.token_hex(3)}"
    await open_page(page, server + "upload?kind=model", screenshot=False)

    # The first Tab reaches the skip link, which jumps past the menu to the page's content.
    await page.keyboard.press("Tab")
    assert (await focused(page))["text"] == "Skip to content"
    await page.keyboard.press("Enter")
    assert (await focused(page))["id"] == "main"
    # The kind of entity is one tab stop (the chosen radio button), then the name.
    await page.keyboard.press("Tab")
    assert await page.evaluate("document.activeElement.checked && document.activeElement.value") == "model"
    await page.keyboard.press("Tab")
    assert (await focused(page))["id"] == "upload-name"
    await page.keyboard.type(name)
    # Enter submits; with no file chosen, the error is announced and focus moves to the file input.
    await page.keyboard.press("Enter")
    await page.locator("#upload-files-error").wait_for()
    assert (await focused(page))["id"] == "upload-files"
    # Opening the system's file dialog from the focused input is the browser's part (and headless Chromium
    # does not always raise it for a key press): the file is chosen as the dialog would.
    await page.locator("#upload-files").set_input_files(str(MODEL_FILES[0]))
    assert (await focused(page))["id"] == "upload-files"
    await page.keyboard.press("Shift+Tab")
    assert (await focused(page))["id"] == "upload-name"
    await page.keyboard.press("Enter")
    await page.wait_for_url(re.compile(r".*/view/models/[^/?#]+$"))
    await page.wait_for_selector("html[data-ready]", state="attached")
    assert await page.locator("#entity-name").inner_text() == name

    # The shown file is reachable with Tab, and the keys scroll it.
    await page.locator("#file-view pre").wait_for()
    for _ in range(60):
        await page.keyboard.press("Tab")
        if (await focused(page))["label"].startswith("Contents of "):
            break
    else:
        raise AssertionError("Tab never reached the file's contents")
    viewer = page.locator("#file-view .viewer")
    assert await viewer.evaluate("v => v.scrollTop") == 0
    await page.keyboard.press("PageDown")
    await page.wait_for_function("document.querySelector('#file-view .viewer').scrollTop > 0")
    await page.context.close()
