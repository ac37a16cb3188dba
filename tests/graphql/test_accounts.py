"""Accounts through GraphQL: register, log in with a session cookie (CSRF enforced), tokens, me."""

from __future__ import annotations

import secrets

import httpx

from tests.graphql.conftest import Gql

ME = "{ me { name email roles user { id uri name } tokens { id name revokedAt } } }"


async def test_anonymous_me_is_null(data: Gql) -> None:
    assert (await data(ME))["me"] is None


async def test_register_then_duplicate_is_a_typed_conflict(data: Gql) -> None:
    name = f"reg{secrets.token_hex(3)}"
    mutation = """mutation($n: String!, $e: String!) { register(name: $n, email: $e, password: "long enough pw") {
      __typename ... on Me { name email } ... on Error { message code } } }"""
    first = (await data(mutation, {"n": name, "e": f"{name}@example.org"}))["register"]
    assert first == {"__typename": "Me", "name": name, "email": f"{name}@example.org"}
    again = (await data(mutation, {"n": name, "e": f"other{name}@example.org"}))["register"]
    assert again["__typename"] == "Conflict" and "name" in again["message"]


async def test_register_validation_error_names_the_field(data: Gql) -> None:
    result = (
        await data("""mutation { register(name: "ok-name-1", email: "not an email", password: "long enough pw") {
      __typename ... on ValidationError { field message } } }""")
    )["register"]
    assert result["__typename"] == "ValidationError" and result["field"] == "email"


async def test_login_sets_cookies_and_session_needs_csrf(
    gclient: httpx.AsyncClient, data: Gql, make_user
) -> None:
    user, _ = await make_user("sess")
    login = """mutation($n: String!) { login(name: $n, password: "correct horse") {
      __typename ... on Session { csrfToken me { name } } ... on Error { code } } }"""
    response = await gclient.post("/graphql", json={"query": login, "variables": {"n": user.name}})
    result = response.json()["data"]["login"]
    assert result["__typename"] == "Session" and result["me"]["name"] == user.name
    cookies = {c.name: c.value for c in response.cookies.jar}
    assert "weblab_session" in cookies and cookies["weblab_csrf"] == result["csrfToken"]
    jar = {"Cookie": f"weblab_session={cookies['weblab_session']}"}
    # GET with the cookie is a safe request: no CSRF header needed
    got = await gclient.get("/graphql", params={"query": "{ me { name } }"}, headers=jar)
    assert got.json()["data"]["me"]["name"] == user.name
    # a POST with the cookie but without the CSRF header is refused before GraphQL runs
    refused = await gclient.post("/graphql", json={"query": "{ me { name } }"}, headers=jar)
    assert refused.status_code == 403
    ok = await gclient.post(
        "/graphql", json={"query": "{ me { name } }"}, headers={**jar, "X-CSRF-Token": result["csrfToken"]}
    )
    assert ok.json()["data"]["me"]["name"] == user.name
    out = await gclient.post(
        "/graphql",
        json={"query": "mutation { logout { ok } }"},
        headers={**jar, "X-CSRF-Token": result["csrfToken"]},
    )
    assert out.json()["data"]["logout"]["ok"] is True
    after = await gclient.get("/graphql", params={"query": "{ me { name } }"}, headers=jar)
    assert after.json()["data"]["me"] is None


async def test_wrong_password_is_unauthenticated(data: Gql, make_user) -> None:
    user, _ = await make_user("wrongpw")
    result = (
        await data(
            """mutation($n: String!) { login(name: $n, password: "nope nope nope") {
      __typename ... on Error { code } } }""",
            {"n": user.name},
        )
    )["login"]
    assert result == {"__typename": "Unauthenticated", "code": "wrong_credentials"}


async def test_tokens_create_list_revoke(data: Gql, gql: Gql, make_user) -> None:
    user, token = await make_user("tok")
    created = (
        await data(
            """mutation { createToken(name: "laptop") {
      __typename ... on ApiToken { id name secret } } }""",
            token=token,
        )
    )["createToken"]
    assert created["__typename"] == "ApiToken" and created["secret"].startswith("wl_")
    me = (await data(ME, token=created["secret"]))["me"]
    assert me["name"] == user.name and me["email"] == user.email
    assert [t["name"] for t in me["tokens"]] == ["test", "laptop"]
    revoked = (
        await data(
            "mutation($id: Int!) { revokeToken(id: $id) { __typename ... on TokenRevoked { id } } }",
            {"id": created["id"]},
            token=token,
        )
    )["revokeToken"]
    assert revoked == {"__typename": "TokenRevoked", "id": created["id"]}
    # a revoked token no longer authenticates (the middleware answers 401 before GraphQL)
    other = await make_user("tok2")
    stranger = (
        await data(
            "mutation($id: Int!) { revokeToken(id: $id) { __typename } }",
            {"id": me["tokens"][0]["id"]},
            token=other[1],
        )
    )["revokeToken"]
    assert stranger == {"__typename": "NotFound"}


async def test_token_mutation_needs_a_caller(data: Gql) -> None:
    result = await data('mutation { createToken(name: "x") { __typename ... on Error { message } } }')
    assert result["createToken"]["__typename"] == "Unauthenticated"
