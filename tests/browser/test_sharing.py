"""Owners share and label their work from the entity page: collaborators, tags, visibility; datasets
show their CSV files as tables."""

from __future__ import annotations

import secrets

from tests.browser.test_workflow import MODEL_FILES, sign_in, upload


async def test_collaborator_tag_and_visibility(server, browser, server_user, tmp_path) -> None:  # noqa: ANN001
    owner, _ = await server_user("owner")
    friend, _ = await server_user("friend")
    name = f"Shared model {secrets.token_hex(3)}"
    page = await sign_in(browser, server, owner.name)
    url = await upload(page, server, "model", name, MODEL_FILES[0], visibility="private")
    friend_page = await sign_in(browser, server, friend.name)

    async def friend_sees_it() -> bool:
        await friend_page.goto(url)
        await friend_page.wait_for_selector("html[data-ready]", state="attached")
        return await friend_page.get_by_role("heading", name=name).count() == 1

    assert not await friend_sees_it()

    # Grant: the friend now sees the private version.
    await page.get_by_role("tab", name="Collaborators").click()
    await page.get_by_label("Add a collaborator (user name)").fill("nobody-" + secrets.token_hex(3))
    await page.get_by_role("button", name="Add", exact=True).click()
    await page.locator("#grant-user-error").wait_for()  # an unknown user is refused next to the field
    await page.get_by_label("Add a collaborator (user name)").fill(friend.name)
    await page.get_by_role("button", name="Add", exact=True).click()
    await page.locator("#collaborators").get_by_text(friend.name).wait_for()
    assert await friend_sees_it()

    # Revoke: hidden again.
    await page.get_by_role("button", name=f"Remove collaborator {friend.name}").click()
    await page.locator("#collaborators").get_by_text("No collaborators.").wait_for()
    assert not await friend_sees_it()

    # Tag the version, then make it public: anyone sees it, with its tag.
    await page.get_by_role("tab", name="Versions").click()
    await page.get_by_label("Tag", exact=True).fill("v1.0")
    await page.get_by_role("button", name="Add tag").click()
    await page.locator("#versions .badge.tag", has_text="v1.0").wait_for()
    await page.locator("#versions select").select_option("PUBLIC")
    await page.locator("#entity-summary .badge.public").wait_for()
    assert await friend_sees_it()
    assert await friend_page.locator("#entity-summary .badge.tag", has_text="v1.0").count() == 1
    await page.context.close()
    await friend_page.context.close()


async def test_dataset_csv_is_shown_as_a_table(server, browser, server_user, tmp_path) -> None:  # noqa: ANN001
    user, _ = await server_user("data")
    rows = [("time", "voltage")] + [(str(t), str(-80 + t / 10)) for t in range(20)]
    csv = tmp_path / "trace.csv"
    csv.write_text("\n".join(",".join(r) for r in rows) + "\n")
    page = await sign_in(browser, server, user.name)
    await upload(page, server, "dataset", f"Trace {secrets.token_hex(3)}", csv)
    table = page.locator("#file-view table")
    await table.wait_for()
    assert await table.locator("thead th").all_inner_texts() == list(rows[0])
    assert await table.locator("tbody tr").count() == len(rows) - 1
    await page.context.close()
