"""Lists: keyset cursors that survive inserts, both directions, capped pages; and the round-trip count of a
page of models with their latest version, terms and compatible protocols, the same for 5 items as for 50."""

from __future__ import annotations

import secrets

import pytest_asyncio

from resolvers.entities import Entities
from resolvers.metadata import Kind
from tests.graphql.conftest import Gql

PAGE = """query($o: String!, $n: Int, $after: String, $last: Int, $before: String) {
  models(owner: $o, first: $n, after: $after, last: $last, before: $before) {
    totalCount pageInfo { hasNextPage hasPreviousPage startCursor endCursor }
    edges { cursor node { name created owner { name }
      latestVersion { sha visibility author { name } terms { iri label } compatibleProtocols { uri }
        compatibility { fits missingTerms { iri } protocol { uri entity { name } } } } } }
  }
}"""

N = 50


@pytest_asyncio.fixture(scope="session")
async def fifty(entities: Entities, make_user, cellml, protocol_file) -> tuple[str, str, list[str]]:
    """An owner with 50 public models (and two protocols to be compatible with); names newest first."""
    owner, token = await make_user("many")
    model = cellml("noble_model_1962.cellml")
    for name in ("SinglePace.txt", "ICaL.txt"):
        await entities.publish(owner, Kind.PROTOCOL, f"{name} {secrets.token_hex(2)}", [protocol_file(name)])
    names = []
    for i in range(N):
        entity, _ = await entities.publish(
            owner, Kind.MODEL, f"model {i:02d}", [model], message=f"number {i}"
        )
        names.append(entity.name)
    return owner.name, token, names[::-1]


async def test_round_trips_do_not_grow_with_the_page(data: Gql, gql: Gql, fifty) -> None:
    owner, token, _ = fifty
    counts = {}
    for n in (5, N):
        body = await gql(PAGE, {"o": owner, "n": n}, token=token)
        assert "errors" not in body, body["errors"]
        edges = body["data"]["models"]["edges"]
        assert len(edges) == n
        assert all(e["node"]["latestVersion"]["terms"] for e in edges)
        assert all(e["node"]["latestVersion"]["compatibility"] for e in edges)
        counts[n] = body["extensions"]["roundTrips"]
    assert counts[5] == counts[N]
    assert counts[5]["store"] > 0 and counts[5]["db"] > 0  # the counter does count


async def test_compatibility_matches_the_ontology_code(data: Gql, fifty, services) -> None:
    from ontology import compatibility

    owner, token, _ = fifty
    edges = (await data(PAGE, {"o": owner, "n": 1}, token=token))["models"]["edges"]
    version = await data(
        "query($o: String!) { models(owner: $o, first: 1) { nodes { latestVersion { uri } } } }",
        {"o": owner},
        token=token,
    )
    model_uri = version["models"]["nodes"][0]["latestVersion"]["uri"]
    fitting = set()
    for cell in edges[0]["node"]["latestVersion"]["compatibility"]:
        expected = compatibility.check_pair(
            services.store, services.settings.base_uri, model_uri, cell["protocol"]["uri"]
        )
        assert cell["fits"] == expected.fits
        assert [t["iri"] for t in cell["missingTerms"]] == list(expected.missing)
        if expected.fits:
            fitting.add(cell["protocol"]["uri"])
    assert {p["uri"] for p in edges[0]["node"]["latestVersion"]["compatibleProtocols"]} == fitting


async def test_walk_forward_and_back_with_cursors(data: Gql, fifty) -> None:
    owner, token, names = fifty
    seen, after = [], None
    while True:
        page = (await data(PAGE, {"o": owner, "n": 20, "after": after}, token=token))["models"]
        assert page["totalCount"] == N
        seen += [e["node"]["name"] for e in page["edges"]]
        if not page["pageInfo"]["hasNextPage"]:
            break
        after = page["pageInfo"]["endCursor"]
    assert seen == names  # newest first, each once
    back = (await data(PAGE, {"o": owner, "last": 5, "before": None}, token=token))["models"]
    assert [e["node"]["name"] for e in back["edges"]] == names[-5:]
    assert back["pageInfo"]["hasPreviousPage"] and not back["pageInfo"]["hasNextPage"]
    before = (
        await data(PAGE, {"o": owner, "last": 3, "before": back["pageInfo"]["startCursor"]}, token=token)
    )["models"]
    assert [e["node"]["name"] for e in before["edges"]] == names[-8:-5]


