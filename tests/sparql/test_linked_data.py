"""Dereferencing resource URIs with content negotiation; VoID, the JSON-LD context, the public dump,
and the editor page."""

from __future__ import annotations

import gzip
import json

import httpx
import pyoxigraph as ox
import pytest_asyncio

from tests.conftest import bearer
from tests.sparql.conftest import BASE, entity_graphs


@pytest_asyncio.fixture(scope="module")
async def resources(services, make_user):  # noqa: ANN001, ANN201
    owner, token = await make_user("carol")
    public = entity_graphs(services, "protocol", "ldpublic", owner.name, "public")
    private = entity_graphs(services, "protocol", "ldprivate", owner.name, "private")
    return {"public": public, "private": private, "token": token}


def _path(uri: str) -> str:
    return uri.removeprefix(BASE.rstrip("/"))


async def test_machines_get_rdf_in_the_format_they_ask_for(
    sparql_client: httpx.AsyncClient, resources
) -> None:  # noqa: ANN001
    version = resources["public"][1]
    expected = {
        "text/turtle": ox.RdfFormat.TURTLE,
        "application/n-triples": ox.RdfFormat.N_TRIPLES,
        "application/rdf+xml": ox.RdfFormat.RDF_XML,
        "application/ld+json": ox.RdfFormat.JSON_LD,
    }
    for media, rdf_format in expected.items():
        r = await sparql_client.get(_path(version), headers={"Accept": media})
        assert r.status_code == 200, (media, r.text)
        assert r.headers["content-type"].startswith(media)
        triples = list(ox.parse(r.content, format=rdf_format, base_iri=version))
        subjects = {t.subject for t in triples}
        assert ox.NamedNode(version) in subjects
        assert any(t.object == ox.Literal("ldpublic version") for t in triples)
    default = await sparql_client.get(_path(version))
    assert default.headers["content-type"].startswith("text/turtle")


async def test_browsers_get_an_html_page(sparql_client: httpx.AsyncClient, resources) -> None:  # noqa: ANN001
    entity = resources["public"][0]
    r = await sparql_client.get(
        _path(entity), headers={"Accept": "text/html,application/xhtml+xml,application/xml;q=0.9,*/*;q=0.8"}
    )
    assert r.status_code == 200
    assert r.headers["content-type"].startswith("text/html")
    assert "ldpublic entity" in r.text and "<table" in r.text


async def test_signposting_links(sparql_client: httpx.AsyncClient, resources) -> None:  # noqa: ANN001
    version = resources["public"][1]
    r = await sparql_client.get(_path(version), headers={"Accept": "text/turtle"})
    links = r.headers["link"]
    assert f'<{version}>; rel="cite-as"' in links
    assert 'rel="describedby"; type="application/ld+json"' in links
    assert '<https://w3id.org/weblab/ns#ProtocolVersion>; rel="type"' in links


async def test_invisible_is_404_like_unknown_and_owner_sees_it(
    sparql_client: httpx.AsyncClient, resources
) -> None:  # noqa: ANN001
    entity, version = resources["private"]
    for uri in (entity, version):
        hidden = await sparql_client.get(_path(uri), headers={"Accept": "text/turtle"})
        unknown = await sparql_client.get(
            _path(uri.replace("ldprivate", "ldnothing")), headers={"Accept": "text/turtle"}
        )
        assert hidden.status_code == unknown.status_code == 404
        assert hidden.content == unknown.content and "link" not in hidden.headers
    mine = await sparql_client.get(
        _path(version), headers={"Accept": "text/turtle", **bearer(resources["token"])}
    )
    assert mine.status_code == 200


async def test_void_describes_the_public_dataset(sparql_client: httpx.AsyncClient, resources) -> None:  # noqa: ANN001
    r = await sparql_client.get("/.well-known/void", headers={"Accept": "text/turtle"})
    assert r.status_code == 200
    store = ox.Store()
    store.load(r.content, format=ox.RdfFormat.TURTLE)
    answer = store.query("""PREFIX void: <http://rdfs.org/ns/void#> PREFIX dcat: <http://www.w3.org/ns/dcat#>
        PREFIX dcterms: <http://purl.org/dc/terms/>
        SELECT ?triples ?endpoint ?license ?dump WHERE { ?d a void:Dataset, dcat:Dataset ; void:triples ?triples ;
        void:sparqlEndpoint ?endpoint ; dcterms:license ?license ; void:dataDump ?dump }""")
    rows = list(answer)
    assert len(rows) == 1
    assert rows[0]["endpoint"].value == BASE + "sparql"
    # the count is the number of triples an anonymous caller can reach in named graphs
    count = await sparql_client.get(
        "/sparql",
        params={"query": "SELECT (COUNT(*) AS ?n) WHERE { GRAPH ?g { ?s ?p ?o } }", "format": "json"},
    )
    assert rows[0]["triples"].value == count.json()["results"]["bindings"][0]["n"]["value"]
    assert "ldprivate" not in r.text


async def test_jsonld_context_is_served(sparql_client: httpx.AsyncClient) -> None:
    r = await sparql_client.get("/ns/context.jsonld")
    assert r.status_code == 200 and r.headers["content-type"].startswith("application/ld+json")
    assert r.json()["@context"]["weblab"] == "https://w3id.org/weblab/ns#"


async def test_dump_has_public_graphs_only(sparql_client: httpx.AsyncClient, resources) -> None:  # noqa: ANN001
    r = await sparql_client.get("/dump/public.nq.gz")
    assert r.status_code == 200
    quads = list(ox.parse(gzip.decompress(r.content), format=ox.RdfFormat.N_QUADS))
    graphs = {q.graph_name.value for q in quads}
    assert resources["public"][1] in graphs
    assert resources["private"][1] not in graphs and resources["private"][0] not in graphs
    assert not any("secret-marker-ldprivate" in str(q.object) for q in quads)


async def test_browsers_get_the_editor_from_our_own_files(sparql_client: httpx.AsyncClient) -> None:
    r = await sparql_client.get("/sparql", headers={"Accept": "text/html"})
    assert r.status_code == 200 and r.headers["content-type"].startswith("text/html")
    assert 'src="/static/vendor/yasgui/yasgui.min.js"' in r.text
    assert "cdn" not in r.text.lower() and "unpkg" not in r.text.lower()
    js = await sparql_client.get("/static/vendor/yasgui/yasgui.min.js")
    assert js.status_code == 200 and len(js.content) > 100_000
    assert json.dumps(BASE + "sparql") in r.text


async def test_the_description_includes_blank_nodes(
    sparql_client: httpx.AsyncClient, resources, services
) -> None:  # noqa: ANN001
    version = resources["public"][1]
    node, inner = ox.BlankNode(), ox.BlankNode()
    services.store.add(
        ox.NamedNode(version),
        [
            ox.Triple(ox.NamedNode(version), ox.NamedNode("http://example.org/hasPart"), node),
            ox.Triple(node, ox.NamedNode("http://example.org/hasPart"), inner),
            ox.Triple(inner, ox.NamedNode("http://example.org/label"), ox.Literal("deep blank node")),
        ],
    )
    r = await sparql_client.get(_path(version), headers={"Accept": "application/n-triples"})
    assert r.status_code == 200
    assert '"deep blank node"' in r.text
