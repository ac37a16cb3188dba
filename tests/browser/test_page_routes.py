"""The page routes over HTTP (no browser): who may open what, and where links may lead."""

from __future__ import annotations

from tests.conftest import bearer


async def test_pages_answer_html_and_name_the_signed_in_user(client, make_user) -> None:  # noqa: ANN001
    user, token = await make_user("pages")
    for path in (
        "/",
        "/models",
        "/protocols",
        "/datasets",
        "/experiments",
        "/compare",
        "/login",
        "/register",
        "/view/models/anything",
        "/view/models/anything/versions/latest",
        "/view/runs/x",
    ):
        response = await client.get(path, headers=bearer(token))
        assert response.status_code == 200, path
        assert response.headers["content-type"].startswith("text/html")
        assert f'data-user="{user.name}"' in response.text, path


async def test_pages_for_signed_in_users_send_others_to_sign_in(client) -> None:  # noqa: ANN001
    for path in ("/upload", "/account", "/moderation"):
        response = await client.get(path)
        assert response.status_code == 303
        assert response.headers["location"] == f"/login?next={path}"


async def test_moderation_is_for_moderators(client, make_user) -> None:  # noqa: ANN001
    _, plain = await make_user("plain")
    _, moderator = await make_user("moder", roles={"moderator"})
    assert (await client.get("/moderation", headers=bearer(plain))).status_code == 403
    assert (await client.get("/moderation", headers=bearer(moderator))).status_code == 200


async def test_login_only_returns_to_pages_of_this_site(client) -> None:  # noqa: ANN001
    for target, expected in (
        ("/account", "/account"),
        ("https://evil.example/", "/"),
        ("//evil.example/", "/"),
    ):
        response = await client.get("/login", params={"next": target})
        assert f'data-next="{expected}"' in response.text


async def test_unknown_kind_is_not_found(client) -> None:  # noqa: ANN001
    response = await client.get("/view/widgets/x")
    assert response.status_code == 404
    assert "widgets" in response.text


async def test_static_files_and_vendored_libraries_are_served_with_their_licences(client) -> None:  # noqa: ANN001
    for path in (
        "/static/css/weblab.css",
        "/static/js/api.js",
        "/static/vendor/uplot/uPlot.esm.js",
        "/static/vendor/uplot/LICENSE",
        "/static/vendor/highlight/core.min.js",
        "/static/vendor/highlight/LICENSE",
    ):
        assert (await client.get(path)).status_code == 200, path
