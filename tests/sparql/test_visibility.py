"""Private graphs must not leak through any query form, dataset clause, the Graph Store, linked data or errors.

The graphs are written the way the platform writes them, and the real permission rules
(``resolvers.permissions.visible_graphs``) decide who sees what.
"""

from __future__ import annotations

import httpx
import pyoxigraph as ox
import pytest_asyncio

from tests.conftest import bearer
from tests.sparql.conftest import entity_graphs

SECRET = "secret-marker-hiddenmodel"


@pytest_asyncio.fixture(scope="module")
async def world(services, make_user):  # noqa: ANN001, ANN201
    alice, alice_token = await make_user("alice")
    bob, bob_token = await make_user("bob")
    admin, admin_token = await make_user("admin", roles={"admin"})
    public = entity_graphs(services, "model", "openmodel", alice.name, "public")
    private = entity_graphs(services, "model", "hiddenmodel", alice.name, "private")
    return {
        "alice": alice_token,
        "bob": bob_token,
        "admin": admin_token,
        "public": public,
        "private": private,
    }


def _auth(world: dict, who: str | None) -> dict[str, str]:
    return bearer(world[who]) if who else {}


async def _select(client: httpx.AsyncClient, query: str, who: str | None, world: dict, **params: str) -> str:
    r = await client.get(
        "/sparql", params={"query": query, "format": "json", **params}, headers=_auth(world, who)
    )
    assert r.status_code == 200, r.text
    return r.text


LEAKY_QUERIES = [
    "SELECT * WHERE { ?s ?p ?o }",
    "SELECT * WHERE { GRAPH ?g { ?s ?p ?o } }",
    "SELECT DISTINCT ?g WHERE { GRAPH ?g { } }",
    "SELECT * FROM <{v}> WHERE { ?s ?p ?o }",
    "SELECT * FROM NAMED <{v}> WHERE { GRAPH ?g { ?s ?p ?o } }",
    "SELECT * WHERE { GRAPH <{v}> { ?s ?p ?o } }",
    "CONSTRUCT { ?s ?p ?o } WHERE { GRAPH ?g { ?s ?p ?o } }",
    "DESCRIBE <{v}>",
    "SELECT ?g (COUNT(*) AS ?n) WHERE { GRAPH ?g { ?s ?p ?o } } GROUP BY ?g",
]


async def test_anonymous_and_strangers_never_see_a_private_version(sparql_client, world) -> None:  # noqa: ANN001
    private_version = world["private"][1]
    for who in (None, "bob"):
        for template in LEAKY_QUERIES:
            query = template.replace("{v}", private_version)
            fmt = "ntriples" if query.startswith(("CONSTRUCT", "DESCRIBE")) else "json"
            r = await sparql_client.get(
                "/sparql", params={"query": query, "format": fmt}, headers=_auth(world, who)
            )
            assert r.status_code == 200, r.text
            assert SECRET not in r.text, (who, query)
            if "FROM" in query or "GRAPH ?g" in query or "?g" in query:
                assert "hiddenmodel" not in r.text, (who, query)
        # the protocol's dataset parameters cannot name it in either
        for param in ("default-graph-uri", "named-graph-uri"):
            text = await _select(
                sparql_client,
                "SELECT * WHERE { { ?s ?p ?o } UNION { GRAPH ?g { ?s ?p ?o } } }",
                who,
                world,
                **{param: private_version},
            )
            assert SECRET not in text
        r = await sparql_client.get(
            "/sparql",
            params={"query": f"ASK {{ GRAPH <{private_version}> {{ }} }}", "format": "json"},
            headers=_auth(world, who),
        )
        assert r.json()["boolean"] is False


