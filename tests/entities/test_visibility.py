"""A private version is invisible to anonymous callers and other users, visible to its owner and collaborators.

Checked for every reader this area owns: file and archive downloads over HTTP, the
resolver API, and ``visible_graphs`` (the dataset the SPARQL endpoint and
linked-data pages query over).
"""

from __future__ import annotations

import io
import zipfile
from dataclasses import dataclass
from typing import Any

import httpx
import pyoxigraph as ox
import pytest

from resolvers.entities import Entities
from resolvers.errors import NotFound
from resolvers.metadata import EntityRecord, Kind, VersionRecord, Visibility
from resolvers.permissions import visible_graphs
from resolvers.uploads import Upload


@dataclass
class Scene:
    entity: EntityRecord
    public: VersionRecord
    private: VersionRecord
    users: dict[str, Any]  # role → User | None
    tokens: dict[str, str]


@pytest.fixture(scope="module")
async def scene(entities: Entities, make_user) -> Scene:
    owner, owner_token = await make_user("owner")
    collaborator, collaborator_token = await make_user("collab")
    other, other_token = await make_user("other")
    admin, admin_token = await make_user("admin", roles={"admin"})
    entity, public = await entities.publish(
        owner, Kind.PROTOCOL, "secret work", [Upload("p.txt", b"# public\n")]
    )
    private = await entities.add_version(
        owner, entity.uri, [Upload("p.txt", b"# private\n")], visibility=Visibility.PRIVATE, message="not yet"
    )
    await entities.grant(owner, entity.uri, collaborator.name)
    return Scene(
        entity,
        public,
        private,
        {"anonymous": None, "other": other, "owner": owner, "collaborator": collaborator, "admin": admin},
        {
            "other": other_token,
            "owner": owner_token,
            "collaborator": collaborator_token,
            "admin": admin_token,
        },
    )


SEES_PRIVATE = {"anonymous": False, "other": False, "owner": True, "collaborator": True, "admin": True}
ROLES = list(SEES_PRIVATE)


def headers(scene: Scene, role: str) -> dict[str, str]:
    token = scene.tokens.get(role)
    return {"Authorization": f"Bearer {token}"} if token else {}


def path_of(scene: Scene, version: VersionRecord) -> str:
    return f"/protocols/{scene.entity.id}/versions/{version.sha}"


@pytest.mark.parametrize("role", ROLES)
async def test_file_download_of_a_private_version(http: httpx.AsyncClient, scene: Scene, role: str):
    response = await http.get(path_of(scene, scene.private) + "/files/p.txt", headers=headers(scene, role))
    if SEES_PRIVATE[role]:
        assert response.status_code == 200
        assert response.content == b"# private\n"
    else:
        assert response.status_code == 404
        assert response.json()["error"]["code"] == "not_found"
        assert response.content != b"# private\n"
    public = await http.get(path_of(scene, scene.public) + "/files/p.txt", headers=headers(scene, role))
    assert public.status_code == 200 and public.content == b"# public\n"


@pytest.mark.parametrize("role", ROLES)
async def test_archive_download_of_a_private_version(http: httpx.AsyncClient, scene: Scene, role: str):
    response = await http.get(path_of(scene, scene.private) + "/archive", headers=headers(scene, role))
    if SEES_PRIVATE[role]:
        assert response.status_code == 200
        with zipfile.ZipFile(io.BytesIO(response.content)) as zf:
            assert zf.read("p.txt") == b"# private\n"
    else:
        assert response.status_code == 404


@pytest.mark.parametrize("role", ROLES)
async def test_latest_is_the_newest_version_the_caller_may_see(
    http: httpx.AsyncClient, scene: Scene, role: str
):
    response = await http.get(
        f"/protocols/{scene.entity.id}/versions/latest/files/p.txt", headers=headers(scene, role)
    )
    assert response.status_code == 200
    assert response.content == (b"# private\n" if SEES_PRIVATE[role] else b"# public\n")


@pytest.mark.parametrize("role", ROLES)
async def test_resolver_version_list(entities: Entities, scene: Scene, role: str):
    _, _, versions = await entities.get_entity(scene.users[role], scene.entity.uri)
    shas = [v.sha for v in versions]
    assert (scene.private.sha in shas) is SEES_PRIVATE[role]
    assert scene.public.sha in shas
    if not SEES_PRIVATE[role]:
        with pytest.raises(NotFound):
            await entities.read_file(scene.users[role], scene.entity.uri, scene.private.sha, "p.txt")


@pytest.mark.parametrize("role", ROLES)
async def test_visible_graphs(services, scene: Scene, role: str):
    graphs = {g.value for g in await visible_graphs(services, scene.users[role])}
    assert (scene.private.uri in graphs) is SEES_PRIVATE[role]
    assert scene.public.uri in graphs
    assert scene.entity.uri in graphs


async def test_an_entity_with_only_private_versions_is_hidden(services, entities: Entities, scene: Scene):
    owner = scene.users["owner"]
    hidden, version = await entities.publish(
        owner,
        Kind.MODEL,
        "hidden",
        [Upload("m.cellml", b'<model name="m" xmlns="http://www.cellml.org/cellml/1.0#"/>')],
        visibility="private",
    )
    for role in ROLES:
        graphs = {g.value for g in await visible_graphs(services, scene.users[role])}
        assert (hidden.uri in graphs) is (role in ("owner", "admin"))
        assert (version.uri in graphs) is (role in ("owner", "admin"))
    with pytest.raises(NotFound):
        await entities.get_entity(scene.users["other"], hidden.uri)


async def test_dependent_graphs_follow_their_versions(services, scene: Scene):
    """A graph declaring ``weblab:visibilityFrom`` (an experiment run) is visible only when all its versions are."""
    from resolvers.metadata import VISIBILITY_FROM

    run = ox.NamedNode(scene.entity.uri.replace("/protocols/", "/runs/"))
    store = services.store.oxigraph
    store.extend(
        [
            ox.Quad(run, VISIBILITY_FROM, ox.NamedNode(scene.public.uri), run),
            ox.Quad(run, VISIBILITY_FROM, ox.NamedNode(scene.private.uri), run),
        ]
    )
    try:
        for role in ROLES:
            graphs = {g.value for g in await visible_graphs(services, scene.users[role])}
            assert (run.value in graphs) is SEES_PRIVATE[role]
    finally:
        store.remove_graph(run)
