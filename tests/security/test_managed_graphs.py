"""A graph is the platform's because the platform says so, never because of its name.

Replayed over HTTP against real servers: a private model stays private when the
platform is restarted under another ``WEBLAB_BASE_URI`` (refused until ``weblab
rebase``, then served correctly under the new base), and nothing an admin
writes through SPARQL changes who sees what or republishes a private graph.
"""

from __future__ import annotations

import gzip
import subprocess
import sys
from collections.abc import AsyncIterator
from pathlib import Path

import httpx
import pytest
import pytest_asyncio

from resolvers import db
from tests import servers
from tests.conftest import SHARED_DATA, MakeUser, bearer, free_port, fresh_database, user_maker

SECRET = "Nobody may read this description"
MODEL = SHARED_DATA / "cellml" / "beeler_reuter_model_1977.cellml"


async def _private_model(http: httpx.AsyncClient, token: str) -> dict:
    created = await http.post(
        "/models",
        headers=bearer(token),
        data={"name": "secret-model", "message": SECRET, "visibility": "private"},
        files=[("files", (MODEL.name, MODEL.read_bytes()))],
    )
    assert created.status_code == 201, created.text
    return created.json()


async def _anonymous_sees_secret(http: httpx.AsyncClient) -> bool:
    """Whether an anonymous caller finds the secret anywhere: SPARQL over every graph, or the public dump."""
    query = (
        "SELECT ?o WHERE { { GRAPH ?g { ?s ?p ?o } } UNION { ?s ?p ?o } FILTER(CONTAINS(STR(?o), 'Nobody')) }"
    )
    answer = await http.get("/sparql", params={"query": query, "format": "json"})
    assert answer.status_code == 200, answer.text
    dump = await http.get("/dump/public.nq.gz")
    assert dump.status_code == 200
    return bool(answer.json()["results"]["bindings"]) or SECRET.encode() in gzip.decompress(dump.content)


@pytest_asyncio.fixture
async def deployment(tmp_path: Path) -> AsyncIterator[tuple[str, Path, MakeUser]]:
    """A database and data directory of its own (the test restarts servers on them)."""
    with fresh_database("rebase") as url:
        pool = await db.open_pool(url)
        await db.migrate(pool)
        try:
            yield url, tmp_path / "data", user_maker(pool)
        finally:
            await pool.close()


def _weblab(database_url: str, data_dir: Path, *args: str) -> subprocess.CompletedProcess[str]:
    env = servers.server_env(database_url, data_dir, "http://unused/")
    return subprocess.run(
        [sys.executable, "-m", "web.cli", *args],
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
        cwd=Path(__file__).resolve().parents[2],
    )


async def test_a_new_base_uri_is_refused_until_rebased_and_then_keeps_private_private(deployment) -> None:  # noqa: ANN001
    database_url, data_dir, make_user = deployment
    port = free_port()
    old, new = f"http://localhost:{port}/", f"http://127.0.0.1:{port}/"
    owner, token = await make_user("owner")
    with servers.serve(database_url, data_dir, port=port, base_uri=old) as url:
        async with httpx.AsyncClient(base_url=url.rstrip("/"), timeout=30) as http:
            body = await _private_model(http, token)
            assert body["entity"]["uri"].startswith(old)
            assert not await _anonymous_sees_secret(http)

    process, _, log = servers.start(database_url, data_dir, port=port, base_uri=new, log_name="refused.log")
    assert process.wait(timeout=60) != 0, "a store written under another base URI must be refused at start"
    refusal = log.read_text()
    assert old in refusal and new in refusal and f"weblab rebase {old} {new}" in refusal

    rebased = _weblab(database_url, data_dir, "rebase", old, new)
    assert rebased.returncode == 0, rebased.stderr
    assert "rebased" in rebased.stdout
    again = _weblab(database_url, data_dir, "rebase", "http://elsewhere.example/", new)
    assert again.returncode == 0, "a finished rebase repeated is a no-op"

    entity_id = body["entity"]["id"]
    with servers.serve(database_url, data_dir, port=port, base_uri=new) as url:
        async with httpx.AsyncClient(base_url=url.rstrip("/"), timeout=30) as http:
            assert not await _anonymous_sees_secret(http)
            mine = await http.post(
                "/graphql",
                headers=bearer(token),
                json={
                    "query": "{ models { edges { node { uri versions { edges { node { message } } } } } } }"
                },
            )
            nodes = [e["node"] for e in mine.json()["data"]["models"]["edges"]]
            assert [n["uri"] for n in nodes] == [f"{new}models/{entity_id}"]
            assert nodes[0]["versions"]["edges"][0]["node"]["message"] == SECRET
            hidden = await http.get(f"/models/{entity_id}", headers={"Accept": "text/turtle"})
            assert hidden.status_code == 404


async def test_a_store_from_another_base_without_a_registry_is_refused(tmp_path: Path) -> None:
    """A store written before the registry existed: its platform graphs are recognised by their metadata."""
    import pyoxigraph as ox

    from resolvers.settings import Settings
    from sparql import registry
    from sparql.store import TripleStore
    from web.services import StartupError, open_store

    store = TripleStore(tmp_path / "store")
    version = ox.NamedNode("http://old.example/models/m/versions/" + "a" * 40)
    store.replace_graph(
        version,
        [
            ox.Triple(
                version,
                ox.NamedNode(registry.WEBLAB + "visibility"),
                ox.NamedNode(registry.WEBLAB + "private"),
            )
        ],
    )
    store.close()
    settings = Settings(data_dir=tmp_path, base_uri="http://new.example/")
    with pytest.raises(StartupError, match="weblab rebase http://old.example/ http://new.example/"):
        open_store(settings)