async def test_answers_kept_for_the_owner_never_reach_anyone_else(sparql_client, world) -> None:  # noqa: ANN001
    """Answers to repeated queries are kept (sparql.answer_cache); the owner asks first, then the others."""
    private_version = world["private"][1]
    for template in LEAKY_QUERIES:
        query = template.replace("{v}", private_version)
        fmt = "ntriples" if query.startswith(("CONSTRUCT", "DESCRIBE")) else "json"
        owners = [
            await sparql_client.get(
                "/sparql", params={"query": query, "format": fmt}, headers=_auth(world, "alice")
            )
            for _ in range(2)
        ]
        assert owners[0].text == owners[1].text and private_version in owners[0].text, query
        for who in (None, "bob"):
            r = await sparql_client.get(
                "/sparql", params={"query": query, "format": fmt}, headers=_auth(world, who)
            )
            assert SECRET not in r.text and private_version not in r.text, (who, query)


async def test_owner_and_admin_see_it_and_the_public_one_is_public(sparql_client, world) -> None:  # noqa: ANN001
    for who in ("alice", "admin"):
        assert SECRET in await _select(sparql_client, "SELECT * WHERE { ?s ?p ?o }", who, world)
    assert "secret-marker-openmodel" in await _select(
        sparql_client, "SELECT * WHERE { ?s ?p ?o }", None, world
    )


async def test_graph_store_and_linked_data_answer_404_alike_for_hidden_and_unknown(
    sparql_client, world
) -> None:  # noqa: ANN001
    private_version = world["private"][1]
    unknown = private_version.replace("hiddenmodel", "nosuchmodel")
    hidden = await sparql_client.get("/sparql/graphs", params={"graph": private_version})
    missing = await sparql_client.get("/sparql/graphs", params={"graph": unknown})
    assert hidden.status_code == missing.status_code == 404
    assert hidden.content == missing.content
    path = private_version.removeprefix("http://localhost:8000")
    hidden = await sparql_client.get(path, headers={"Accept": "text/turtle"})
    missing = await sparql_client.get(
        unknown.removeprefix("http://localhost:8000"), headers={"Accept": "text/turtle"}
    )
    assert hidden.status_code == missing.status_code == 404
    assert hidden.content == missing.content
    owner_view = await sparql_client.get(path, headers={"Accept": "text/turtle", **bearer(world["alice"])})
    assert owner_view.status_code == 200 and SECRET in owner_view.text


async def test_errors_do_not_name_private_graphs(sparql_client, world) -> None:  # noqa: ANN001
    r = await sparql_client.get("/sparql", params={"query": "SELECT * WHERE { GRAPH ?g { ?s ?p "})
    assert r.status_code == 400
    assert "hiddenmodel" not in r.text


async def test_writes_need_an_admin(sparql_client, world) -> None:  # noqa: ANN001
    update = "INSERT DATA { GRAPH <http://example.org/scratch> { <http://example.org/s> <http://example.org/p> 1 } }"
    anonymous = await sparql_client.post(
        "/sparql", content=update, headers={"Content-Type": "application/sparql-update"}
    )
    assert anonymous.status_code == 401
    stranger = await sparql_client.post(
        "/sparql",
        content=update,
        headers={"Content-Type": "application/sparql-update", **bearer(world["bob"])},
    )
    assert stranger.status_code == 403
    admin = await sparql_client.post(
        "/sparql",
        content=update,
        headers={"Content-Type": "application/sparql-update", **bearer(world["admin"])},
    )
    assert admin.status_code == 204
    # unmanaged graphs written by admins are public
    assert "example.org/scratch" in await _select(
        sparql_client, "SELECT ?g WHERE { GRAPH ?g { } }", None, world
    )


