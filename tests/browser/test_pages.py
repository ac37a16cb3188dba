"""Every page opens, becomes usable, and is photographed; the plot component copes with 100k points."""

from __future__ import annotations

import secrets

import httpx

from tests.browser.conftest import SCREENSHOTS
from tests.browser.navigation import PHONE, open_page
from tests.browser.test_workflow import MODEL_FILES, PROTOCOL_FILE, sign_in, upload
from tests.conftest import bearer


async def test_tour_of_the_pages(server, browser, server_user, timings, tmp_path) -> None:  # noqa: ANN001
    user, token = await server_user("tour", roles={"moderator"})
    page = await sign_in(browser, server, user.name)
    tag = secrets.token_hex(3)
    model_url = await upload(page, server, "model", f"Tour model {tag}", MODEL_FILES[0])
    protocol_url = await upload(page, server, "protocol", f"Tour protocol {tag}", PROTOCOL_FILE)
    model_id = "models/" + model_url.rsplit("/", 1)[1]
    protocol_id = "protocols/" + protocol_url.rsplit("/", 1)[1]

    # Start the experiment through the API, as a program would; its run page must show it either way.
    async with httpx.AsyncClient(base_url=server, headers=bearer(token)) as http:
        query = """query($m: ID!, $p: ID!) { m: node(id: $m) { ... on Entity { latestVersion { id } } }
                   p: node(id: $p) { ... on Entity { latestVersion { id } } } }"""
        found = (
            await http.post("/graphql", json={"query": query, "variables": {"m": model_id, "p": protocol_id}})
        ).json()
        started = (
            await http.post(
                "/graphql",
                json={
                    "query": """mutation($m: ID!, $p: ID!) {
            runExperiment(model: $m, protocol: $p) { __typename ... on Run { uri } ... on Error { message } } }""",
                    "variables": {
                        "m": found["data"]["m"]["latestVersion"]["id"],
                        "p": found["data"]["p"]["latestVersion"]["id"],
                    },
                },
            )
        ).json()
    run_uri = started["data"]["runExperiment"]["uri"]

    await open_page(page, server, name="home", timings=timings)
    assert await page.locator("#versions").get_by_role("link", name=f"Tour model {tag}").count() == 1
    await open_page(page, server + "models", name="models", timings=timings)
    assert await page.get_by_role("link", name=f"Tour model {tag}").count() == 1
    # A chosen selection: tick the model in the list, open the matrix with just that row.
    await page.get_by_label(f"Select Tour model {tag}").check()
    await page.get_by_role("button", name="Show the selected models in the experiment matrix").click()
    await page.wait_for_selector("html[data-ready]", state="attached")
    assert await page.locator("table.matrix tbody tr").count() == 1
    assert await page.locator("table.matrix tbody th").inner_text() == f"Tour model {tag}"
    await page.screenshot(path=str(SCREENSHOTS / "matrix-selection.png"), full_page=True)
    await open_page(page, server + "protocols", name="protocols", timings=timings)
    await open_page(page, server + "datasets", name="datasets", timings=timings)
    await open_page(
        page, server + f"models?term=oxmeta:membrane_voltage&q={tag}", name="models-filtered", timings=timings
    )
    assert await page.get_by_role("link", name=f"Tour model {tag}").count() == 1

    await open_page(page, server + "view/runs/" + run_uri.rsplit("/", 1)[1], name="run-page", timings=timings)
    assert await page.locator("#run-status .status").count() == 1
    assert f"Tour model {tag}" in await page.locator("h1").inner_text()

    await open_page(page, server + "experiments", name="matrix", timings=timings)
    await open_page(page, server + "moderation", name="moderation", timings=timings)
    endorse = page.get_by_role("button", name=f"Endorse Tour model {tag}")
    await endorse.click()
    await page.get_by_role("button", name=f"Withdraw Tour model {tag}").wait_for()
    await open_page(page, server + "compare", name="compare-empty", timings=timings)
    await open_page(
        page,
        server + f"upload?kind=model&entity={model_url.replace('/view/', '/')}",
        name="upload-version",
        timings=timings,
    )

    # A new version with one changed line: the versions tab lists both, and the diff shows the change.
    changed = tmp_path / MODEL_FILES[0].name
    original = MODEL_FILES[0].read_text()
    changed.write_text(original.replace("<model ", "<!-- tour edit -->\n<model ", 1))
    await page.get_by_label("Files", exact=True).set_input_files(str(changed))
    await page.get_by_label("Message").fill("a comment before the model")
    await page.get_by_role("button", name="Upload").click()
    await page.wait_for_url(model_url)
    await page.wait_for_selector("html[data-ready]", state="attached")
    await page.get_by_role("tab", name="Versions").click()
    assert await page.locator("#versions tr").count() == 2
    await page.get_by_role("button", name="Show differences").click()
    added = page.locator("#diff .add")
    await added.first.wait_for()
    assert "tour edit" in await added.first.inner_text()
    await page.screenshot(path=str(SCREENSHOTS / "entity-diff.png"), full_page=True)

    # Keyboard: the entity page's tabs move with the arrow keys.
    await open_page(page, model_url, name="entity", timings=timings)
    await page.get_by_role("tab", name="Files").focus()
    await page.keyboard.press("ArrowRight")
    assert await page.get_by_role("tab", name="Versions").get_attribute("aria-selected") == "true"
    assert await page.locator("#panel-versions").is_visible()
    await page.context.close()

    # Phone width: the pages fit the screen.
    phone = await (await browser.new_context(viewport=PHONE)).new_page()
    for name, url in [
        ("phone-home", server),
        ("phone-entity", model_url),
        ("phone-matrix", server + "experiments"),
    ]:
        await open_page(phone, url, name=name, timings=timings)
        assert await phone.evaluate("document.documentElement.scrollWidth") <= PHONE["width"]
    await phone.context.close()