@pytest_asyncio.fixture
async def admin_and_owner(server: str, server_user: MakeUser) -> AsyncIterator[tuple[str, str, dict]]:
    _, admin = await server_user("admin", roles={"admin"})
    _, owner = await server_user("owner")
    async with httpx.AsyncClient(base_url=server.rstrip("/"), timeout=30) as http:
        yield admin, owner, await _private_model(http, owner)


async def _update(http: httpx.AsyncClient, admin: str, update: str) -> httpx.Response:
    return await http.post(
        "/sparql", content=update, headers={**bearer(admin), "Content-Type": "application/sparql-update"}
    )


async def test_admin_graphs_that_claim_visibility_change_nothing(http, admin_and_owner) -> None:  # noqa: ANN001
    admin, _, body = admin_and_owner
    entity, version = body["entity"]["uri"], body["version"]["uri"]
    claim = (
        f"<urn:claim> <http://purl.org/dc/terms/isVersionOf> <{entity}> ; "
        "<https://w3id.org/weblab/ns#visibility> <https://w3id.org/weblab/ns#public> ; "
        f"<https://w3id.org/weblab/ns#visibilityFrom> <{version}> ."
    )
    put = await http.put(
        "/sparql/graphs",
        params={"graph": "urn:claim"},
        content=claim,
        headers={**bearer(admin), "Content-Type": "text/turtle"},
    )
    assert put.status_code in (201, 204), put.text
    owner_claim = (
        f"<urn:owner-claim> <https://w3id.org/weblab/ns#owner> <{entity.split('/models/')[0]}/users/x> ."
    )
    assert (
        await http.put(
            "/sparql/graphs",
            params={"graph": "urn:owner-claim"},
            content=owner_claim,
            headers={**bearer(admin), "Content-Type": "text/turtle"},
        )
    ).status_code in (201, 204)
    assert not await _anonymous_sees_secret(http)
    entity_page = await http.get(entity.removeprefix(str(http.base_url)), headers={"Accept": "text/turtle"})
    assert entity_page.status_code == 404
    # the admin's graph itself is public, as admins' graphs are
    read = await http.get("/sparql/graphs", params={"graph": "urn:claim"}, headers={"Accept": "text/turtle"})
    assert read.status_code == 200 and "urn:claim" in read.text


async def test_updates_may_not_copy_platform_graphs(http, admin_and_owner) -> None:  # noqa: ANN001
    admin, _, body = admin_and_owner
    version = body["version"]["uri"]
    for update in (
        f"COPY <{version}> TO <urn:copy>",
        f"ADD <{version}> TO <urn:copy>",
        f"INSERT {{ GRAPH <urn:copy> {{ ?s ?p ?o }} }} WHERE {{ GRAPH <{version}> {{ ?s ?p ?o }} }}",
        "INSERT { GRAPH <urn:copy> { ?s ?p ?o } } WHERE { GRAPH ?g { ?s ?p ?o } }",
        f"INSERT {{ GRAPH <urn:copy> {{ ?s ?p ?o }} }} USING <{version}> WHERE {{ ?s ?p ?o }}",
    ):
        refused = await _update(http, admin, update)
        assert refused.status_code == 403, (update, refused.text)
        assert "the platform" in refused.json()["error"]["message"]
    assert not await _anonymous_sees_secret(http)
    # admins' own graphs are theirs to copy, and a copy is registered as theirs: public, writable
    assert (
        await _update(http, admin, 'INSERT DATA { GRAPH <urn:mine> { <urn:a> <urn:b> "c" } }')
    ).status_code == 204
    assert (await _update(http, admin, "COPY <urn:mine> TO <urn:mine-too>")).status_code == 204
    copied = await http.get(
        "/sparql", params={"query": "ASK { GRAPH <urn:mine-too> { <urn:a> <urn:b> 'c' } }", "format": "json"}
    )
    assert copied.json()["boolean"] is True


async def test_a_graph_written_behind_the_platforms_back_is_hidden(tmp_path: Path) -> None:
    """Fail closed: a named graph nobody registered (a remote store written by others) is nobody's to read."""
    import pyoxigraph as ox

    from resolvers import permissions
    from sparql import registry
    from sparql.service import SparqlService
    from sparql.store import TripleStore

    store = TripleStore()
    registry.check_base(store, "http://localhost:8000/")
    store.replace_graph(
        ox.NamedNode("urn:behind"),
        [ox.Triple(ox.NamedNode("urn:s"), ox.NamedNode("urn:p"), ox.Literal("unregistered"))],
    )

    async def scope(user):  # noqa: ANN001, ANN202
        return await permissions.visible_graphs(store, user, base_uri="http://localhost:8000/")

    service = SparqlService(store, base_uri="http://localhost:8000/", graph_scope=scope)
    answer = await service.query("SELECT ?o WHERE { GRAPH ?g { ?s ?p ?o } }", None, format="json")
    assert b"unregistered" not in answer.body
