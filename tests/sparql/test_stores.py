"""The embedded store and the remote store (a real Oxigraph server) keep the same contract,
and the endpoint works the same over either."""

from __future__ import annotations

from collections.abc import Iterator

import httpx
import pyoxigraph as ox
import pytest
import pytest_asyncio

from sparql import registry
from sparql.remote import RemoteTripleStore
from sparql.service import SparqlService
from sparql.store import TripleStore, open_triple_store
from tests.sparql.oxigraph_server import oxigraph_server

G = ox.NamedNode("http://example.org/graph")
S, P = ox.NamedNode("http://example.org/s"), ox.NamedNode("http://example.org/p")


@pytest.fixture(scope="module")
def remote_url(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    with oxigraph_server(tmp_path_factory.mktemp("oxigraph")) as url:
        yield url


@pytest_asyncio.fixture(params=["embedded", "remote"])
async def store(request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory):  # noqa: ANN201
    if request.param == "embedded":
        s = TripleStore(tmp_path_factory.mktemp("embedded"))
    else:
        url = request.getfixturevalue("remote_url")
        s = open_triple_store(tmp_path_factory.mktemp("unused"), url)
        assert isinstance(s, RemoteTripleStore)
        s.update("DROP SILENT ALL")
    yield s
    await s.aclose()


def test_graph_round_trip(store) -> None:  # noqa: ANN001
    triples = [ox.Triple(S, P, ox.Literal(str(i))) for i in range(3)]
    assert not store.has_graph(G)
    store.replace_graph(G, triples)
    assert store.has_graph(G)
    assert sorted(map(str, store.triples(G))) == sorted(map(str, triples))
    store.add(G, [ox.Triple(S, P, ox.Literal("extra"))])
    assert len(list(store.triples(G))) == 4
    assert [g.value for g in store.named_graphs()] == [G.value]
    store.replace_graph(G, triples[:1])
    assert len(list(store.triples(G))) == 1
    store.drop_graph(G)
    assert not store.has_graph(G)


def test_queries_with_substitutions_and_datasets(store) -> None:  # noqa: ANN001
    store.replace_graph(G, [ox.Triple(S, P, ox.Literal("a")), ox.Triple(P, P, ox.Literal("b"))])
    rows = list(
        store.query("SELECT ?s ?o WHERE { GRAPH ?g { ?s ?p ?o } }", substitutions={ox.Variable("s"): S})
    )
    assert [r["o"].value for r in rows] == ["a"]
    union = list(store.query("SELECT ?o WHERE { ?s ?p ?o }", use_default_graph_as_union=True))
    assert sorted(r["o"].value for r in union) == ["a", "b"]
    scoped = list(store.query("SELECT ?o WHERE { ?s ?p ?o }", default_graph=[G]))
    assert len(scoped) == 2
    assert bool(store.query('ASK { GRAPH ?g { ?s ?p "b" } }'))
    triples = list(store.query("CONSTRUCT { ?s ?p ?o } WHERE { GRAPH ?g { ?s ?p ?o } }"))
    assert len(triples) == 2
    with pytest.raises(SyntaxError):
        store.query("SELECT * WHERE {")


def test_a_default_graph_alone_keeps_every_named_graph(store) -> None:  # noqa: ANN001
    """The platform's compatibility queries name the ontologies as default graph and read every version's graph
    with GRAPH ?g: on the remote store too (where the SPARQL protocol alone would leave no named graph)."""
    ontology, version = (
        ox.NamedNode("http://example.org/ontology"),
        ox.NamedNode("http://example.org/version"),
    )
    store.replace_graph(ontology, [ox.Triple(S, P, ox.Literal("term"))])
    store.replace_graph(version, [ox.Triple(version, P, S)])
    rows = list(
        store.query("SELECT ?g ?label WHERE { GRAPH ?g { ?g ?p ?s } ?s ?q ?label }", default_graph=[ontology])
    )
    assert [(r["g"], r["label"].value) for r in rows] == [(version, "term")]


def test_updates_and_the_default_graph(store) -> None:  # noqa: ANN001
    store.update('INSERT DATA { <http://example.org/s> <http://example.org/p> "d" }')
    assert [t.object.value for t in store.default_triples()] == ["d"]
    store.add_to_default([ox.Triple(S, P, ox.Literal("e"))])
    assert len(list(store.default_triples())) == 2
    store.clear_default()
    assert list(store.default_triples()) == []
    with pytest.raises(SyntaxError):
        store.update("INSERT DATA {")


async def test_the_endpoint_over_a_remote_store(remote_url: str) -> None:
    store = RemoteTripleStore(remote_url)
    store.update("DROP SILENT ALL")
    public = ox.NamedNode("http://localhost:8000/models/m/versions/1")
    private = ox.NamedNode("http://localhost:8000/models/m/versions/2")
    store.replace_graph(public, [ox.Triple(public, P, ox.Literal("visible"))])
    store.replace_graph(private, [ox.Triple(private, P, ox.Literal("hidden"))])

    async def scope(user):  # noqa: ANN001, ANN202
        return [public]

    service = SparqlService(store, base_uri="http://localhost:8000/", graph_scope=scope)
    answer = await service.query("SELECT ?o WHERE { ?s ?p ?o }", None, format="json")
    values = [b["o"]["value"] for b in httpx.Response(200, content=answer.body).json()["results"]["bindings"]]
    assert values == ["visible"]
    answer = await service.query("SELECT ?g WHERE { GRAPH ?g { } }", None, format="json")
    assert private.value not in answer.body.decode()
    await store.aclose()


async def test_the_row_cap_holds_over_a_remote_store(remote_url: str) -> None:
    store = RemoteTripleStore(remote_url)
    store.update("DROP SILENT ALL")
    graph = ox.NamedNode("http://example.org/many")
    store.replace_graph(
        graph, [ox.Triple(ox.NamedNode(f"http://example.org/s{i}"), P, ox.Literal(str(i))) for i in range(10)]
    )
    registry.register(store, [graph.value])  # an admin's graph: public

    async def scope(user):  # noqa: ANN001, ANN202
        return []

    service = SparqlService(store, base_uri="http://localhost:8000/", graph_scope=scope, max_rows=3)
    rows = await service.query("SELECT ?s ?o WHERE { ?s ?p ?o }", None, format="json")
    bindings = httpx.Response(200, content=rows.body).json()["results"]["bindings"]
    assert len(bindings) == 3 and rows.truncated
    assert all(b["s"]["value"].startswith("http://example.org/s") for b in bindings)
    graph_answer = await service.query("CONSTRUCT WHERE { ?s ?p ?o }", None, format="nt")
    assert len(graph_answer.body.decode().strip().splitlines()) == 3 and graph_answer.truncated
    assert graph_answer.content_type.startswith("application/n-triples")
    csv = await service.query("SELECT ?o WHERE { ?s ?p ?o } LIMIT 2", None, format="csv")
    assert len(csv.body.decode().splitlines()) == 1 + 2 and not csv.truncated
    ask = await service.query("ASK { ?s ?p ?o }", None, format="xml")
    assert b"<boolean>true</boolean>" in ask.body and not ask.truncated
    await store.aclose()


async def test_service_works_only_for_allowed_endpoints(remote_url: str, tmp_path) -> None:  # noqa: ANN001
    remote = RemoteTripleStore(remote_url)
    remote.update("DROP SILENT ALL")
    remote.update('INSERT DATA { <http://example.org/far> <http://example.org/p> "from afar" }')
    local = TripleStore(tmp_path / "store")

    async def scope(user):  # noqa: ANN001, ANN202
        return []

    query = f"SELECT ?o WHERE {{ SERVICE <{remote_url}/query> {{ ?s ?p ?o }} }}"
    allowed = SparqlService(
        local,
        base_uri="http://localhost:8000/",
        graph_scope=scope,
        service_allow=[f"{remote_url}/query"],
        pool_size=1,
    )
    answer = await allowed.query(query, None, format="csv")
    assert answer.body.decode().splitlines() == ["o", "from afar"]
    other = query.replace(f"{remote_url}/query", "http://127.0.0.1:9/sparql")
    with pytest.raises(Exception, match="allow-list"):
        await allowed.query(other, None, format="csv")
    with pytest.raises(Exception, match="allow-list"):
        await allowed.query(
            "SELECT * WHERE { BIND(<http://x> AS ?e) SERVICE ?e { ?s ?p ?o } }", None, format="csv"
        )
    await allowed.close()
    await remote.aclose()
    local.close()