async def test_cursor_survives_an_insert_before_it(data: Gql, entities: Entities, make_user, cellml) -> None:
    owner, token = await make_user("keyset")
    model = cellml("noble_model_1962.cellml")
    for i in range(4):
        await entities.publish(owner, Kind.MODEL, f"k{i}", [model])
    first = (await data(PAGE, {"o": owner.name, "n": 2}, token=token))["models"]
    assert [e["node"]["name"] for e in first["edges"]] == ["k3", "k2"]
    await entities.publish(owner, Kind.MODEL, "k4", [model])  # newest: sorts before the cursor
    rest = (
        await data(PAGE, {"o": owner.name, "n": 10, "after": first["pageInfo"]["endCursor"]}, token=token)
    )["models"]
    assert [e["node"]["name"] for e in rest["edges"]] == ["k1", "k0"]


async def test_bad_cursor_and_page_size_say_what_is_wrong(gql: Gql, fifty) -> None:
    owner, token, _ = fifty
    too_big = await gql(PAGE, {"o": owner, "n": 101}, token=token)
    assert "first: asks for 101 items; a page holds at most 100" in too_big["errors"][0]["message"]
    bad = await gql(PAGE, {"o": owner, "n": 5, "after": "not a cursor!"}, token=token)
    assert "after: is not a cursor returned by this API" in bad["errors"][0]["message"]


async def test_matrix_round_trips_do_not_grow_with_its_size(gql: Gql, fifty) -> None:
    owner, token, _ = fifty
    ids = (
        await gql(
            "query($o: String!) { models(owner: $o, first: 50) { nodes { id } } }", {"o": owner}, token=token
        )
    )["data"]["models"]["nodes"]
    query = """query($m: [ID!]) { experimentMatrix(models: $m) { models { id terms { iri } } protocols { id }
        cells { fits status latestRun { id } experiment { id } } } }"""
    counts = {}
    for n in (5, N):
        body = await gql(query, {"m": [x["id"] for x in ids[:n]]}, token=token)
        assert "errors" not in body, body["errors"]
        assert len(body["data"]["experimentMatrix"]["models"]) == n
        counts[n] = body["extensions"]["roundTrips"]
    assert counts[5] == counts[N]


async def test_nodes_by_id_round_trips_do_not_grow(gql: Gql, fifty) -> None:
    owner, token, _ = fifty
    ids = (
        await gql(
            "query($o: String!) { models(owner: $o, first: 50) { nodes { id } } }", {"o": owner}, token=token
        )
    )["data"]["models"]["nodes"]
    query = """query($ids: [ID!]!) { nodes(ids: $ids) { id ... on Model { name collaborators { name }
        latestVersion { terms { iri } previous { id } compatibleProtocols { id } } } } }"""
    counts = {}
    for n in (5, N):
        body = await gql(query, {"ids": [x["id"] for x in ids[:n]]}, token=token)
        assert "errors" not in body, body["errors"]
        assert [x["id"] for x in body["data"]["nodes"]] == [x["id"] for x in ids[:n]]
        counts[n] = body["extensions"]["roundTrips"]
    assert counts[5] == counts[N]


async def test_nested_lists_round_trips_do_not_grow(gql: Gql, fifty) -> None:
    owner, token, _ = fifty
    query = """query($o: String!, $n: Int!) { entities(owner: $o, kind: MODEL, first: $n) { nodes {
        name canEdit canManage collaborators { name }
        versions(first: 3) { totalCount nodes { sha previous { sha } variables { name terms { iri } }
          compatibility { fits protocol { interface { requiredTerms { iri } outputs { name } } } } } } } } }"""
    counts = {}
    for n in (5, N):
        body = await gql(query, {"o": owner, "n": n}, token=token)
        assert "errors" not in body, body["errors"]
        assert len(body["data"]["entities"]["nodes"]) == n
        counts[n] = body["extensions"]["roundTrips"]
    assert counts[5] == counts[N]


async def test_runs_of_versions_round_trips_do_not_grow(gql: Gql, fifty) -> None:
    owner, token, _ = fifty
    query = """query($o: String!, $n: Int!) { models(owner: $o, first: $n) { nodes {
        latestVersion { runs(first: 5) { totalCount nodes { status } } experiments { id latestRun { status } } } } }
        runs(first: 5) { totalCount } counts { models runs } }"""
    counts = {}
    for n in (5, N):
        body = await gql(query, {"o": owner, "n": n}, token=token)
        assert "errors" not in body, body["errors"]
        assert len(body["data"]["models"]["nodes"]) == n
        counts[n] = body["extensions"]["roundTrips"]
    assert counts[5] == counts[N]
