"""Sign up, sign in and out, and API tokens, in a real browser."""

from __future__ import annotations

import secrets

import httpx

from tests.browser.navigation import PHONE, open_page


async def test_register_sign_in_and_manage_tokens(server, browser, timings) -> None:  # noqa: ANN001
    name = f"ada{secrets.token_hex(3)}"
    context = await browser.new_context()
    page = await context.new_page()

    await open_page(page, server + "register", name="register", timings=timings)
    await page.get_by_label("User name").fill(name)
    await page.get_by_label("Email").fill(f"{name}@example.org")
    await page.get_by_label("Password").fill("short")
    await page.get_by_role("button", name="Create account").click()
    # The server's validation error appears next to the password field, which gets focus.
    error = page.locator("#register-password-error")
    await error.wait_for()
    assert "10 characters" in await error.inner_text()
    assert await page.evaluate("document.activeElement.id") == "register-password"

    await page.get_by_label("Password").fill("correct horse battery")
    await page.get_by_role("button", name="Create account").click()
    await page.wait_for_url(server)
    assert await page.locator("header.site").get_by_role("link", name=name).is_visible()

    await open_page(page, server + "account", name="account", timings=timings)
    await page.get_by_label("Token name").fill("scripts")
    await page.get_by_role("button", name="Create token").click()
    secret = (await page.locator("#token-secret").inner_text()).strip()
    async with httpx.AsyncClient(base_url=server) as http:
        me = await http.get("/auth/me", headers={"Authorization": f"Bearer {secret}"})
        assert me.status_code == 200 and me.json()["user"]["name"] == name

        await page.get_by_role("button", name="Revoke token scripts").click()
        await page.get_by_text("revoked").wait_for()
        assert (await http.get("/auth/me", headers={"Authorization": f"Bearer {secret}"})).status_code == 401

    await page.get_by_role("button", name="Sign out").click()
    await page.wait_for_url(server)
    assert await page.get_by_role("link", name="Sign in").is_visible()

    # Signing in again, with a wrong password first: the error is shown, nothing else happens.
    await open_page(page, server + "login?next=/account", name="login", timings=timings)
    await page.get_by_label("User name").fill(name)
    await page.get_by_label("Password").fill("wrong password")
    await page.get_by_role("button", name="Sign in").click()
    await page.get_by_role("alert").wait_for()
    assert "wrong user name or password" in await page.get_by_role("alert").inner_text()
    await page.get_by_label("Password").fill("correct horse battery")
    await page.get_by_role("button", name="Sign in").click()
    await page.wait_for_url(server + "account")
    await context.close()


async def test_sign_in_with_the_keyboard_at_phone_width(server, browser, server_user) -> None:  # noqa: ANN001
    user, _ = await server_user("kbd")
    context = await browser.new_context(viewport=PHONE)
    page = await context.new_page()
    await page.goto(server + "account")
    assert page.url.startswith(server + "login?next=/account")
    # Nothing overflows the viewport sideways at phone width.
    assert await page.evaluate("document.documentElement.scrollWidth") <= PHONE["width"]
    # The user name field has focus; Tab reaches the password; Enter submits.
    await page.keyboard.type(user.name)
    await page.keyboard.press("Tab")
    await page.keyboard.type("correct horse")
    await page.keyboard.press("Enter")
    await page.wait_for_url(server + "account")
    assert await page.get_by_role("heading", name="Your account").is_visible()
    assert await page.evaluate("document.documentElement.scrollWidth") <= PHONE["width"]
    await context.close()
