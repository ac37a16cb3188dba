"""HTTP for SPARQL: the Protocol and Update at ``/sparql``, the Graph Store at ``/sparql/graphs``,
the dataset's VoID/DCAT at ``/.well-known/void``, the JSON-LD context at ``/ns/context.jsonld`` and
the gzipped N-Quads dump of public graphs at ``/dump/public.nq.gz``.

The rules live in :class:`sparql.service.SparqlService`; this module only reads
requests (the SPARQL 1.1 Protocol's three ways of sending an operation, the
Graph Store's direct and indirect graph identification) and writes responses.
Errors use the platform's JSON shape ``{"error": {"code", "message"}}``.
"""

from __future__ import annotations

import asyncio
import json
import zlib
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any
from urllib.parse import parse_qsl, quote

import pyoxigraph as ox
from starlette.requests import Request
from starlette.responses import JSONResponse, Response, StreamingResponse
from starlette.routing import BaseRoute, Mount, Route
from starlette.staticfiles import StaticFiles
from starlette.templating import Jinja2Templates

from sparql import description, errors, formats
from sparql.service import Answer, SparqlService

_FORM = "application/x-www-form-urlencoded"
_QUERY = "application/sparql-query"
_UPDATE = "application/sparql-update"
_VENDOR = Path(__file__).resolve().parents[1] / "static" / "vendor"
_templates = Jinja2Templates(directory=str(Path(__file__).resolve().parents[1] / "templates"))


# --- wiring ------------------------------------------------------------------------------------


def sparql_service(request: Request) -> SparqlService:
    """The app's SPARQL service, built on first use from ``app.state.services`` (tests may set their own)."""
    return service_for(request.app)


def service_for(app: Any) -> SparqlService:
    state = app.state
    service = getattr(state, "sparql", None)
    if service is None:
        from resolvers import permissions

        services = state.services
        settings = services.settings

        async def scope(user: Any) -> list[ox.NamedNode]:
            return await permissions.visible_graphs(services, user)

        service = SparqlService(
            services.store,
            base_uri=settings.base_uri,
            graph_scope=scope,
            timeout=settings.sparql_timeout,
            max_rows=settings.sparql_max_rows,
            service_allow=settings.sparql_service_allow,
            max_body_bytes=settings.max_upload_bytes,
            pool_size=settings.sparql_workers,
            cache_bytes=settings.sparql_cache_mb * 1024 * 1024,
            max_bytes=settings.sparql_max_bytes,
            worker_memory_mb=settings.sparql_worker_memory_mb,
            per_client=settings.sparql_per_client,
        )
        state.sparql = service
    return service


def _caller(request: Request) -> Any:
    return getattr(request.state, "user", None)


def _client(request: Request) -> str:
    """Who the per-client limit counts a query against: the signed-in user (whichever token or session
    they use), else the TCP peer's address. Behind a reverse proxy the peer is the proxy, so anonymous
    callers share one client there; forwarded headers are not trusted (anyone can send them)."""
    user = _caller(request)
    if user is not None:
        return f"user:{user.id}"
    return f"address:{request.client.host if request.client else 'unknown'}"


def error_response(exc: errors.SparqlError) -> Response:
    headers = {"WWW-Authenticate": 'Bearer realm="weblab"'} if exc.status == 401 else None
    if isinstance(exc, errors.TooManyRequests):
        headers = {"Retry-After": str(exc.retry_after)}
    return JSONResponse(
        {"error": {"code": exc.code, "message": exc.message}}, status_code=exc.status, headers=headers
    )


def _answer(answer: Answer, *, head: bool = False) -> Response:
    headers = {"Vary": "Accept"}
    if answer.truncated:
        headers["Weblab-Results-Truncated"] = "true"
    return Response(
        b"" if head else answer.body,
        status_code=answer.status,
        media_type=answer.content_type,
        headers=headers,
    )


# --- reading the protocol's three request shapes -----------------------------------------------


def _media_type(request: Request) -> tuple[str, dict[str, str]]:
    raw = request.headers.get("content-type", "")
    parts = [p.strip() for p in raw.split(";")]
    params = {}
    for p in parts[1:]:
        key, _, value = p.partition("=")
        params[key.strip().lower()] = value.strip().strip('"')
    return parts[0].lower(), params


