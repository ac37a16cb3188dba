"""Accounts through HTTP: registration, login, sessions with CSRF, API tokens."""

from __future__ import annotations

import secrets

import httpx

from tests.conftest import bearer


def _name(prefix: str = "u") -> str:
    return f"{prefix}{secrets.token_hex(4)}"


async def register(
    client: httpx.AsyncClient, name: str, email: str | None = None, password: str = "long enough"
):
    return await client.post(
        "/auth/register", json={"name": name, "email": email or f"{name}@example.org", "password": password}
    )


async def test_register_then_login_with_a_session_cookie(browser: httpx.AsyncClient) -> None:
    name = _name()
    r = await register(browser, name)
    assert r.status_code == 201, r.text
    assert r.json()["user"]["name"] == name

    # a form login carries the CSRF token the login page set (cookie and hidden field)
    await browser.get("/login")
    token = browser.cookies["weblab_csrf"]
    r = await browser.post("/auth/login", data={"name": name, "password": "long enough", "csrf_token": token})
    assert r.status_code == 200
    assert r.cookies["weblab_csrf"] == r.json()["csrf_token"]
    me = await browser.get("/auth/me")
    assert me.json()["user"]["name"] == name


async def test_duplicate_name_or_email_is_a_409(client: httpx.AsyncClient) -> None:
    name = _name()
    assert (await register(client, name)).status_code == 201
    again = await register(client, name, email=f"other-{name}@example.org")
    assert again.status_code == 409
    assert "name" in again.json()["error"]["message"]
    same_email = await register(client, _name(), email=f"{name.upper()}@EXAMPLE.org")
    assert same_email.status_code == 409
    assert "email" in same_email.json()["error"]["message"]


async def test_bad_registration_fields_are_named(client: httpx.AsyncClient) -> None:
    r = await register(client, "has space")
    assert r.status_code == 400 and r.json()["error"]["field"] == "name"
    r = await register(client, _name(), email="not-an-email")
    assert r.status_code == 400 and r.json()["error"]["field"] == "email"
    r = await register(client, _name(), password="short")
    assert r.status_code == 400 and r.json()["error"]["field"] == "password"
    r = await client.post(
        "/auth/register", content=b"{not json", headers={"content-type": "application/json"}
    )
    assert r.status_code == 400


async def test_wrong_password_and_unknown_user_get_the_same_401(client: httpx.AsyncClient) -> None:
    name = _name()
    await register(client, name)
    wrong = await client.post("/auth/login", json={"name": name, "password": "not the password"})
    unknown = await client.post("/auth/login", json={"name": _name("nobody"), "password": "not the password"})
    assert wrong.status_code == unknown.status_code == 401
    assert wrong.json() == unknown.json()


async def test_cookie_requests_that_change_state_need_the_csrf_token(browser: httpx.AsyncClient) -> None:
    name = _name()
    await register(browser, name)
    login = await browser.post("/auth/login", json={"name": name, "password": "long enough"})
    refused = await browser.post("/auth/tokens", json={"name": "t"})
    assert refused.status_code == 403
    assert refused.json()["error"]["code"] == "csrf"
    forged = await browser.post("/auth/tokens", json={"name": "t"}, headers={"X-CSRF-Token": "guess"})
    assert forged.status_code == 403
    ok = await browser.post(
        "/auth/tokens", json={"name": "t"}, headers={"X-CSRF-Token": login.json()["csrf_token"]}
    )
    assert ok.status_code == 201


async def test_logout_ends_the_session(browser: httpx.AsyncClient) -> None:
    name = _name()
    await register(browser, name)
    login = await browser.post("/auth/login", json={"name": name, "password": "long enough"})
    session = login.cookies["weblab_session"]
    headers = {"X-CSRF-Token": login.json()["csrf_token"]}
    assert (await browser.post("/auth/logout", headers=headers)).status_code == 204
    browser.cookies.set("weblab_session", session)
    assert (await browser.get("/auth/me")).status_code == 401


async def test_api_tokens_authenticate_until_revoked(client: httpx.AsyncClient, make_user) -> None:
    user, token = await make_user("tok")
    me = await client.get("/auth/me", headers=bearer(token))
    assert me.json()["user"]["name"] == user.name

    created = await client.post("/auth/tokens", json={"name": "script"}, headers=bearer(token))
    assert created.status_code == 201
    second = created.json()["token"]
    listed = await client.get("/auth/tokens", headers=bearer(second))
    assert [t["name"] for t in listed.json()["tokens"]] == ["test", "script"]
    assert all("token" not in t for t in listed.json()["tokens"]), "secrets are shown once only"

    revoked = await client.delete(f"/auth/tokens/{created.json()['id']}", headers=bearer(token))
    assert revoked.status_code == 204
    after = await client.get("/auth/me", headers=bearer(second))
    assert after.status_code == 401
    assert "revoked" in after.json()["error"]["message"]


async def test_a_user_cannot_revoke_another_users_token(client: httpx.AsyncClient, make_user) -> None:
    _, alice = await make_user("alice")
    _, bob = await make_user("bob")
    tokens = (await client.get("/auth/tokens", headers=bearer(alice))).json()["tokens"]
    r = await client.delete(f"/auth/tokens/{tokens[0]['id']}", headers=bearer(bob))
    assert r.status_code == 404
    assert (await client.get("/auth/me", headers=bearer(alice))).status_code == 200


async def test_anonymous_callers_are_asked_to_sign_in(client: httpx.AsyncClient) -> None:
    r = await client.get("/auth/me")
    assert r.status_code == 401
    assert r.json()["error"]["code"] == "unauthenticated"
