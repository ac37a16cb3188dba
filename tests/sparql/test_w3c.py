"""The W3C SPARQL 1.1 Protocol, Graph Store HTTP Protocol and Service Description suites, replayed over
HTTP against a real server (uvicorn in a child process, its own fresh data directory).

Every test of the three manifests is one pytest test keyed by its manifest id. The harness
authenticates as an admin (the suites create and clear graphs); the server starts with an empty
store, as the suites assume (``CLEAR ALL`` is refused while platform-managed graphs exist).
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path

import httpx
import pytest
import pytest_asyncio
import rdflib

from tests.conftest import SHARED_DATA
from tests.sparql import w3c_harness as h

W3C = SHARED_DATA / "w3c" / "sparql11"
PROTOCOL = h.protocol_tests(W3C / "protocol" / "manifest.ttl")
GSP = h.gsp_tests(W3C / "http-rdf-update" / "manifest.ttl")
SD_TESTS = ["has-endpoint-triple", "returns-rdf", "conforms-to-schema"]


@pytest_asyncio.fixture(scope="module")
async def http(server: str, make_user) -> AsyncIterator[httpx.AsyncClient]:  # noqa: ANN001
    _, token = await make_user("w3cadmin", roles={"admin"})
    async with httpx.AsyncClient(
        base_url=server.rstrip("/"), headers={"Authorization": f"Bearer {token}"}, timeout=30
    ) as client:
        yield client


def _path(manifest_path: str) -> str:
    """The manifest's ``/sparql/…`` request target on our endpoint, ``/sparql…``."""
    rest = manifest_path.removeprefix("/sparql/")
    return "/sparql" + rest if rest.startswith("?") or not rest else "/sparql/" + rest


@pytest.mark.parametrize("test", PROTOCOL, ids=[t.id for t in PROTOCOL])
async def test_protocol(test: h.ProtocolTest, http: httpx.AsyncClient) -> None:
    for data_file, graph in test.graph_data:
        r = await http.put(
            "/sparql/graphs",
            params={"graph": graph},
            content=(W3C / "protocol" / data_file.name).read_bytes(),
            headers={"Content-Type": "application/n-triples"},
        )
        assert r.status_code in (201, 204), r.text
    for step in test.steps:
        r = await http.request(step.method, _path(step.path), content=step.body, headers=step.headers)
        problem = h.check_step(step, r)
        assert problem is None, f"{test.name}: {step.method} {step.path}: {problem}"


async def _run_gsp(server: str, http: httpx.AsyncClient) -> dict[str, str | None]:
    base = server.rstrip("/")
    host = base.removeprefix("http://")
    store = base + "/sparql/graphs"
    oracle = h.GspOracle()
    results: dict[str, str | None] = {}
    new_path: str | None = None

    def fill(text: str) -> str:
        text = text.replace("http://$HOST$/$GRAPHSTORE$", store).replace("$GRAPHSTORE$", "/sparql/graphs")
        text = text.replace("$HOST$", host)
        return text.replace("$NEWPATH$", new_path or "$NEWPATH$")

    seed = fill("<http://$HOST$/$GRAPHSTORE$/person/2> a <http://xmlns.com/foaf/0.1/Person> .")
    r = await http.put("/sparql/graphs/person/2.ttl", content=seed, headers={"Content-Type": "text/turtle"})
    assert r.status_code in (201, 204), r.text
    oracle.apply("PUT", store + "/person/2.ttl", seed, True)

    for test in GSP:
        target = fill(test.target)
        url = target if target.startswith("http") else base + target
        path, _, query = url.removeprefix(base).partition("?")
        graph = (
            query.removeprefix("graph=")
            if query.startswith("graph=")
            else ("DEFAULT" if query == "default" else base + path)
        )
        headers = dict(test.headers)
        body_text = fill(test.body)
        bodies: str | list[str] = body_text
        content: bytes | None = body_text.encode() if test.method in ("PUT", "POST") else None
        if headers.get("Content-Type", "").startswith("multipart/form-data"):
            content, headers["Content-Type"], bodies = h.multipart_bodies(body_text)
        r = await http.request(test.method, url, content=content, headers=headers)
        problem = None
        expected_status = {200, 204} if test.status in (200, 204) and test.method != "GET" else {test.status}
        if r.status_code not in expected_status:
            problem = f"status {r.status_code}, expected {test.status}: {r.text[:300]}"
        if test.method == "POST" and path == "/sparql/graphs" and not query:
            new_path = r.headers.get("location")
            graph = new_path or ""
            if test.status == 201 and not new_path:
                problem = "no Location header for the new graph"
        oracle.apply(test.method, graph, bodies, r.status_code < 300)
        expected_type = test.response_headers.get("Content-Type")
        if problem is None and expected_type and r.status_code == 200:
            if r.headers.get("content-type", "").split(";")[0] != expected_type.split(";")[0]:
                problem = f"content type {r.headers.get('content-type')!r}, expected {expected_type!r}"
        if problem is None and test.method == "GET" and r.status_code == 200:
            expected = oracle.expected(graph)
            if expected is None or not h.same_graph(r.text, expected, graph if graph != "DEFAULT" else store):
                problem = f"the graph returned is not the one the earlier requests built:\n{r.text}"
        results[test.id] = problem
    return results


_gsp_cache: dict[str, dict[str, str | None]] = {}


@pytest.mark.parametrize("test_id", [t.id for t in GSP])
async def test_graph_store(test_id: str, server: str, http: httpx.AsyncClient) -> None:
    if server not in _gsp_cache:
        _gsp_cache[server] = await _run_gsp(server, http)
    problem = _gsp_cache[server][test_id]
    assert problem is None, problem


@pytest.mark.parametrize("test_id", SD_TESTS)
async def test_service_description(test_id: str, server: str, http: httpx.AsyncClient) -> None:
    endpoint = server + "sparql"
    r = await http.get("/sparql", headers={"Accept": "text/turtle, application/rdf+xml;q=0.9"})
    assert r.status_code == 200
    g = rdflib.Graph()
    g.parse(data=r.text, format="turtle")
    services = list(g.subjects(rdflib.RDF.type, h.SD.Service))
    if test_id == "returns-rdf":
        assert r.headers["content-type"].startswith("text/turtle") and len(g) > 0
    elif test_id == "has-endpoint-triple":
        assert (None, h.SD.endpoint, rdflib.URIRef(endpoint)) in g
    else:
        assert len(services) == 1
        service = services[0]
        languages = set(g.objects(service, h.SD.supportedLanguage))
        assert languages and languages <= {h.SD.SPARQL10Query, h.SD.SPARQL11Query, h.SD.SPARQL11Update}
        for p in (h.SD.resultFormat, h.SD.inputFormat, h.SD.feature):
            assert all(isinstance(o, rdflib.URIRef) for o in g.objects(service, p))
        for dataset in g.objects(service, h.SD.defaultDataset):
            assert (dataset, rdflib.RDF.type, h.SD.Dataset) in g
            for graph in g.objects(dataset, h.SD.defaultGraph):
                assert (graph, rdflib.RDF.type, h.SD.Graph) in g


def test_the_suites_are_all_here() -> None:
    assert len(PROTOCOL) == 34
    assert len(GSP) == 18
    assert Path(W3C / "service-description" / "manifest.ttl").is_file()
