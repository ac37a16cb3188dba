"""A version names the version it revises in SPARQL and linked data exactly when GraphQL shows it.

The link lives in a graph of its own, visible only when both versions are: a public
version must not reveal its private predecessor (its URI, so its commit) to anyone
who may not see that predecessor.
"""

from __future__ import annotations

import httpx

from tests.conftest import SHARED_DATA, MakeUser, bearer

MODEL = SHARED_DATA / "cellml" / "beeler_reuter_model_1977.cellml"
REVISES = "http://www.w3.org/ns/prov#wasRevisionOf"


async def _two_versions(http: httpx.AsyncClient, token: str, first: str, second: str) -> tuple[str, str, str]:
    created = await http.post(
        "/models",
        headers=bearer(token),
        data={"name": f"revised-{first}", "visibility": first},
        files=[("files", (MODEL.name, MODEL.read_bytes()))],
    )
    assert created.status_code == 201, created.text
    entity_id, v1 = created.json()["entity"]["id"], created.json()["version"]["uri"]
    added = await http.post(
        f"/models/{entity_id}/versions",
        headers=bearer(token),
        data={"visibility": second, "inherit": "true"},
        files=[("files", ("README.md", b"# notes\n"))],
    )
    assert added.status_code == 201, added.text
    return entity_id, v1, added.json()["version"]["uri"]


async def _links(http: httpx.AsyncClient, version: str, token: str | None = None) -> dict[str, object]:
    """What each reader says about the version's predecessor."""
    headers = bearer(token) if token else {}
    sparql = await http.get(
        "/sparql",
        headers=headers,
        params={
            "query": f"SELECT ?p WHERE {{ GRAPH ?g {{ <{version}> <{REVISES}> ?p }} }}",
            "format": "json",
        },
    )
    page = await http.get(
        version.removeprefix(str(http.base_url).rstrip("/")),
        headers={**headers, "Accept": "application/n-triples"},
    )
    graphql = await http.post(
        "/graphql",
        headers=headers,
        json={
            "query": "query($u: String!) { resource(uri: $u) { ... on Version { previous { uri } } } }",
            "variables": {"u": version},
        },
    )
    assert sparql.status_code == 200 and page.status_code == 200 and graphql.status_code == 200
    previous = (graphql.json()["data"]["resource"] or {}).get("previous")
    return {
        "sparql": [b["p"]["value"] for b in sparql.json()["results"]["bindings"]],
        "linked data": REVISES in page.text,
        "graphql": previous["uri"] if previous else None,
    }


async def test_a_public_version_does_not_name_its_private_predecessor(http, server_user: MakeUser) -> None:  # noqa: ANN001
    _, token = await server_user("reviser")
    _, v1, v2 = await _two_versions(http, token, "private", "public")
    assert await _links(http, v2) == {"sparql": [], "linked data": False, "graphql": None}
    assert await _links(http, v2, token) == {"sparql": [v1], "linked data": True, "graphql": v1}


async def test_public_versions_name_each_other_everywhere(http, server_user: MakeUser) -> None:  # noqa: ANN001
    _, token = await server_user("reviser")
    _, v1, v2 = await _two_versions(http, token, "public", "public")
    assert await _links(http, v2) == {"sparql": [v1], "linked data": True, "graphql": v1}


def test_links_written_inside_version_graphs_move_to_their_own() -> None:
    """Stores from before revision graphs: the link leaves the (possibly public) version's graph at start."""
    import pyoxigraph as ox

    from resolvers import metadata

    store = ox.Store()
    v1, v2 = (ox.NamedNode(f"http://localhost:8000/models/m/versions/{c * 40}") for c in "ab")
    for v in (v1, v2):
        store.add(ox.Quad(v, metadata.IS_VERSION_OF, ox.NamedNode("http://localhost:8000/models/m"), v))
    store.add(ox.Quad(v2, metadata.WAS_REVISION_OF, v1, v2))
    assert metadata.move_revision_links(store) == 1
    assert list(store.quads_for_pattern(v2, metadata.WAS_REVISION_OF, None, v2)) == []
    link = metadata.revision_graph(v2.value)
    assert ox.Quad(v2, metadata.WAS_REVISION_OF, v1, link) in store
    assert metadata.move_revision_links(store) == 0
