"""The SPARQL 1.1 Protocol at /sparql through HTTP: query forms, formats, status codes."""

from __future__ import annotations

import json

import httpx

Q = "SELECT (1 AS ?one) WHERE {}"


async def test_get_query_answers_sparql_json(sparql_client: httpx.AsyncClient) -> None:
    r = await sparql_client.get(
        "/sparql", params={"query": Q}, headers={"Accept": "application/sparql-results+json"}
    )
    assert r.status_code == 200, r.text
    assert r.headers["content-type"].startswith("application/sparql-results+json")
    assert json.loads(r.text)["results"]["bindings"][0]["one"]["value"] == "1"


async def test_accept_q_values_choose_the_format(sparql_client: httpx.AsyncClient) -> None:
    r = await sparql_client.post(
        "/sparql",
        content=Q,
        headers={
            "Content-Type": "application/sparql-query",
            "Accept": "application/sparql-results+json;q=0.2, text/csv;q=0.9, text/tab-separated-values;q=0.5",
        },
    )
    assert r.status_code == 200
    assert r.headers["content-type"].startswith("text/csv")
    assert r.text.splitlines() == ["one", "1"]


async def test_syntax_error_is_400_with_position(sparql_client: httpx.AsyncClient) -> None:
    r = await sparql_client.get("/sparql", params={"query": "SELECT * WHERE { ?s ?p"})
    assert r.status_code == 400
    assert "1:" in r.json()["error"]["message"]


async def test_unacceptable_format_is_406(sparql_client: httpx.AsyncClient) -> None:
    r = await sparql_client.get("/sparql", params={"query": "ASK {}"}, headers={"Accept": "text/csv"})
    assert r.status_code == 406


async def test_wrong_media_type_is_415(sparql_client: httpx.AsyncClient) -> None:
    r = await sparql_client.post("/sparql", content="ASK {}", headers={"Content-Type": "text/plain"})
    assert r.status_code == 415


async def test_service_is_refused_by_default(sparql_client: httpx.AsyncClient) -> None:
    r = await sparql_client.get(
        "/sparql", params={"query": "SELECT * WHERE { SERVICE <http://127.0.0.1:9/sparql> { ?s ?p ?o } }"}
    )
    assert r.status_code == 400
    assert "SERVICE" in r.json()["error"]["message"]


async def test_construct_in_every_graph_format(sparql_client: httpx.AsyncClient) -> None:
    q = 'CONSTRUCT { <http://example.org/s> <http://example.org/p> "o" } WHERE {}'
    for fmt in ("turtle", "ntriples", "nquads", "trig", "rdfxml", "jsonld"):
        r = await sparql_client.get("/sparql", params={"query": q, "format": fmt})
        assert r.status_code == 200, (fmt, r.text)
        assert "example.org/s" in r.text, fmt


async def test_get_without_a_query_describes_the_service(sparql_client: httpx.AsyncClient) -> None:
    r = await sparql_client.get("/sparql", headers={"Accept": "text/turtle"})
    assert r.status_code == 200 and r.headers["content-type"].startswith("text/turtle")
    assert "sparql-service-description#endpoint" in r.text or "sd:endpoint" in r.text


async def test_update_by_get_and_two_operations_are_refused(sparql_client: httpx.AsyncClient) -> None:
    assert (await sparql_client.get("/sparql", params={"update": "CLEAR ALL"})).status_code == 400
    r = await sparql_client.post("/sparql", data={"query": "ASK {}", "update": "CLEAR ALL"})
    assert r.status_code == 400
