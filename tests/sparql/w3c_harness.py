"""Replays the W3C SPARQL 1.1 Protocol, Graph Store HTTP Protocol and Service Description test manifests
over HTTP against a running endpoint.

The manifests (``../shared/data/w3c/sparql11``) describe each request and the expected response in
RDF (protocol: the ``ht:`` vocabulary) or in Markdown inside ``rdfs:comment`` (graph store). This
module turns them into :class:`Step` lists and checks responses; it knows nothing about Weblab except
the two paths it is given (the query/update endpoint and the graph store).

Checking the Graph Store suite: the expected bodies in that (deprecated) manifest contain known
errata (e.g. "GET of POST - existing graph" shows the graph before the POST), so a GET's body is
compared, as an RDF graph (isomorphism), with what the preceding requests must have produced,
computed independently with rdflib; status codes are checked as written, with 200 and 204 taken as
the same outcome (the protocol allows either for a successful write without a body). The suite's
"DELETE - existing graph" presumes ``person/2.ttl`` exists, which no earlier test creates; the
harness PUTs it first.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from pathlib import Path

import httpx
import rdflib
from rdflib.compare import isomorphic
from rdflib.namespace import RDF, RDFS

MF = rdflib.Namespace("http://www.w3.org/2001/sw/DataAccess/tests/test-manifest#")
HT = rdflib.Namespace("http://www.w3.org/2011/http#")
CNT = rdflib.Namespace("http://www.w3.org/2011/content#")
UT = rdflib.Namespace("http://www.w3.org/2009/sparql/tests/test-update#")
HTS = rdflib.Namespace("http://www.w3.org/2011/http-statusCodes#")
SD = rdflib.Namespace("http://www.w3.org/ns/sparql-service-description#")

RESULT_TYPES = {
    "boolean": ("application/sparql-results+json", "application/sparql-results+xml"),
    "tabular": (
        "application/sparql-results+json",
        "application/sparql-results+xml",
        "text/csv",
        "text/tab-separated-values",
    ),
    "RDF": ("application/rdf+xml", "text/turtle", "application/n-triples", "application/ld+json"),
}


@dataclass
class Step:
    method: str
    path: str  # with the manifest's "/sparql/" prefix
    headers: dict[str, str]
    body: bytes | None
    statuses: set[int] = field(default_factory=set)  # acceptable status classes (2, 3, 4) or exact codes
    expect_boolean: bool | None = None
    expect_format: str | None = None


@dataclass
class ProtocolTest:
    id: str
    name: str
    graph_data: list[tuple[Path, str]]
    steps: list[Step]


def _list(graph: rdflib.Graph, head: rdflib.term.Node) -> list:
    return list(rdflib.collection.Collection(graph, head))


def protocol_tests(manifest: Path) -> list[ProtocolTest]:
    g = rdflib.Graph()
    g.parse(manifest, format="turtle", publicID=manifest.as_uri())
    root = next(g.subjects(RDF.type, MF.Manifest))
    tests = []
    for test in _list(g, g.value(root, MF.entries)):
        data = []
        for gd in g.objects(test, UT.graphData):
            data.append(
                (Path(str(g.value(gd, UT.graph)).removeprefix("file://")), str(g.value(gd, RDFS.label)))
            )
        action = g.value(test, MF.action)
        steps = []
        for request in _list(g, g.value(action, HT.requests)):
            headers = {}
            headers_node = g.value(request, HT.headers)
            if headers_node is not None:
                for h in _list(g, headers_node):
                    headers[str(g.value(h, HT.fieldName))] = str(g.value(h, HT.fieldValue))
            body = None
            body_node = g.value(request, HT.body)
            if body_node is not None:
                encoding = str(g.value(body_node, CNT.characterEncoding) or "UTF-8")
                body = str(g.value(body_node, CNT.chars)).encode(encoding.lower().replace("utf-16", "utf-16"))
            response = g.value(request, HT.resp)
            statuses = {
                int(str(s).rsplit("StatusCode", 1)[1][0]) for s in g.objects(response, MF.expectedStatus)
            }
            boolean = g.value(response, MF.expectedBoolean)
            fmt = g.value(response, MF.expectedFormat)
            steps.append(
                Step(
                    str(g.value(request, HT.methodName)),
                    str(g.value(request, HT.absolutePath)),
                    headers,
                    body,
                    statuses,
                    None if boolean is None else bool(boolean.toPython()),
                    None if fmt is None else str(fmt),
                )
            )
        tests.append(ProtocolTest(str(test).rsplit("#", 1)[1], str(g.value(test, MF.name)), data, steps))
    return tests


def check_step(step: Step, response: httpx.Response) -> str | None:
    """None when the response is what the step expects, else what is wrong."""
    if response.status_code // 100 not in step.statuses:
        return f"status {response.status_code}, expected {sorted(step.statuses)}xx: {response.text[:300]}"
    media = response.headers.get("content-type", "").split(";")[0].strip()
    if step.expect_format is not None and media not in RESULT_TYPES[step.expect_format]:
        return f"content type {media!r} is not a {step.expect_format} result format"
    if step.expect_boolean is not None:
        value = _boolean(media, response.text)
        if value is not step.expect_boolean:
            return f"boolean {value}, expected {step.expect_boolean}"
    if step.expect_format == "RDF":
        fmt = {
            "text/turtle": "turtle",
            "application/n-triples": "nt",
            "application/rdf+xml": "xml",
            "application/ld+json": "json-ld",
        }[media]
        rdflib.Graph().parse(data=response.text, format=fmt)
    if step.expect_format == "tabular" and media.endswith("json"):
        assert "results" in response.json()
    return None


def _boolean(media: str, text: str) -> bool | None:
    if media.endswith("json"):
        import json

        return json.loads(text).get("boolean")
    match = re.search(r"<boolean>\s*(true|false)\s*</boolean>", text)
    return None if match is None else match.group(1) == "true"


# --- graph store ---------------------------------------------------------------------------------


@dataclass
class GspTest:
    id: str
    name: str
    method: str
    target: str  # path and query, placeholders kept
    headers: dict[str, str]
    body: str
    status: int
    response_headers: dict[str, str]


def gsp_tests(manifest: Path) -> list[GspTest]:
    g = rdflib.Graph()
    g.parse(manifest, format="turtle", publicID=manifest.as_uri())
    root = next(g.subjects(RDF.type, MF.Manifest))
    out = []
    for test in _list(g, g.value(root, MF.entries)):
        text = next(str(c) for c in g.objects(test, RDFS.comment) if "#### Request" in str(c))
        request, response = text.split("#### Response")
        out.append(_gsp_test(str(test).rsplit("#", 1)[1], str(g.value(test, MF.name)), request, response))
    return out


def _message(block: str) -> tuple[str, dict[str, str], str]:
    lines = [line[4:] if line.startswith("    ") else line.strip() for line in block.splitlines()]
    lines = [line for line in lines if not line.startswith("####")]
    while lines and not lines[0].strip():
        lines.pop(0)
    first = lines.pop(0).strip()
    headers = {}
    while lines and lines[0].strip():
        name, _, value = lines.pop(0).partition(":")
        headers[name.strip()] = value.strip()
    body = "\n".join(lines).strip()
    return first, headers, body


def _gsp_test(test_id: str, name: str, request: str, response: str) -> GspTest:
    first, headers, body = _message(request)
    method, target, _ = first.split(" ", 2)
    status_line, response_headers, _ = _message(response)
    headers.pop("Host", None)
    return GspTest(
        test_id, name, method, target, headers, body, int(status_line.split()[0]), response_headers
    )


class GspOracle:
    """What the graph store must hold after each request, computed with rdflib (independently of the server)."""

    def __init__(self) -> None:
        self.graphs: dict[str, rdflib.Graph] = {}

    def apply(self, method: str, graph: str, body: str | list[str], ok: bool) -> None:
        if not ok:
            return
        bodies = body if isinstance(body, list) else [body]
        parsed = rdflib.Graph()
        for b in bodies:
            try:
                parsed.parse(data=b, format="turtle", publicID=graph)
            except Exception:  # the suite's examples sometimes omit the final '.'
                parsed.parse(data=b + "\n.\n", format="turtle", publicID=graph)
        if method == "PUT":
            self.graphs[graph] = parsed
        elif method == "POST":
            self.graphs.setdefault(graph, rdflib.Graph())
            self.graphs[graph] += parsed
        elif method == "DELETE":
            self.graphs.pop(graph, None)

    def expected(self, graph: str) -> rdflib.Graph | None:
        return self.graphs.get(graph)


def same_graph(turtle: str, expected: rdflib.Graph, base: str) -> bool:
    got = rdflib.Graph()
    got.parse(data=turtle, format="turtle", publicID=base)
    return isomorphic(got, expected)


def multipart_bodies(body: str) -> tuple[bytes, str, list[str]]:
    """The manifest's multipart example as bytes with CRLF line ends, its content type, and its parts' texts."""
    boundary = "a6fe4cd636164618814be9f8d3d1a0de"
    parts = [p for p in body.split(f"--{boundary}") if p.strip() and p.strip() != "--"]
    texts = []
    for part in parts:
        _, _, content = part.strip("\n").partition("\n\n")
        texts.append(content.strip() + "\n")
    raw = body.replace("\r\n", "\n").replace("\n", "\r\n").encode()
    return raw, f"multipart/form-data; boundary={boundary}", texts