async def test_plot_of_100k_points_zooms_and_exports(server, browser, timings, tmp_path) -> None:  # noqa: ANN001
    context = await browser.new_context(accept_downloads=True)
    page = await context.new_page()
    await open_page(page, server + "compare", screenshot=False)
    drawn_ms = await page.evaluate("""async () => {
        const { makePlot } = await import('/static/js/plot.js');
        const n = 100000;
        const x = Float64Array.from({ length: n }, (_, i) => i * 0.01);
        const series = [0, 1].map((k) => ({ label: `trace ${k}`, x, y: x.map((t) => Math.sin(t + k)) }));
        const box = document.getElementById('compare-plots');
        const t0 = performance.now();
        makePlot(box, { title: 'Hundred thousand points', xLabel: 'time (ms)', yLabel: 'value', series });
        await new Promise((r) => requestAnimationFrame(() => requestAnimationFrame(r)));
        return performance.now() - t0;
    }""")
    timings.add("plot-100k-points-x2-draw", drawn_ms)
    figure = page.locator("figure.plot")
    assert await figure.locator("canvas").count() >= 1
    # Keyboard zoom narrows the x range; 0 resets it.
    scale = "() => { const u = document.querySelector('figure.plot').uplot; return u.scales.x.max - u.scales.x.min; }"
    full = await page.evaluate(scale)
    await figure.locator(".canvas").focus()
    await page.keyboard.press("+")
    assert await page.evaluate(scale) < full
    await page.keyboard.press("0")
    assert await page.evaluate(scale) == full
    # CSV export holds every point of both series.
    async with page.expect_download() as info:
        await figure.get_by_role("button", name="Download CSV").click()
    path = tmp_path / "plot.csv"
    await (await info.value).save_as(path)
    lines = path.read_text().splitlines()
    assert lines[0] == '"time (ms)","trace 0","trace 1"'
    assert len(lines) == 100001
    async with page.expect_download() as info:
        await figure.get_by_role("button", name="Download PNG").click()
    assert (await info.value).suggested_filename == "hundred-thousand-points.png"
    await page.screenshot(path=str(tmp_path / "plot.png"))
    await context.close()