def _utf8(body: bytes, params: dict[str, str]) -> str:
    charset = params.get("charset", "utf-8").lower()
    if charset not in ("utf-8", "utf8"):
        raise errors.UnsupportedMediaType(f"the body must be UTF-8, not {charset}")
    try:
        return body.decode("utf-8")
    except UnicodeDecodeError as exc:
        raise errors.BadRequest(f"the body is not valid UTF-8 (byte {exc.start})") from None


def _one(params: list[tuple[str, str]], name: str) -> str | None:
    values = [v for k, v in params if k == name]
    if len(values) > 1:
        raise errors.BadRequest(f"the request has {len(values)} '{name}' parameters; send exactly one")
    return values[0] if values else None


def _all(params: list[tuple[str, str]], name: str) -> list[str]:
    return [v for k, v in params if k == name]


async def _limited_body(request: Request, limit: int) -> bytes:
    declared = request.headers.get("content-length", "")
    if declared.isdigit() and int(declared) > limit:
        raise errors.PayloadTooLarge(f"the request body is larger than the {limit} bytes allowed")
    chunks, size = [], 0
    async for chunk in request.stream():
        size += len(chunk)
        if size > limit:
            raise errors.PayloadTooLarge(f"the request body is larger than the {limit} bytes allowed")
        chunks.append(chunk)
    return b"".join(chunks)


async def _operation(request: Request, limit: int) -> tuple[str | None, str | None, list[tuple[str, str]]]:
    """(query, update, all parameters) from a GET or POST, following the SPARQL 1.1 Protocol."""
    # The raw query string, as Starlette's request.url.query gives it, without building the whole URL.
    url_params = parse_qsl(request.scope.get("query_string", b"").decode("latin-1"), keep_blank_values=True)
    if request.method in ("GET", "HEAD"):
        return _one(url_params, "query"), _one(url_params, "update"), url_params
    media, params = _media_type(request)
    body = await _limited_body(request, limit)
    if media == _FORM:
        form = parse_qsl(_utf8(body, params), keep_blank_values=True)
        every = url_params + form
        return _one(form, "query"), _one(form, "update"), every
    if media == _QUERY:
        return _utf8(body, params), None, url_params
    if media == _UPDATE:
        return None, _utf8(body, params), url_params
    if not media:
        raise errors.UnsupportedMediaType(
            f"a POST to /sparql needs a Content-Type: {_QUERY}, {_UPDATE} or {_FORM}"
        )
    raise errors.UnsupportedMediaType(f"a POST to /sparql takes {_QUERY}, {_UPDATE} or {_FORM}, not {media}")


# --- /sparql -----------------------------------------------------------------------------------


async def endpoint(request: Request) -> Response:
    service = sparql_service(request)
    try:
        query, update, params = await _operation(request, service.max_body_bytes)
        if query is not None and update is not None:
            raise errors.BadRequest("send either 'query' or 'update', not both")
        if update is not None:
            if request.method != "POST":
                raise errors.BadRequest("updates must be sent with POST (SPARQL 1.1 Protocol §2.2)")
            await service.update(
                update,
                _caller(request),
                using=_all(params, "using-graph-uri"),
                using_named=_all(params, "using-named-graph-uri"),
            )
            return Response(status_code=204)
        if query is None:
            return await _describe_service(request, service)
        answer = await service.query(
            query,
            _caller(request),
            default_graph_uris=_all(params, "default-graph-uri"),
            named_graph_uris=_all(params, "named-graph-uri"),
            accept=request.headers.get("accept"),
            format=_one(params, "format"),
            client=_client(request),
        )
        return _answer(answer, head=request.method == "HEAD")
    except errors.SparqlError as exc:
        return error_response(exc)


