"""Deleting an entity from its page: only its owner or an admin is offered it, a dialog confirms it
(keeping it is the default), and afterwards the entity is gone for everyone."""

from __future__ import annotations

import re
import secrets

from tests.browser.accessibility import serious_violations
from tests.browser.conftest import SCREENSHOTS
from tests.browser.test_workflow import MODEL_FILES, sign_in, upload

DELETE = re.compile(r"^Delete this model$")


async def test_owner_deletes_a_model_after_confirming(server, browser, server_user) -> None:  # noqa: ANN001
    owner, _ = await server_user("del")
    other, _ = await server_user("nodel")
    name = f"Doomed model {secrets.token_hex(3)}"
    page = await sign_in(browser, server, owner.name)
    url = await upload(page, server, "model", name, MODEL_FILES[0])

    # Another user sees the model but is not offered to delete it.
    stranger = await sign_in(browser, server, other.name)
    await stranger.goto(url)
    await stranger.wait_for_selector("html[data-ready]", state="attached")
    assert await stranger.locator("#entity-name").inner_text() == name
    assert await stranger.get_by_role("button", name=DELETE).count() == 0

    # The owner is asked first; "Keep it" (which has the focus) keeps it.
    await page.get_by_role("button", name=DELETE).click()
    dialog = page.get_by_role("dialog", name="Delete this model?")
    await dialog.wait_for()
    assert name in await dialog.inner_text()
    assert await page.evaluate("document.activeElement.textContent") == "Keep it"
    assert await serious_violations(page, "delete dialog") == []
    SCREENSHOTS.mkdir(parents=True, exist_ok=True)
    await page.screenshot(path=str(SCREENSHOTS / "delete-dialog.png"))
    await page.keyboard.press("Enter")
    await dialog.wait_for(state="hidden")
    await page.reload()
    await page.wait_for_selector("html[data-ready]", state="attached")
    assert await page.locator("#entity-name").inner_text() == name

    # Confirmed: the list page says so, and the model is gone for the owner and for everyone else.
    await page.get_by_role("button", name=DELETE).click()
    await dialog.get_by_role("button", name="Delete", exact=True).click()
    await page.wait_for_url(re.compile(r".*/models\?deleted=.+"))
    assert await page.get_by_role("status").inner_text() == f"Deleted {name}."
    await page.goto(server + f"models?q={name.split()[-1]}")
    await page.wait_for_selector("html[data-ready]", state="attached")
    assert await page.get_by_role("link", name=name).count() == 0
    for viewer in (page, stranger):
        await viewer.goto(url)
        await viewer.wait_for_selector("html[data-ready]", state="attached")
        assert await viewer.get_by_role("heading", name="Not found").is_visible()
    await page.context.close()
    await stranger.context.close()


async def test_an_admin_may_delete_another_users_model(server, browser, server_user) -> None:  # noqa: ANN001
    owner, _ = await server_user("own")
    admin, _ = await server_user("adm", roles={"admin"})
    name = f"Unwanted model {secrets.token_hex(3)}"
    page = await sign_in(browser, server, owner.name)
    url = await upload(page, server, "model", name, MODEL_FILES[0])
    await page.context.close()

    page = await sign_in(browser, server, admin.name)
    await page.goto(url)
    await page.wait_for_selector("html[data-ready]", state="attached")
    await page.get_by_role("button", name=DELETE).click()
    await page.get_by_role("dialog").get_by_role("button", name="Delete", exact=True).click()
    await page.wait_for_url(re.compile(r".*/models\?deleted=.+"))
    await page.goto(url)
    await page.wait_for_selector("html[data-ready]", state="attached")
    assert await page.get_by_role("heading", name="Not found").is_visible()
    await page.context.close()