async def test_managed_graphs_are_read_only_even_for_admins(sparql_client, world, services) -> None:  # noqa: ANN001
    version = world["public"][1]
    before = sorted(str(q) for q in services.store.oxigraph)
    headers = {"Content-Type": "application/sparql-update", **bearer(world["admin"])}
    escaped = version.replace("/models/", "/mo\\u0064els/")  # SPARQL decodes \u escapes before parsing
    updates = [
        f"INSERT DATA {{ GRAPH <{version}> {{ <{version}> <http://example.org/p> 1 }} }}",
        f"PREFIX v: <{version.rsplit('/', 1)[0]}/> DELETE WHERE {{ GRAPH v:{'a' * 40} {{ ?s ?p ?o }} }}",
        f"DROP GRAPH <{version}>",
        "INSERT { GRAPH ?g { <http://example.org/x> <http://example.org/p> 1 } } WHERE { GRAPH ?g { } }",
        f"WITH <{version}> DELETE {{ ?s ?p ?o }} WHERE {{ ?s ?p ?o }}",
        f"MOVE <http://example.org/scratch> TO <{version}>",
        f"COPY DEFAULT TO <{version}>",
        f"INSERT DATA {{ GRAPH <{escaped}> {{ <http://a> <http://b> 1 }} }}",
        # relative IRIs resolve against the endpoint (or a BASE) into the managed space
        f"INSERT DATA {{ GRAPH <{version.removeprefix('http://localhost:8000/')}> {{ <http://a> <http://b> 1 }} }}",
        f"BASE <http://localhost:8000/models/> INSERT DATA {{ GRAPH <openmodel/versions/{'a' * 40}> {{ <http://a> <http://b> 1 }} }}",
    ]
    for update in updates:
        r = await sparql_client.post("/sparql", content=update, headers=headers)
        assert r.status_code == 403, (update, r.text)
    gsp = bearer(world["admin"]) | {"Content-Type": "text/turtle"}
    body = "<http://example.org/s> <http://example.org/p> 1 ."
    assert (
        await sparql_client.put("/sparql/graphs", params={"graph": version}, content=body, headers=gsp)
    ).status_code == 403
    assert (
        await sparql_client.post("/sparql/graphs", params={"graph": version}, content=body, headers=gsp)
    ).status_code == 403
    assert (
        await sparql_client.delete("/sparql/graphs", params={"graph": version}, headers=gsp)
    ).status_code == 403
    assert sorted(str(q) for q in services.store.oxigraph) == before


async def test_clear_all_empties_only_what_sparql_may_write(sparql_client, world, services) -> None:  # noqa: ANN001
    def managed() -> list[str]:
        return sorted(
            str(q) for q in services.store.oxigraph if q.graph_name.value.startswith("http://localhost:8000/")
        )

    before = managed()
    assert before
    headers = {"Content-Type": "application/sparql-update", **bearer(world["admin"])}
    insert = (
        "INSERT DATA { GRAPH <http://example.org/temp> { <http://example.org/s> <http://example.org/p> 1 } }"
    )
    assert (await sparql_client.post("/sparql", content=insert, headers=headers)).status_code == 204
    for update in ("CLEAR ALL", "DROP NAMED"):
        r = await sparql_client.post("/sparql", content=update, headers=headers)
        assert r.status_code == 204, r.text
        assert managed() == before
    assert not services.store.has_graph(ox.NamedNode("http://example.org/temp"))


async def test_visibility_changes_show_at_once(sparql_client, world, services, make_user) -> None:  # noqa: ANN001
    """Anonymous queries run on the public mirror; it must follow every write, raw ones included."""
    owner, _ = await make_user("dana")
    entity, version = entity_graphs(services, "model", "flipping", owner.name, "public")
    marker = "secret-marker-flipping"
    query = "SELECT * WHERE { ?s ?p ?o }"
    assert marker in await _select(sparql_client, query, None, world)
    entity_graphs(services, "model", "flipping", owner.name, "private")
    assert marker not in await _select(sparql_client, query, None, world)
    names = await _select(sparql_client, "SELECT ?g WHERE { GRAPH ?g { } }", None, world)
    assert version not in names and entity not in names
    entity_graphs(services, "model", "flipping", owner.name, "public")
    assert marker in await _select(sparql_client, query, None, world)
    # a write straight through the raw pyoxigraph store is seen too
    services.store.oxigraph.add(
        ox.Quad(
            ox.NamedNode(version),
            ox.NamedNode("http://example.org/p"),
            ox.Literal("raw-write-marker"),
            ox.NamedNode(version),
        )
    )
    assert "raw-write-marker" in await _select(sparql_client, query, None, world)
    services.store.oxigraph.remove_graph(ox.NamedNode(version))
    assert "raw-write-marker" not in await _select(sparql_client, query, None, world)
