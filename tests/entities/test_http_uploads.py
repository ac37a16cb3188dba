"""Uploads over HTTP: a version is published from a multipart form; bad uploads get a 4xx naming the file."""

from __future__ import annotations

import io
import zipfile

import httpx

from resolvers.entities import Entities
from resolvers.metadata import Kind

CELLML = b'<model name="m" xmlns="http://www.cellml.org/cellml/1.0#"/>'


def bearer(token: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}"}


async def test_publish_then_add_a_version_over_http(http: httpx.AsyncClient, make_user, beeler_reuter):
    owner, token = await make_user("owner")
    created = await http.post(
        "/models",
        headers=bearer(token),
        data={"name": "uploaded", "message": "v1"},
        files=[("files", (beeler_reuter.name, beeler_reuter.data))],
    )
    assert created.status_code == 201, created.text
    body = created.json()
    entity_id, first = body["entity"]["id"], body["version"]
    assert body["entity"]["owner"] == owner.name and first["main"] == beeler_reuter.name

    added = await http.post(
        f"/models/{entity_id}/versions",
        headers=bearer(token),
        data={"message": "docs", "inherit": "true", "tag": "with-docs"},
        files=[("files", ("README.md", b"# readme\n"))],
    )
    assert added.status_code == 201, added.text
    assert added.json()["version"]["parent"] == first["uri"]

    readme = await http.get(f"/models/{entity_id}/versions/with-docs/files/README.md")
    assert readme.status_code == 200 and readme.content == b"# readme\n"
    model = await http.get(f"/models/{entity_id}/versions/with-docs/files/{beeler_reuter.name}")
    assert model.content == beeler_reuter.data
    diff = await http.get(f"/models/{entity_id}/diff", params={"from": first["sha"], "to": "latest"})
    assert diff.status_code == 200 and "+# readme" in diff.text

    again = await http.post(
        f"/models/{entity_id}/versions",
        headers=bearer(token),
        data={"inherit": "true"},
        files=[("files", ("README.md", b"# readme\n"))],
    )
    assert again.status_code == 409 and again.json()["error"]["code"] == "unchanged"


async def test_bad_uploads_get_4xx_and_write_nothing(
    small_http: httpx.AsyncClient, entities: Entities, make_user
):
    owner, token = await make_user("owner")
    traversal = io.BytesIO()
    with zipfile.ZipFile(traversal, "w") as zf:
        zf.writestr("../../escape.cellml", CELLML)
    bomb = io.BytesIO()
    with zipfile.ZipFile(bomb, "w", compression=zipfile.ZIP_DEFLATED) as zf:
        zf.writestr("zeros.cellml", b"\0" * 60_000)  # a few hundred bytes packed, over 50 kB unpacked
    cases = [
        ([("files", ("model.cellml", b"not xml at all"))], 400, "model.cellml"),
        ([("files", ("model.cellml", b"<sbml/>"))], 400, "model.cellml"),
        ([("files", ("evil.zip", traversal.getvalue()))], 400, "evil.zip"),
        ([("files", ("bomb.zip", bomb.getvalue()))], 413, "bomb.zip"),
        ([("files", ("empty.cellml", b""))], 400, "empty.cellml"),
        ([("files", ("huge.cellml", b"<a/>" * 3000))], 413, "huge.cellml"),
        ([("files", ("a.cellml", CELLML)), ("files", ("a.cellml", CELLML))], 400, "a.cellml"),
        ([], 400, "files"),
    ]
    graphs_before = set(entities.ox.named_graphs())
    for files, status, named in cases:
        response = await small_http.post(
            "/models", headers=bearer(token), data={"name": "bad"}, files=files or None
        )
        assert response.status_code == status, (named, response.text)
        error = response.json()["error"]
        assert named in error["message"], error
    assert entities.find_entity(Kind.MODEL, owner.name, "bad") is None
    assert set(entities.ox.named_graphs()) == graphs_before


async def test_name_clash_is_409(http: httpx.AsyncClient, make_user):
    _, token = await make_user("owner")
    form = {"name": "twice"}
    first = await http.post(
        "/protocols", headers=bearer(token), data=form, files=[("files", ("p.txt", b"# x\n"))]
    )
    assert first.status_code == 201
    second = await http.post(
        "/protocols", headers=bearer(token), data=form, files=[("files", ("p.txt", b"# y\n"))]
    )
    assert second.status_code == 409 and "twice" in second.json()["error"]["message"]


async def test_anonymous_upload_is_401(http: httpx.AsyncClient):
    response = await http.post("/models", data={"name": "anon"}, files=[("files", ("m.cellml", CELLML))])
    assert response.status_code == 401


async def test_an_unknown_visibility_is_400(http: httpx.AsyncClient, make_user):
    _, token = await make_user("owner")
    response = await http.post(
        "/protocols",
        headers=bearer(token),
        data={"name": "v", "visibility": "secret"},
        files=[("files", ("p.txt", b"# x\n"))],
    )
    assert response.status_code == 400
    assert response.json()["error"]["field"] == "visibility"


async def test_an_oversized_chunked_upload_is_413(small_http: httpx.AsyncClient, make_user):
    """No Content-Length to check up front: the body is cut off as it streams in."""
    _, token = await make_user("owner")
    boundary = "weblabboundary"
    head = (
        f'--{boundary}\r\nContent-Disposition: form-data; name="name"\r\n\r\nbig\r\n'
        f'--{boundary}\r\nContent-Disposition: form-data; name="files"; filename="big.txt"\r\n'
        f"Content-Type: text/plain\r\n\r\n"
    ).encode()
    total = 10_000 + 50_000 + 1
    chunk = b"x" * 4096

    async def body():  # noqa: ANN202 - an async generator makes httpx send it chunked
        yield head
        sent = 0
        while sent < total:
            yield chunk
            sent += len(chunk)
        yield f"\r\n--{boundary}--\r\n".encode()

    response = await small_http.post(
        "/protocols",
        content=body(),
        headers={**bearer(token), "Content-Type": f"multipart/form-data; boundary={boundary}"},
    )
    assert response.status_code == 413