async def _describe_service(request: Request, service: SparqlService) -> Response:
    offered = (*formats.GRAPH_FORMATS, formats.HTML)
    try:
        fmt_param = request.query_params.get("format")
        fmt = (
            formats.by_parameter(fmt_param, offered)
            if fmt_param
            else formats.negotiate(request.headers.get("accept"), offered)
        )
    except formats.NotAcceptable as exc:
        return error_response(errors.NotAcceptable(str(exc)))
    if fmt is formats.HTML:
        return _templates.TemplateResponse(
            request,
            "sparql_editor.html",
            {
                "endpoint": service.endpoint,
                "default_query": "PREFIX dcterms: <http://purl.org/dc/terms/>\n"
                "SELECT ?thing ?title WHERE {\n  ?thing dcterms:title ?title\n} LIMIT 20",
            },
            headers={"Vary": "Accept"},
        )
    triples = description.service_description(service.endpoint, federation=bool(service.service_allow))
    body = formats.serialize_triples(triples, fmt, description.PREFIXES)
    return Response(body, media_type=formats.content_type(fmt), headers={"Vary": "Accept"})


# --- /sparql/graphs ----------------------------------------------------------------------------


def _graph_name(request: Request, service: SparqlService) -> tuple[str | None, bool]:
    """(graph IRI or None for the default graph, whether the request named the graph store itself)."""
    path = request.path_params.get("path")
    if path:
        # The graph's IRI is the request's URL; a character an IRI may not hold (a space) stays percent-encoded.
        for iri in (f"{service.graph_store}/{path}", f"{service.graph_store}/{quote(path, safe='/')}"):
            try:
                return ox.NamedNode(iri).value, False
            except ValueError:
                continue
        raise errors.BadRequest(f"the graph's URL is not a valid IRI: {path!r}")
    params = parse_qsl(request.url.query, keep_blank_values=True)
    graph = _one(params, "graph")
    default = any(k == "default" for k, _ in params)
    if graph is not None and default:
        raise errors.BadRequest("name either ?graph=IRI or ?default, not both")
    if graph is not None:
        try:
            return ox.NamedNode(graph).value, False
        except ValueError:
            raise errors.BadRequest(f"graph is not a valid absolute IRI: {graph!r}") from None
    if default:
        return None, False
    return None, True


async def _body_triples(request: Request, service: SparqlService, graph: str | None) -> list[ox.Triple]:
    media, _ = _media_type(request)
    if media == "multipart/form-data":
        form = await request.form(max_part_size=service.max_body_bytes)
        triples: list[ox.Triple] = []
        for _, part in form.multi_items():
            if isinstance(part, str):
                continue
            data = await part.read()
            triples += service.parse_body(data, part.content_type, graph)
        return triples
    body = await _limited_body(request, service.max_body_bytes)
    return service.parse_body(body, request.headers.get("content-type"), graph)


async def graph_store(request: Request) -> Response:
    service = sparql_service(request)
    caller = _caller(request)
    try:
        graph, store_itself = _graph_name(request, service)
        method = request.method
        if method in ("GET", "HEAD"):
            if store_itself:
                raise errors.BadRequest("name a graph: ?graph=IRI or ?default")
            answer = await service.graph_read(
                caller, graph, accept=request.headers.get("accept"), format=request.query_params.get("format")
            )
            return _answer(answer, head=method == "HEAD")
        if method == "PUT":
            if store_itself:
                raise errors.BadRequest("name a graph to replace: ?graph=IRI or ?default")
            service.require_admin(caller)
            created = await service.graph_put(caller, graph, await _body_triples(request, service, graph))
            return Response(status_code=201 if created else 204)
        if method == "POST":
            service.require_admin(caller)
            if store_itself:
                new = await service.graph_create(caller, await _body_triples(request, service, None))
                return Response(status_code=201, headers={"Location": new})
            created = await service.graph_post(caller, graph, await _body_triples(request, service, graph))
            return Response(status_code=201 if created else 204)
        if method == "DELETE":
            if store_itself:
                raise errors.BadRequest("name a graph to delete: ?graph=IRI or ?default")
            await service.graph_delete(caller, graph)
            return Response(status_code=204)
        raise errors.BadRequest(f"the Graph Store does not support {method}")  # pragma: no cover - routing
    except errors.SparqlError as exc:
        return error_response(exc)


# --- dataset description, context, dump --------------------------------------------------------


async def _public_scope(service: SparqlService) -> list[str]:
    """Graphs an anonymous caller may read, named ones only (the dump and the counts cover these)."""
    scope = await service.visible_to(None)
    return sorted(scope.named)


