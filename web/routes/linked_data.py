"""Dereferenceable URIs: ``GET {BASE}models/{id}`` (and versions, protocols, datasets, experiments, runs,
users) answers with the resource's description, by content negotiation.

A browser gets a plain HTML page; anything else gets Turtle (the default),
JSON-LD, N-Triples or RDF/XML. The description is the resource's concise
bounded description (its triples and those of its blank nodes, Oxigraph's
``DESCRIBE``) taken from the graphs the caller may see. Unknown and invisible
resources get the same 404, so a URI's existence does not leak.

Every answer carries FAIR Signposting ``Link`` headers
(https://signposting.org/FAIR/): ``cite-as`` (the URI itself: versions are
immutable, entities are the stable name), ``describedby`` (each RDF
serialization), ``type`` (its classes) and ``item`` (the version's files).
"""

from __future__ import annotations

import asyncio
from pathlib import Path
from typing import Any
from urllib.parse import quote

import pyoxigraph as ox
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import BaseRoute, Route
from starlette.templating import Jinja2Templates

from sparql import errors, formats
from web.routes.sparql import error_response, sparql_service

_templates = Jinja2Templates(directory=str(Path(__file__).resolve().parents[1] / "templates"))
RDF_TYPE = "http://www.w3.org/1999/02/22-rdf-syntax-ns#type"
MAIN_FILE = "https://w3id.org/weblab/ns#mainFile"
DOWNLOAD = "http://www.w3.org/ns/dcat#downloadURL"
OFFERED = (formats.TURTLE, formats.HTML, formats.JSONLD, formats.NTRIPLES, formats.RDFXML)
_EXTENSIONS = {"turtle": "ttl", "jsonld": "jsonld", "ntriples": "nt", "rdfxml": "rdf"}


def _not_found() -> Response:
    return JSONResponse({"error": {"code": "not_found", "message": "no such resource"}}, status_code=404)


async def describe(request: Request) -> Response:
    service = sparql_service(request)
    caller = getattr(request.state, "user", None)
    uri = service.base_uri + request.url.path.lstrip("/")
    try:
        node = ox.NamedNode(uri)
    except ValueError:
        return _not_found()
    try:
        fmt_param = request.query_params.get("format")
        fmt = (
            formats.by_parameter(fmt_param, OFFERED)
            if fmt_param
            else formats.negotiate(request.headers.get("accept"), OFFERED)
        )
    except formats.NotAcceptable as exc:
        return error_response(errors.NotAcceptable(str(exc)))
    scope = await service.visible_to(caller)
    # A resource that names a graph the caller may not read is hidden whole (its own graph holds
    # its description); other resources are described from whatever visible graphs mention them.
    if not scope.allows(uri) and await asyncio.to_thread(service.store.has_graph, node):
        return _not_found()
    try:
        answer = await service.query(f"DESCRIBE <{node.value}>", caller, format="ntriples")
    except errors.SparqlError as exc:
        return error_response(exc)
    triples = [
        ox.Triple(q.subject, q.predicate, q.object)
        for q in ox.parse(answer.body, format=ox.RdfFormat.N_TRIPLES)
    ]
    if not any(t.subject == node for t in triples):
        return _not_found()
    headers = {"Vary": "Accept", "Link": signposting(uri, triples)}
    if fmt is formats.HTML:
        return _templates.TemplateResponse(
            request, "resource.html", _page(uri, triples, service.base_uri), headers=headers
        )
    body = formats.serialize_triples(triples, fmt, _prefixes())
    return Response(body, media_type=formats.content_type(fmt), headers=headers)


def signposting(uri: str, triples: list[ox.Triple]) -> str:
    links = [f'<{uri}>; rel="cite-as"']
    for fmt in (formats.TURTLE, formats.JSONLD, formats.NTRIPLES, formats.RDFXML):
        links.append(f'<{uri}?format={fmt.name}>; rel="describedby"; type="{fmt.media_type}"')
    subject = ox.NamedNode(uri)
    for t in triples:
        if t.subject != subject:
            continue
        if t.predicate.value == RDF_TYPE and isinstance(t.object, ox.NamedNode):
            links.append(f'<{t.object.value}>; rel="type"')
        elif t.predicate.value == MAIN_FILE and isinstance(t.object, ox.Literal):
            # the version's files are served by web/routes/entities.py under {version}/files/ and /archive
            links.append(f'<{uri}/files/{quote(t.object.value)}>; rel="item"')
            links.append(f'<{uri}/archive>; rel="item"; type="application/zip"')
        elif t.predicate.value == DOWNLOAD and isinstance(t.object, ox.NamedNode):
            links.append(f'<{t.object.value}>; rel="item"')
    links.append('<https://schema.org/AboutPage>; rel="type"')
    return ", ".join(links)


def _prefixes() -> dict[str, str]:
    return {
        "weblab": "https://w3id.org/weblab/ns#",
        "dcterms": "http://purl.org/dc/terms/",
        "prov": "http://www.w3.org/ns/prov#",
        "xsd": "http://www.w3.org/2001/XMLSchema#",
        "rdfs": "http://www.w3.org/2000/01/rdf-schema#",
    }


def _short(iri: str) -> str:
    for prefix, ns in _prefixes().items():
        if iri.startswith(ns):
            return f"{prefix}:{iri[len(ns) :]}"
    if iri == RDF_TYPE:
        return "a"
    return iri


def _term(term: Any) -> dict[str, str | None]:
    if isinstance(term, ox.NamedNode):
        return {"kind": "iri", "href": term.value, "text": _short(term.value)}
    if isinstance(term, ox.BlankNode):
        return {"kind": "bnode", "href": None, "text": "_:" + term.value}
    if isinstance(term, ox.Literal):
        note = term.language or (
            None if term.datatype.value.endswith("#string") else _short(term.datatype.value)
        )
        return {"kind": "literal", "href": None, "text": term.value, "note": note}
    return {"kind": "other", "href": None, "text": str(term)}


def _page(uri: str, triples: list[ox.Triple], base: str) -> dict:
    subject = ox.NamedNode(uri)
    title = next(
        (
            t.object.value
            for t in triples
            if t.subject == subject and t.predicate.value == "http://purl.org/dc/terms/title"
        ),
        uri,
    )
    rows = [
        {"subject": _term(t.subject), "predicate": _term(t.predicate), "object": _term(t.object)}
        for t in sorted(triples, key=lambda t: (t.subject != subject, str(t.subject), str(t.predicate)))
    ]
    alternates = [
        {"href": f"{uri}?format={f.name}", "type": f.media_type, "name": f.name}
        for f in (formats.TURTLE, formats.JSONLD, formats.NTRIPLES, formats.RDFXML)
    ]
    # The page people work in (web/routes/pages.py) lives beside the resource URI under /view/.
    path = uri.removeprefix(base)
    view = (
        "/view/" + path
        if path.split("/", 1)[0] in ("models", "protocols", "datasets", "runs", "experiments")
        else None
    )
    return {"uri": uri, "title": title, "rows": rows, "alternates": alternates, "view": view}


def routes() -> list[BaseRoute]:
    paths = []
    for kind in ("models", "protocols", "datasets"):
        paths += [f"/{kind}/{{id}}", f"/{kind}/{{id}}/versions/{{sha}}"]
    paths += ["/experiments/{id}", "/runs/{id}", "/users/{name}"]
    return [Route(p, describe, methods=["GET", "HEAD"]) for p in paths]
