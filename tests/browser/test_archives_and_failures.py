"""Less travelled paths a modeller meets: a model uploaded as a COMBINE or zip archive through the upload
page, and runs that do not succeed, whose pages must say why in words a modeller can act on."""

from __future__ import annotations

import re
import secrets
import zipfile
from pathlib import Path

from tests.browser.accessibility import serious_violations
from tests.browser.navigation import open_page, wait_complete
from tests.browser.test_accessibility import run_to_the_end
from tests.browser.test_workflow import PROTOCOL_FILE, sign_in, upload
from tests.conftest import SHARED_DATA

CELLML = SHARED_DATA / "cellml"
# Two real models that both could be the main file of an archive holding them.
PAIR = [CELLML / "beeler_reuter_model_1977.cellml", CELLML / "luo_rudy_1991.cellml"]
OMEX_NS = "http://identifiers.org/combine.specifications/omex-manifest"
CELLML_FORMAT = "http://identifiers.org/combine.specifications/cellml"


def archive(path: Path, files: dict[str, bytes], master: str | None = None) -> Path:
    """Write a zip of ``files``; with ``master``, a COMBINE archive whose manifest marks that file as main."""
    with zipfile.ZipFile(path, "w", compression=zipfile.ZIP_DEFLATED) as zf:
        if master is not None:
            flag = {name: ' master="true"' if name == master else "" for name in files}
            entries = "".join(
                f'<content location="./{name}" format="{CELLML_FORMAT}"{flag[name]}/>' for name in files
            )
            zf.writestr(
                "manifest.xml",
                f'<?xml version="1.0" encoding="UTF-8"?>\n<omexManifest xmlns="{OMEX_NS}">'
                f'<content location="." format="{OMEX_NS[: -len("-manifest")]}/omex"/>'
                f"{entries}</omexManifest>",
            )
        for name, data in files.items():
            zf.writestr(name, data)
    return path


async def listed_files(page) -> dict[str, bool]:  # noqa: ANN001
    """The entity page's file list: path → whether it is marked as the main file."""
    await page.locator("#files li button").first.wait_for()
    rows = {}
    for item in await page.locator("#files li").all():
        path = await item.get_by_role("button").inner_text()
        rows[path] = await item.locator(".badge", has_text="main").count() == 1
    return rows


async def test_a_model_from_a_combine_archive_and_from_a_zip(server, browser, server_user, tmp_path) -> None:  # noqa: ANN001
    user, _ = await server_user("omex")
    page = await sign_in(browser, server, user.name)
    tag = secrets.token_hex(3)
    contents = {f"models/{p.name}": p.read_bytes() for p in PAIR}
    master = f"models/{PAIR[1].name}"

    # A COMBINE archive: its manifest says which file is the model.
    omex = archive(tmp_path / "pair.omex", contents, master=master)
    await upload(page, server, "model", f"Archived pair {tag}", omex)
    assert await listed_files(page) == {name: name == master for name in contents}
    # The main file is the one shown, highlighted, and its annotations are the model's.
    assert PAIR[1].name in await page.locator("#file-view pre").get_attribute("aria-label")
    assert await page.locator("#file-view code.hljs").count() == 1
    await page.get_by_role("tab", name="Annotations").click()
    await page.locator("#annotations a[href*='membrane_voltage']").first.wait_for()
    # A link to a tab opens the page on that tab, with its contents loaded.
    url = page.url.split("#")[0]
    for tab in ("annotations", "compatibility"):
        await page.goto(server + "models")
        await open_page(page, f"{url}#{tab}", screenshot=False)
        assert await page.get_by_role("tab", selected=True).get_attribute("id") == f"tab-{tab}"
        await page.locator(f"#{tab} .loading").wait_for(state="detached")
        assert await page.locator(f"#{tab}").inner_text()

    # A plain zip of the same two models cannot say which is the model: the server's question appears
    # next to the Main file field; answering it there creates the model.
    plain = archive(tmp_path / "pair.zip", contents)
    await page.goto(server + "upload?kind=model")
    await page.get_by_label("Name", exact=True).fill(f"Zipped pair {tag}")
    await page.get_by_label("Files").set_input_files(str(plain))
    await page.get_by_role("button", name="Upload").click()
    error = page.locator("#upload-main-error")
    await error.wait_for()
    question = await error.inner_text()
    assert all(name in question for name in contents), question
    assert await page.get_by_label("Main file (optional)").get_attribute("aria-invalid") == "true"
    await page.get_by_label("Main file (optional)").fill(f"models/{PAIR[0].name}")
    await page.get_by_role("button", name="Upload").click()
    await page.wait_for_url(re.compile(r".*/view/models/[^/?#]+$"))
    assert await listed_files(page) == {name: name == f"models/{PAIR[0].name}" for name in contents}
    assert await page.locator("#entity-name").inner_text() == f"Zipped pair {tag}"
    await page.context.close()