async def void(request: Request) -> Response:
    service = sparql_service(request)
    base = service.base_uri
    graphs = await _public_scope(service)
    count = await service.query(
        "SELECT (COUNT(*) AS ?n) WHERE { GRAPH ?g { ?s ?p ?o } }", None, format="json"
    )
    triples = int(json.loads(count.body)["results"]["bindings"][0]["n"]["value"])
    examples_answer = await service.query(
        "PREFIX weblab: <https://w3id.org/weblab/ns#>\nSELECT DISTINCT ?s WHERE { GRAPH ?g { ?s a ?c } "
        "FILTER(STRSTARTS(STR(?s), STR(?base))) } LIMIT 5".replace("?base", f'"{base}"'),
        None,
        format="json",
    )
    examples = [b["s"]["value"] for b in json.loads(examples_answer.body)["results"]["bindings"]]
    classes_answer = await service.query(
        "SELECT ?c (COUNT(DISTINCT ?s) AS ?n) WHERE { GRAPH ?g { ?s a ?c } } GROUP BY ?c ORDER BY DESC(?n) LIMIT 50",
        None,
        format="json",
    )
    classes = [
        (b["c"]["value"], int(b["n"]["value"]))
        for b in json.loads(classes_answer.body)["results"]["bindings"]
        if b.get("c", {}).get("type") == "uri"
    ]
    triples_out = description.void_description(
        base,
        endpoint=service.endpoint,
        dump=base + "dump/public.nq.gz",
        context=base + "ns/context.jsonld",
        triples=triples,
        graphs=len(graphs),
        examples=examples,
        classes=classes,
    )
    offered = (formats.TURTLE, formats.JSONLD, formats.NTRIPLES, formats.RDFXML)
    try:
        fmt_param = request.query_params.get("format")
        fmt = (
            formats.by_parameter(fmt_param, offered)
            if fmt_param
            else formats.negotiate(request.headers.get("accept"), offered)
        )
    except formats.NotAcceptable as exc:
        return error_response(errors.NotAcceptable(str(exc)))
    body = formats.serialize_triples(triples_out, fmt, description.PREFIXES)
    return Response(body, media_type=formats.content_type(fmt), headers={"Vary": "Accept"})


async def context(request: Request) -> Response:
    return JSONResponse(
        description.jsonld_context(),
        media_type="application/ld+json",
        headers={"Cache-Control": "public, max-age=86400", "Access-Control-Allow-Origin": "*"},
    )


async def dump(request: Request) -> Response:
    """Every public named graph as gzipped N-Quads, streamed graph by graph."""
    service = sparql_service(request)
    graphs = await _public_scope(service)
    store = service.store

    async def chunks() -> AsyncIterator[bytes]:
        compressor = zlib.compressobj(6, zlib.DEFLATED, 31)  # 31: gzip container
        for name in graphs:
            node = ox.NamedNode(name)
            triples = await asyncio.to_thread(lambda n=node: list(store.triples(n)))
            quads = [ox.Quad(t.subject, t.predicate, t.object, node) for t in triples]
            data = formats.serialize_quads(quads, formats.NQUADS)
            piece = compressor.compress(data)
            if piece:
                yield piece
        yield compressor.flush()

    return StreamingResponse(
        chunks(),
        media_type="application/gzip",
        headers={
            "Content-Disposition": 'attachment; filename="weblab-public.nq.gz"',
        },
    )


def routes() -> list[BaseRoute]:
    methods = ["GET", "HEAD", "PUT", "POST", "DELETE"]
    return [
        Route("/sparql", endpoint, methods=["GET", "HEAD", "POST"]),
        Route("/sparql/graphs", graph_store, methods=methods),
        Route("/sparql/graphs/{path:path}", graph_store, methods=methods),
        Route("/.well-known/void", void, methods=["GET", "HEAD"]),
        Route("/ns/context.jsonld", context, methods=["GET", "HEAD"]),
        Route("/dump/public.nq.gz", dump, methods=["GET"]),
        # The editor's own files, so the page needs no CDN (also reachable if /static is mounted).
        Mount("/static/vendor/yasgui", StaticFiles(directory=str(_VENDOR / "yasgui")), name="yasgui"),
    ]