UNANNOTATED = """<?xml version="1.0" encoding="UTF-8"?>
<model xmlns="http://www.cellml.org/cellml/1.0#" xmlns:cellml="http://www.cellml.org/cellml/1.0#" name="leak_only">
  <units name="ms"><unit prefix="milli" units="second"/></units>
  <units name="mV"><unit prefix="milli" units="volt"/></units>
  <units name="mV_per_ms"><unit units="mV"/><unit units="ms" exponent="-1"/></units>
  <component name="membrane">
    <variable name="time" units="ms"/>
    <variable name="V" units="mV" initial_value="-80"/>
    <math xmlns="http://www.w3.org/1998/Math/MathML">
      <apply><eq/><apply><diff/><bvar><ci>time</ci></bvar><ci>V</ci></apply>
        <apply><divide/><apply><minus/><cn cellml:units="mV">-80</cn><ci>V</ci></apply><cn cellml:units="ms">10</cn></apply>
      </apply>
    </math>
  </component>
</model>
"""


async def test_failed_and_inapplicable_runs_say_why(server, browser, server_user, tmp_path) -> None:  # noqa: ANN001
    user, token = await server_user("fail")
    page = await sign_in(browser, server, user.name)
    tag = secrets.token_hex(3)
    model_url = await upload(page, server, "model", f"Failing model {tag}", PAIR[0])

    # A protocol that asserts something false before simulating: the run fails, and its page shows the
    # status and the protocol's own error, naming the line of the assertion.
    lines = PROTOCOL_FILE.read_text().splitlines()
    at = lines.index("tasks {")
    failing = tmp_path / "FalseAssertion.txt"
    failing.write_text("\n".join([*lines[:at], "library {", "    assert 1 == 2", "}", *lines[at:]]) + "\n")
    protocol_url = await upload(page, server, "protocol", f"False assertion {tag}", failing)
    run = await run_to_the_end(server, token, model_url, protocol_url)
    assert run["status"] == "FAILED", run
    await open_page(page, server + "view/runs/" + run["uri"].rsplit("/", 1)[1], name="run-failed")
    assert await page.locator("#run-status").inner_text() == "failed"
    await page.get_by_role("heading", name="What went wrong").wait_for()
    shown = await page.locator("#run-message pre.error-text").inner_text()
    assert "assertion failed" in shown
    assert re.search(rf"FalseAssertion\.txt:{at + 2}\b", shown), shown  # the (1-based) line of the assertion
    assert await page.get_by_role("button", name="Run again").is_visible()
    assert "failed before producing outputs" in await page.locator("#plots").inner_text()
    assert await serious_violations(page, "failed run page") == []

    # A model without the annotations the protocol needs: the run is inapplicable, and its page names
    # the missing terms, each linking to the models that have it.
    bare = tmp_path / "leak_only.cellml"
    bare.write_text(UNANNOTATED)
    bare_url = await upload(page, server, "model", f"Unannotated model {tag}", bare)
    good_protocol_url = await upload(page, server, "protocol", f"Graph state {tag}", PROTOCOL_FILE)
    run = await run_to_the_end(server, token, bare_url, good_protocol_url)
    assert run["status"] == "INAPPLICABLE", run
    await open_page(page, server + "view/runs/" + run["uri"].rsplit("/", 1)[1], name="run-inapplicable")
    assert await page.locator("#run-status").inner_text() == "inapplicable"
    notice = page.locator("#run-message .notice")
    assert "lacks terms the protocol needs" in await notice.inner_text()
    links = [await a.get_attribute("href") for a in await notice.get_by_role("link").all()]
    assert any("membrane_voltage" in href for href in links), links
    assert await page.get_by_role("button", name="Run again").count() == 0
    assert "cannot run on this model" in await page.locator("#outputs").inner_text()
    assert await serious_violations(page, "inapplicable run page") == []

    # The matrix shows both kinds of cell, each in words for screen readers and in colours that read.
    await open_page(page, server + "experiments?subset=mine", screenshot=False)
    await wait_complete(page, name="matrix-failures")
    statuses = {
        await b.get_attribute("data-status") for b in await page.locator("table.matrix td button").all()
    }
    assert {"FAILED", "INAPPLICABLE"} <= statuses, statuses
    assert await serious_violations(page, "matrix with failed and inapplicable runs") == []

    # With the keyboard: the arrows move between cells, each announcing what it holds (and showing it in
    # the tooltip); Enter opens the failed run.
    label = "() => document.activeElement.getAttribute('aria-label')"
    await page.locator("table.matrix td button[tabindex='0']").focus()
    assert (await page.evaluate(label)).startswith(f"Failing model {tag} × False assertion {tag}: failed")
    await page.keyboard.press("ArrowDown")
    assert "inapplicable, the model lacks" in await page.evaluate(label)
    assert "inapplicable" in await page.locator("#tooltip").inner_text()
    await page.keyboard.press("ArrowUp")
    await page.keyboard.press("Enter")
    await page.wait_for_url(re.compile(r".*/view/runs/[0-9a-f-]+$"))
    await page.wait_for_selector("html[data-ready]", state="attached")
    assert await page.locator("#run-status").inner_text() == "failed"
    await page.context.close()
